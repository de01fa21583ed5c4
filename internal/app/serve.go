package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/metrics"
	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/server"
)

// serveConfig holds every setting of `slipway serve` (and `slipway dev`).
type serveConfig struct {
	DatabaseURL  string
	Listen       string
	Workers      int
	Migrate      bool
	DockerHost   string
	DockerConfig string
	GitProtocols []string
	GitPath      string
	PollInterval time.Duration
	Lease        time.Duration
	WorkDir      string
	MaxBodyBytes int
	LogFormat    string
	LogLevel     string
	queueConfig
	Hooks hookConfig
	// BuildNetworks are the networks jobs may ask RUN steps to use besides
	// the default bridge.
	BuildNetworks []string
	securityConfig
	// workerOnly is set by `slipway worker`: no API.
	workerOnly bool

	AdminToken      string
	PublicReads     bool
	CORSOrigins     []string
	LogPollInterval time.Duration

	MaxHookBodyBytes int
	MaxLogFollowers  int
	JobCacheSize     int
}

func (c *serveConfig) register(s *settings, getenv func(string) string, listen string) {
	// A secret: the URL usually carries the password, which --help must not echo.
	s.Secret(&c.DatabaseURL, "database-url", "SLIPWAY_DATABASE_URL", "Postgres connection URL (postgres://user:pass@host:5432/db)")
	s.String(&c.Listen, "listen", "SLIPWAY_LISTEN", listen, "address the HTTP API listens on")
	s.Int(&c.Workers, "workers", "SLIPWAY_WORKERS", 2, "builds run at once by this process (0: API only)")
	s.Bool(&c.Migrate, "migrate", "SLIPWAY_MIGRATE", true, "apply database migrations on start")
	s.String(&c.DockerHost, "docker-host", "DOCKER_HOST", "", "Docker daemon address (default: the local socket)")
	s.String(&c.DockerConfig, "docker-config", "SLIPWAY_DOCKER_CONFIG", defaultDockerConfig(getenv), "Docker config.json with registry credentials (anonymous when absent)")
	s.List(&c.GitProtocols, "git-protocols", "SLIPWAY_GIT_PROTOCOLS", "https", "URL schemes git may fetch from (https, http, ssh, file)")
	s.String(&c.GitPath, "git", "SLIPWAY_GIT", "git", "the git executable")
	s.Duration(&c.PollInterval, "poll-interval", "SLIPWAY_POLL_INTERVAL", time.Second, "how often idle workers look for jobs")
	s.Duration(&c.Lease, "lease", "SLIPWAY_LEASE", 30*time.Second, "how long a worker's claim on a job lasts without renewal")
	s.String(&c.WorkDir, "work-dir", "SLIPWAY_WORK_DIR", "", "directory for checkouts (default: the system temp directory)")
	s.Int(&c.MaxBodyBytes, "max-body-bytes", "SLIPWAY_MAX_BODY_BYTES", 1<<20, "largest accepted request body")
	s.String(&c.LogFormat, "log-format", "SLIPWAY_LOG_FORMAT", "auto", "log format: json, text, or auto (text on a terminal)")
	s.String(&c.LogLevel, "log-level", "SLIPWAY_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	s.List(&c.BuildNetworks, "build-networks", "SLIPWAY_BUILD_NETWORKS", "", "networks a job may ask its RUN steps to use besides the default bridge (host, or a Docker network name)")
	c.queueConfig.register(s)
	c.Hooks.register(s)
	c.registerAPI(s)
	c.securityConfig.register(s)
}

func defaultDockerConfig(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".docker", "config.json")
	}
	return ""
}

func serve(ctx context.Context, b Build, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	s := newSettings("serve", getenv, stderr)
	cfg.register(s, getenv, ":8080")
	if err := s.Parse(args); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("no database: set SLIPWAY_DATABASE_URL or --database-url")
	}
	return runService(ctx, b, cfg, stdout, stderr, nil)
}

