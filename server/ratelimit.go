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
	return l.take(key, now, true)
}

// check says whether key has a token left, without taking it.
func (l *limiter) check(key string, now time.Time) (bool, time.Duration) {
	return l.take(key, now, false)
}

func (l *limiter) take(key string, now time.Time, keep bool) (bool, time.Duration) {
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
	d := r.DelayFrom(now)
	if d > 0 || !keep {
		r.CancelAt(now)
	}
	if d > 0 {
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
	return sourceKey(r)
}

// sourceKey names the address a request came from: RemoteAddr, not
// X-Forwarded-For, since a client can write any header.
func sourceKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// rateLimit answers 429 with Retry-After once a caller exceeds its budget.
// Health probes are never limited. A credential's budget is its own before
// it is checked, so each invented token would start with a full one:
// refused credentials therefore also count against their source address,
// and an address out of that budget is refused whatever it presents.
func (s *Server) rateLimit() echo.MiddlewareFunc {
	if s.cfg.RateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	l := newLimiter(s.cfg.RateLimit, s.cfg.RateBurst)
	refused := newLimiter(s.cfg.RateLimit, s.cfg.RateBurst)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return next(c)
			}
			now, src := time.Now(), sourceKey(c.Request())
			ok, wait := refused.check(src, now)
			if ok {
				ok, wait = l.allow(callerKey(c.Request()), now)
			}
			if !ok {
				secs := int(math.Ceil(wait.Seconds()))
				c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
				return &requestError{status: http.StatusTooManyRequests,
					detail: fmt.Sprintf("Too many requests: the limit is %g per second (burst %d). Retry after %d s.", s.cfg.RateLimit, l.burst, secs)}
			}
			err := next(c)
			if err != nil && problemFor(err).Status == http.StatusUnauthorized {
				refused.allow(src, now)
			}
			return err
		}
	}
}
