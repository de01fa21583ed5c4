// Package server is Slipway's HTTP API, built on Echo v4. Every Echo type
// stays inside this package, so moving to another router is this package's
// work alone.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/slipwayci/slipway/job"
)

// JobStore is what the API needs of the job store.
type JobStore interface {
	job.ProjectFinder
	Submit(ctx context.Context, sub job.Submission) (job.Submitted, error)
	Job(ctx context.Context, id string) (*job.Job, error)
	Callbacks(ctx context.Context, jobID string) ([]job.CallbackDelivery, error)
	Log(ctx context.Context, id string, since int) (string, error)
	LogLines(ctx context.Context, id string, since, limit int) ([]job.LogLine, error)
	Cancel(ctx context.Context, id string) (*job.Job, error)
	Retry(ctx context.Context, id string) (*job.Job, error)
	ListJobs(ctx context.Context, q job.ListQuery) ([]*job.Job, error)
	Stats(ctx context.Context) (*job.Stats, error)

	PutProject(ctx context.Context, p job.Project) (bool, error)
	Project(ctx context.Context, name string) (*job.Project, error)
	Projects(ctx context.Context) ([]job.Project, error)
	DeleteProject(ctx context.Context, name string) error
}

// Config tunes the API.
type Config struct {
	Policy       job.Policy // validation settings for build requests
	MaxBodyBytes int64      // largest accepted request body, but for webhooks
	// MaxHookBodyBytes is the largest webhook body: CI systems send more
	// than the native request (changes, culprits, parameters).
	MaxHookBodyBytes int64
	// MaxLogFollowers caps the live log streams served at once (0: no cap);
	// each holds a connection and polls the database.
	MaxLogFollowers int
	// MaxLogFollowersPerCaller caps the streams of one credential (or one
	// address without one); 0: no cap.
	MaxLogFollowersPerCaller int
	Supersede                bool       // a new job cancels older queued ones for its ref and image
	Hooks                    HookConfig // webhook secrets and deduplication
	RateLimit                float64    // requests per second per caller (credential or source address); 0: unlimited
	RateBurst                int        // requests a caller may make at once above RateLimit

	Metrics        Metrics      // measurements of the API; nil measures nothing
	MetricsHandler http.Handler // serves GET /metrics; nil leaves the route out
	MetricsToken   string       // bearer token /metrics asks for; empty: open
	Ready          []Check      // what GET /readyz checks

	AdminToken      string        // bootstrap admin bearer token; empty for none
	PublicReads     bool          // serve reads without a token
	CORSOrigins     []string      // browser origins allowed to call the API, exactly
	LogPollInterval time.Duration // how often log followers look for new lines
}

// Option adds an optional part to the Server.
type Option func(*Server)

// Server serves the API.
type Server struct {
	cfg        Config
	jobs       JobStore
	rules      job.IntakeRules // what a delivery becomes
	tokens     TokenStore
	adminHash  []byte
	ownAuth    map[string]bool // "METHOD route" of routes that check credentials themselves
	log        *slog.Logger
	echo       *echo.Echo
	metrics    Metrics
	followers  chan struct{} // one slot per live log stream; nil: no cap
	jobViews   *JobCache     // nil: every job read goes to the store
	stats      StatsStore    // nil: no history or per-image statistics
	deliveries DeliveryLog   // nil: deliveries are not recorded
	ready      readyCache    // the last /readyz answer
	limits     *rateLimits   // nil: no rate limit
	// callerFollows counts each caller's live log streams.
	callerFollows *callerSlots
}

// New returns a Server backed by jobs, authenticating with tokens.
func New(cfg Config, jobs JobStore, tokens TokenStore, log *slog.Logger, opts ...Option) *Server {
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = 500 * time.Millisecond
	}
	s := &Server{cfg: cfg, jobs: jobs, tokens: tokens,
		rules: job.IntakeRules{Policy: cfg.Policy, Dedupe: cfg.Hooks.Dedupe, Supersede: cfg.Supersede}, ownAuth: map[string]bool{}, log: log, echo: echo.New(), metrics: cfg.Metrics}
	if cfg.AdminToken != "" {
		s.adminHash = job.HashToken(cfg.AdminToken)
	}
	if s.metrics == nil {
		s.metrics = nopMetrics{}
	}
	s.limits = newRateLimits(cfg.RateLimit, cfg.RateBurst)
	s.callerFollows = &callerSlots{max: cfg.MaxLogFollowersPerCaller, n: map[string]int{}}
	if cfg.MaxLogFollowers > 0 {
		s.followers = make(chan struct{}, cfg.MaxLogFollowers)
	}
	for _, o := range opts {
		o(s)
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Use(s.requestID())
	// Measured outside Recover, so a handler's panic counts as the 500 it is.
	s.echo.Use(s.measureRequests())
	s.echo.Use(middleware.Recover())
	s.echo.Use(s.requestLogger())
	s.echo.Use(s.rateLimit())
	if len(cfg.CORSOrigins) > 0 {
		s.echo.Use(s.cors())
	}
	// At the root rather than on the group, so that unknown /api/v1 routes
	// and methods still get their 404 and 405 (after authentication).
	s.echo.Use(s.requireAuth)
	s.routes()
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) requestLogger() echo.MiddlewareFunc {
	if !s.log.Enabled(context.Background(), slog.LevelInfo) {
		// Nothing would be logged: skip measuring it too. Errors then reach
		// the error handler a step later, unchanged.
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError: true,
		LogMethod:   true,
		LogURIPath:  true,
		LogStatus:   true,
		LogLatency:  true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			// The path only: query strings may carry what should not be logged.
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request_id", requestIDOf(c)), slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency))
			return nil
		},
	})
}

// bodyLimit is the largest body the request's endpoint accepts.
func (s *Server) bodyLimit(c echo.Context) int64 {
	if strings.HasPrefix(c.Path(), "/api/v1/hooks/") && s.cfg.MaxHookBodyBytes > 0 {
		return s.cfg.MaxHookBodyBytes
	}
	return s.cfg.MaxBodyBytes
}
