package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per caller: per credential when the request
// carries one (so callers behind one NAT do not share a budget), per source
// address otherwise (hooks, anonymous reads).
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// sweepAbove is the number of callers above which idle buckets are dropped.
const sweepAbove = 4096

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= sweepAbove {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle long enough to have refilled: a new bucket is
// the same as theirs.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}

// callerKey names who a request counts against. The credential is hashed so
// the map never holds a secret.
func callerKey(r *http.Request) string {
	if a := r.Header.Get(echo.HeaderAuthorization); a != "" {
		sum := sha256.Sum256([]byte(a))
		return "cred:" + hex.EncodeToString(sum[:16])
	}
	// RemoteAddr, not X-Forwarded-For: a client can write any header.
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// rateLimit answers 429 with Retry-After once a caller exceeds its budget.
// Health probes are never limited.
func (s *Server) rateLimit() echo.MiddlewareFunc {
	if s.cfg.RateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	l := newLimiter(s.cfg.RateLimit, s.cfg.RateBurst)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return next(c)
			}
			ok, wait := l.allow(callerKey(c.Request()), time.Now())
			if ok {
				return next(c)
			}
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return &requestError{status: http.StatusTooManyRequests,
				detail: fmt.Sprintf("Too many requests: the limit is %g per second (burst %d). Retry after %d s.", s.cfg.RateLimit, l.burst, secs)}
		}
	}
}