// runService opens the database, migrates, and runs the API and workers until
// ctx ends or a signal arrives. ready, when given, receives the API's address.
func runService(ctx context.Context, b Build, cfg serveConfig, stdout, stderr io.Writer, ready func(addr string)) error {
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	if cfg.Workers < 0 {
		return errors.New("workers must be 0 or more")
	}
	if cfg.workerOnly && cfg.Workers == 0 {
		return errors.New("slipway worker needs workers > 0")
	}
	if err := cfg.queueConfig.validate(cfg.Lease); err != nil {
		return err
	}
	if err := cfg.securityConfig.check(); err != nil {
		return err
	}
	log = slog.New(redact.NewHandler(log.Handler(), cfg.secrets()))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := db.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if cfg.Migrate {
		if _, err := store.Migrate(ctx); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	m := metrics.New(store, log)
	var w *builder.Worker
	if cfg.Workers > 0 {
		docker, err := dockerClient(cfg.DockerHost)
		if err != nil {
			return err
		}
		defer docker.Close()
		w = newWorker(cfg, store, docker, m, log)
	}
	if !cfg.workerOnly {
		var workerReady func(context.Context) error
		if w != nil {
			workerReady = w.Ready
		}
		if err := startAPI(gctx, g, b, cfg, store, m, workerReady, log, ready); err != nil {
			return err
		}
	}
	// Every process sweeps, so leases expire and jobs are reclaimed as long as
	// any process of the deployment lives.
	g.Go(func() error {
		store.RunSweeper(gctx, cfg.Lease/2, cfg.QueueTTL, cfg.LogRetention)
		return nil
	})
	if w != nil {
		g.Go(func() error { return w.Run(gctx) })
	}
	err = g.Wait()
	log.InfoContext(context.WithoutCancel(ctx), "slipway stopped")
	return err
}

// startAPI starts the HTTP API in g; it stops when ctx ends. workerReady,
// when this process also builds, joins the readiness checks.
func startAPI(ctx context.Context, g *errgroup.Group, b Build, cfg serveConfig, store *db.DB, m *metrics.Registry,
	workerReady func(context.Context) error, log *slog.Logger, ready func(addr string)) error {
	policy := job.Policy{GitSchemes: cfg.GitProtocols, DefaultTimeout: cfg.BuildTimeout, MaxTimeout: cfg.MaxBuildTimeout,
		BuildNetworks: cfg.BuildNetworks, RegistryHosts: cfg.RegistryHosts}
	if err := checkAuthConfig(ctx, cfg, store); err != nil {
		return err
	}
	if err := cfg.Hooks.checkSecrets(); err != nil {
		return err
	}
	if cfg.JobCacheSize < 0 {
		return errors.New("job cache size must be 0 or more")
	}
	if cfg.Hooks.ProjectsFile != "" {
		if err := loadProjects(ctx, cfg.Hooks.ProjectsFile, store, log); err != nil {
			return err
		}
	}
	callbacks, err := cfg.Hooks.deliverer(store, m, log, cfg.callbackPolicy().Transport())
	if err != nil {
		return err
	}
	g.Go(func() error { return callbacks.Run(ctx) })
	opts := []server.Option{server.WithIntake(store)}
	if cfg.JobCacheSize > 0 {
		cache, err := watchedJobCache(ctx, g, store, cfg.JobCacheSize)
		if err != nil {
			return err
		}
		opts = append(opts, server.WithJobCache(cache))
	}
	api := server.New(server.Config{
		Policy:         policy,
		MaxBodyBytes:   int64(cfg.MaxBodyBytes),
		Supersede:      cfg.Supersede,
		Hooks:          cfg.Hooks.server(),
		Metrics:        m,
		MetricsHandler: m.Handler(),
		Ready:          readinessChecks(store, workerReady, log),

		AdminToken:      cfg.AdminToken,
		PublicReads:     cfg.PublicReads,
		CORSOrigins:     cfg.CORSOrigins,
		LogPollInterval: cfg.LogPollInterval,

		MaxHookBodyBytes: int64(cfg.MaxHookBodyBytes),
		MaxLogFollowers:  cfg.MaxLogFollowers,

		RateLimit: float64(cfg.RateLimit),
		RateBurst: cfg.RateBurst,
	}, store, store, log, opts...)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
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
		return httpSrv.Shutdown(shutdownCtx)
	})
	g.Go(func() error {
		store.RunNotifier(ctx, notifyInterval)
		return nil
	})
	return nil
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

func dockerClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// ownerName identifies this process on the jobs it claims.
func ownerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var url, format, level string
	s := newSettings("migrate", getenv, stderr)
	s.Secret(&url, "database-url", "SLIPWAY_DATABASE_URL", "Postgres connection URL")
	s.String(&format, "log-format", "SLIPWAY_LOG_FORMAT", "auto", "log format: json, text, or auto")
	s.String(&level, "log-level", "SLIPWAY_LOG_LEVEL", "info", "log level")
	if err := s.Parse(args); err != nil {
		return err
	}
	if url == "" {
		return errors.New("no database: set SLIPWAY_DATABASE_URL or --database-url")
	}
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	store, err := db.Open(ctx, url, log)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "migrations applied", "count", n)
	return nil
}
