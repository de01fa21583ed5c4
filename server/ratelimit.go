package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key.
type limiter struct {
	rate  rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// Bucket map bounds: above sweepAbove, idle buckets are dropped, at most
// once per sweepEvery (a sweep reads the whole map under the lock); above
// maxBuckets, new keys share one overflow bucket, so no flood of new keys
// grows the map or escapes the limit.
const (
	sweepAbove  = 4096
	sweepEvery  = time.Second
	maxBuckets  = 65536
	overflowKey = "overflow"
)

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= sweepAbove && now.Sub(l.lastSweep) >= sweepEvery {
			l.sweep(now)
		}
		if len(l.buckets) >= maxBuckets-1 { // one place is the overflow bucket's
			key = overflowKey
			b = l.buckets[key]
		}
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
			l.buckets[key] = b
		}
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
	l.lastSweep = now
	full := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}

// rateLimits holds the API's budgets. A verified principal (an API token,
// the admin token, a webhook secret) has its own; everything unverified
// (no credential, a refused one, a public route) counts against its source
// address in a budget of its own, so invented credentials neither get fresh
// budgets nor exhaust the budget of valid ones sent from the same address.
type rateLimits struct {
	perSecond  float64
	principals *limiter
	unverified *limiter
}

func newRateLimits(perSecond float64, burst int) *rateLimits {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimits{perSecond: perSecond, principals: newLimiter(perSecond, burst), unverified: newLimiter(perSecond, burst)}
}

func (r *rateLimits) refuse(c echo.Context, wait time.Duration, burst int) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return &requestError{status: http.StatusTooManyRequests,
		detail: fmt.Sprintf("Too many requests: the limit is %g per second (burst %d). Retry after %d s.", r.perSecond, burst, secs)}
}

// verified takes a token from the budget of the principal that presented
// the request's credential. Nil limits allow everything.
func (r *rateLimits) verified(c echo.Context) error {
	if r == nil {
		return nil
	}
	key := credentialKey(c.Request())
	if key == "" {
		// Public reads carry no credential: they are the address's.
		return r.fromAddress(c)
	}
	if ok, wait := r.principals.allow(key, time.Now()); !ok {
		return r.refuse(c, wait, r.principals.burst)
	}
	return nil
}

// fromAddress takes a token from the unverified budget of the request's
// source address.
func (r *rateLimits) fromAddress(c echo.Context) error {
	if r == nil {
		return nil
	}
	if ok, wait := r.unverified.allow(sourceKey(c.Request()), time.Now()); !ok {
		return r.refuse(c, wait, r.unverified.burst)
	}
	return nil
}

// refused counts a refused credential against its address: over budget,
// the answer is 429 instead of the refusal.
func (r *rateLimits) refused(c echo.Context, refusal error) error {
	if err := r.fromAddress(c); err != nil {
		return err
	}
	return refusal
}

// credentialKey names a verified request's principal by its credential,
// hashed so the map never holds a secret; "" without one. Signed webhook
// deliveries carry no Authorization header: their principal is the signed
// endpoint's secret, named by the route.
func credentialKey(r *http.Request) string {
	if a := r.Header.Get(echo.HeaderAuthorization); a != "" {
		sum := sha256.Sum256([]byte(a))
		return "cred:" + hex.EncodeToString(sum[:16])
	}
	if r.Header.Get("X-Hub-Signature-256") != "" || r.Header.Get("webhook-signature") != "" {
		return "signed:" + r.URL.Path
	}
	return ""
}

// sourceKey names the address a request came from: RemoteAddr, not
// X-Forwarded-For, since a client can write any header. An IPv6 address
// counts as its /64, which one client usually holds whole.
func sourceKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + host
}

// rateLimit limits the requests that no credential check sees (the
// dashboard, the OpenAPI document, unknown paths, CORS preflights) by
// source address; guarded routes are limited where their credential is
// checked (requireAuth, tokenOr, secretAuth). Health probes and /metrics
// are never limited.
func (s *Server) rateLimit() echo.MiddlewareFunc {
	if s.limits == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return next(c)
			}
			if !s.guarded(c) {
				if err := s.limits.fromAddress(c); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// guarded reports whether a credential check will see the request.
func (s *Server) guarded(c echo.Context) bool {
	method, route := c.Request().Method, s.routeOf(c)
	if method == http.MethodOptions && len(s.cfg.CORSOrigins) > 0 {
		return false
	}
	_, ok := scopeFor(method, route)
	return ok || s.ownAuth[method+" "+route]
}
