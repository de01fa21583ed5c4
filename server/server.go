// Package server is Slipway's HTTP API, built on Echo v4. Every Echo type
// stays inside this package, so moving to another router is this package's
// work alone.
package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/slipwayci/slipway/job"
)

// JobStore is what the API needs of the job store.
type JobStore interface {
	CreateJob(ctx context.Context, spec job.Spec) (*job.Job, error)
	Job(ctx context.Context, id string) (*job.Job, error)
	Log(ctx context.Context, id string, since int) (string, error)
	Cancel(ctx context.Context, id string) (*job.Job, error)
	Retry(ctx context.Context, id string) (*job.Job, error)
	Supersede(ctx context.Context, newer *job.Job) (int, error)
}

// Config tunes the API.
type Config struct {
	Policy       job.Policy // validation settings for build requests
	MaxBodyBytes int64      // largest accepted request body
	Supersede    bool       // a new job cancels older queued ones for its ref and image
	Hooks        HookConfig // webhook secrets and deduplication
	RateLimit    float64    // requests per second per caller (credential or source address); 0: unlimited
	RateBurst    int        // requests a caller may make at once above RateLimit
}

// Server serves the API.
type Server struct {
	cfg    Config
	jobs   JobStore
	intake IntakeStore
	log    *slog.Logger
	echo   *echo.Echo
}

// New returns a Server backed by jobs.
func New(cfg Config, jobs JobStore, log *slog.Logger, opts ...Option) *Server {
	s := &Server{cfg: cfg, jobs: jobs, log: log, echo: echo.New()}
	for _, o := range opts {
		o(s)
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Use(middleware.Recover())
	s.echo.Use(s.requestLogger())
	s.echo.Use(s.rateLimit())
	s.routes()
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError: true,
		LogMethod:   true,
		LogURIPath:  true,
		LogStatus:   true,
		LogLatency:  true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The path only: query strings may carry what should not be logged.
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency))
			return nil
		},
	})
}
