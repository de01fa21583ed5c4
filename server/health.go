package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Check is one condition of readiness: Run returns nil when it holds, or an
// error whose text operators may read (it is shown on /readyz, so it must
// name the problem without quoting configuration).
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// checkTimeout bounds each readiness check: a database that hangs must turn
// the probe red, not stall it past the orchestrator's own timeout.
const checkTimeout = 3 * time.Second

// healthz answers while the process can serve requests at all.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Failed []string          `json:"failed,omitempty"`
	Checks map[string]string `json:"checks"`
}

// readyCacheTTL is how long a readiness answer is reused: probes and
// anyone reaching the port may ask as often as they like, and each fresh
// answer queries Postgres and pings Docker.
const readyCacheTTL = 2 * time.Second

// readyCache holds the last readiness answer; its mutex also makes
// concurrent probes share one run of the checks.
type readyCache struct {
	mu     sync.Mutex
	at     time.Time
	answer readiness
}

// readyz answers 200 when every check passes and 503 naming the failing
// checks otherwise, so a load balancer sends no traffic to an instance that
// cannot reach its database. Answers are reused for readyCacheTTL.
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	r := s.readiness(ctx)
	if len(r.Failed) > 0 {
		s.log.WarnContext(ctx, "not ready", "request_id", requestIDOf(c), "failed", r.Failed)
		return c.JSON(http.StatusServiceUnavailable, r)
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) readiness(ctx context.Context) readiness {
	rc := &s.ready
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.at.IsZero() && time.Since(rc.at) < readyCacheTTL {
		return rc.answer
	}
	// The answer is shared: a caller that leaves must not make it a failure.
	ctx = context.WithoutCancel(ctx)
	r := readiness{Status: "ready", Checks: make(map[string]string, len(s.cfg.Ready))}
	for _, chk := range s.cfg.Ready {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := chk.Run(cctx)
		cancel()
		if err != nil {
			r.Failed = append(r.Failed, chk.Name)
			r.Checks[chk.Name] = err.Error()
			continue
		}
		r.Checks[chk.Name] = "ok"
	}
	if len(r.Failed) > 0 {
		r.Status = "unavailable"
	}
	rc.answer, rc.at = r, time.Now()
	return r
}
