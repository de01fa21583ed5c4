package server

import (
	"context"
	"net/http"
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

// readyz answers 200 when every check passes and 503 naming the failing
// checks otherwise, so a load balancer sends no traffic to an instance that
// cannot reach its database.
func (s *Server) readyz(c echo.Context) error {
	r := readiness{Status: "ready", Checks: make(map[string]string, len(s.cfg.Ready))}
	for _, chk := range s.cfg.Ready {
		ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeout)
		err := chk.Run(ctx)
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
		s.log.WarnContext(c.Request().Context(), "not ready", "request_id", requestIDOf(c), "failed", r.Failed)
		return c.JSON(http.StatusServiceUnavailable, r)
	}
	return c.JSON(http.StatusOK, r)
}
