package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/metrics"
	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/server"
)

// minAdminTokenLen keeps a guessable bootstrap token out: 32 characters of a
// random string are well beyond guessing.
const minAdminTokenLen = 32

// apiConfig holds the settings of the HTTP API: who may call it, and how
// much it serves at once.
type apiConfig struct {
	AdminToken      string
	MetricsToken    string
	PublicReads     bool
	CORSOrigins     []string
	LogPollInterval time.Duration

	MaxHookBodyBytes         int
	MaxLogFollowers          int
	MaxLogFollowersPerCaller int
	JobCacheSize             int

	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
}

func (c *apiConfig) register(s *settings) {
	s.Secret(&c.AdminToken, "", "SLIPWAY_ADMIN_TOKEN", "bootstrap admin API token (at least 32 characters; environment only, so it stays out of process listings)")
	s.Secret(&c.MetricsToken, "", "SLIPWAY_METRICS_TOKEN", "bearer token GET /metrics asks for (environment only; unset: /metrics is open)")
	s.Bool(&c.PublicReads, "public-reads", "SLIPWAY_PUBLIC_READS", false, "serve job, log and stats reads without a token")
	s.List(&c.CORSOrigins, "cors-origins", "SLIPWAY_CORS_ORIGINS", "", "browser origins allowed to call the API, exactly as sent (https://ci.example.com)")
	s.Duration(&c.LogPollInterval, "log-poll-interval", "SLIPWAY_LOG_POLL_INTERVAL", 500*time.Millisecond, "how often live log streams look for new lines")
	s.Int(&c.MaxHookBodyBytes, "max-hook-body-bytes", "SLIPWAY_MAX_HOOK_BODY_BYTES", 4<<20, "largest accepted webhook body (Jenkins and Bamboo payloads)")
	s.Int(&c.MaxLogFollowers, "max-log-followers", "SLIPWAY_MAX_LOG_FOLLOWERS", 200, "live log streams served at once; more get 429 (0: no cap)")
	s.Duration(&c.ReadTimeout, "http-read-timeout", "SLIPWAY_HTTP_READ_TIMEOUT", 30*time.Second, "longest time to read a request, body included (0: no limit)")
	s.Duration(&c.WriteTimeout, "http-write-timeout", "SLIPWAY_HTTP_WRITE_TIMEOUT", 2*time.Minute, "longest time to answer a request; live log streams extend it for each write (0: no limit)")
	s.Duration(&c.IdleTimeout, "http-idle-timeout", "SLIPWAY_HTTP_IDLE_TIMEOUT", 2*time.Minute, "how long an idle keep-alive connection stays open (0: no limit)")
	s.Int(&c.MaxLogFollowersPerCaller, "max-log-followers-per-caller", "SLIPWAY_MAX_LOG_FOLLOWERS_PER_CALLER", 20, "live log streams one credential (or one address without one) may hold at once; more get 429 (0: no cap)")
	s.Int(&c.JobCacheSize, "job-cache-size", "SLIPWAY_JOB_CACHE_SIZE", 1000, "job views kept in memory for GET /api/v1/jobs/{id}, refreshed by database notifications (0: read every time)")
}

func (c *apiConfig) validate() []error {
	var errs []error
	if c.AdminToken != "" && len(c.AdminToken) < minAdminTokenLen {
		errs = append(errs, fmt.Errorf("SLIPWAY_ADMIN_TOKEN is too short: use at least %d random characters", minAdminTokenLen))
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("SLIPWAY_CORS_ORIGINS: %q is not an origin such as https://ci.example.com", o))
		}
	}
	if c.JobCacheSize < 0 {
		errs = append(errs, errors.New("SLIPWAY_JOB_CACHE_SIZE must be 0 or more"))
	}
	if c.MaxLogFollowersPerCaller < 0 {
		errs = append(errs, errors.New("SLIPWAY_MAX_LOG_FOLLOWERS_PER_CALLER must be 0 or more"))
	}
	for env, d := range map[string]time.Duration{"SLIPWAY_HTTP_READ_TIMEOUT": c.ReadTimeout,
		"SLIPWAY_HTTP_WRITE_TIMEOUT": c.WriteTimeout, "SLIPWAY_HTTP_IDLE_TIMEOUT": c.IdleTimeout} {
		if d < 0 {
			errs = append(errs, errors.New(env+" must be 0 or more"))
		}
	}
	return errs
}

