package server

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics receives the API's measurements. internal/app plugs in the
// Prometheus adapter; the server never imports a metrics library.
type Metrics interface {
	// ObserveRequest records one answered request by route pattern (never
	// the raw path, which would make one series per job id) and status.
	ObserveRequest(method, route string, code int, d time.Duration)
	// WebhookReceived counts a build request by trigger source and outcome
	// (accepted, rejected, error).
	WebhookReceived(source, outcome string)
}

type nopMetrics struct{}

func (nopMetrics) ObserveRequest(string, string, int, time.Duration) {}
func (nopMetrics) WebhookReceived(string, string)                    {}

// unmatchedRoute labels requests no route matched, so scanners probing
// random paths cannot create series.
const unmatchedRoute = "unmatched"

func (s *Server) measureRequests() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			code := c.Response().Status
			if err != nil {
				// The error handler runs after the middleware chain; the
				// status it will write is the one problemFor picks.
				code = problemFor(err).Status
			}
			route := c.Path()
			if route == "" {
				route = unmatchedRoute
			}
			s.metrics.ObserveRequest(c.Request().Method, route, code, time.Since(start))
			return err
		}
	}
}

// countWebhook counts the build requests a route receives from source.
func (s *Server) countWebhook(source string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			code := c.Response().Status
			if err != nil {
				code = problemFor(err).Status
			}
			s.metrics.WebhookReceived(source, webhookOutcome(code))
			return err
		}
	}
}

func webhookOutcome(code int) string {
	switch {
	case code >= 500:
		return "error"
	case code >= 400:
		return "rejected"
	}
	return "accepted"
}

// metricsHandler serves the scrape endpoint the adapter provides, to
// holders of the metrics token when one is set.
func (s *Server) metricsHandler(c echo.Context) error {
	if s.cfg.MetricsToken != "" {
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, _ := strings.Cut(auth, " ")
		if auth == "" {
			return errNoToken
		}
		if !strings.EqualFold(scheme, "Bearer") || !bearerMatches([]string{s.cfg.MetricsToken}, strings.TrimSpace(token)) {
			return errBadToken
		}
	}
	s.cfg.MetricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