// tokenStore says whether any API token is stored.
type tokenStore interface {
	HasActiveTokens(ctx context.Context) (bool, error)
}

// checkCanAuthenticate refuses to serve an API nobody could use: without a
// bootstrap token or a stored one, every guarded endpoint would answer 401.
func checkCanAuthenticate(ctx context.Context, adminToken string, store tokenStore) error {
	if adminToken != "" {
		return nil
	}
	ok, err := store.HasActiveTokens(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("no way to authenticate: set SLIPWAY_ADMIN_TOKEN or create a token with `slipway token create --scope admin`")
	}
	return nil
}

// startAPI starts the HTTP API and its callback deliverer in g; they stop
// when ctx ends. workerReady, when this process also builds, joins the
// readiness checks; ready, when given, receives the API's address.
func startAPI(ctx context.Context, g *errgroup.Group, b Build, cfg *config, store *db.DB, m *metrics.Registry,
	workerReady func(context.Context) error, log *slog.Logger, ready func(addr string)) error {
	if err := checkCanAuthenticate(ctx, cfg.AdminToken, store); err != nil {
		return err
	}
	if cfg.Hooks.ProjectsFile != "" {
		if err := storeProjects(ctx, cfg.Hooks.ProjectsFile, cfg.projects, store, log); err != nil {
			return err
		}
	}
	callbacks, err := cfg.Hooks.deliverer(store, m, log, cfg.callbackPolicy().Transport())
	if err != nil {
		return err
	}
	g.Go(func() error { return callbacks.Run(ctx) })
	deliveries := db.NewDeliveryLog(store, job.DeliveryRetention{MaxAge: cfg.Hooks.DeliveryRetention, MaxRows: cfg.Hooks.DeliveryMaxRows})
	opts := []server.Option{server.WithStats(store), server.WithDeliveries(deliveries)}
	if cfg.JobCacheSize > 0 {
		cache, err := watchedJobCache(ctx, g, store, cfg.JobCacheSize)
		if err != nil {
			return err
		}
		opts = append(opts, server.WithJobCache(cache))
	}
	api := server.New(server.Config{
		Policy:         cfg.policy(),
		MaxBodyBytes:   int64(cfg.MaxBodyBytes),
		Supersede:      cfg.Supersede,
		Hooks:          cfg.Hooks.server(),
		Metrics:        m,
		MetricsHandler: m.Handler(),
		MetricsToken:   cfg.MetricsToken,
		Ready:          readinessChecks(store, workerReady, log),

		AdminToken:      cfg.AdminToken,
		PublicReads:     cfg.PublicReads,
		CORSOrigins:     cfg.CORSOrigins,
		LogPollInterval: cfg.LogPollInterval,

		MaxHookBodyBytes:         int64(cfg.MaxHookBodyBytes),
		MaxLogFollowers:          cfg.MaxLogFollowers,
		MaxLogFollowersPerCaller: cfg.MaxLogFollowersPerCaller,

		RateLimit: float64(cfg.RateLimit),
		RateBurst: cfg.RateBurst,
	}, store, store, log, opts...)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := cfg.httpServer(api)
	log.InfoContext(ctx, "slipway started", "version", b.Version, "commit", b.Commit, "addr", ln.Addr().String(), "workers", cfg.Workers)
	if ready != nil {
		ready(ln.Addr().String())
	}
	g.Go(func() error {
		if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := httpSrv.Shutdown(shutdownCtx)
		deliveries.Flush() // the last answers' records
		return err
	})
	return nil
}

// httpServer bounds how long a connection may be held: a slow body, a slow
// reader of an answer and an idle keep-alive each end at their timeout.
// Live log streams extend their own deadlines (server/logs_follow.go).
func (c *apiConfig) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout}
}

// watchedJobCache returns a cache of size job views that store's change
// feed, run in g until ctx ends, keeps fresh.
func watchedJobCache(ctx context.Context, g *errgroup.Group, store *db.DB, size int) (*server.JobCache, error) {
	cache, err := server.NewJobCache(size)
	if err != nil {
		return nil, err
	}
	g.Go(func() error {
		store.WatchJobs(ctx, cache)
		return nil
	})
	return cache, nil
}
