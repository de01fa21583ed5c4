package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/metrics"
	"github.com/slipwayci/slipway/internal/redact"
)

// serve runs `slipway serve`: the API, and build workers unless told none.
func serve(ctx context.Context, b Build, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(roleServe, args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	return runProcess(ctx, b, cfg, stderr, nil)
}

// worker runs `slipway worker`: build workers only, no API.
func worker(ctx context.Context, b Build, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(roleWorker, args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	return runProcess(ctx, b, cfg, stderr, nil)
}

// runProcess is the one way a Slipway process is put together, whatever the
// command: it opens the database, migrates, and runs the API and workers cfg
// asks for, with the sweeper and the notifier, until ctx ends or a signal
// arrives. ready, when given, receives the API's address. cfg has been
// checked by loadConfig.
func runProcess(ctx context.Context, b Build, cfg *config, stderr io.Writer, ready func(addr string)) error {
	format := cfg.LogFormat
	if (format == "" || format == "auto") && isTerminal(stderr) {
		format = "text" // decided here: the buffer in front of stderr is no terminal
	}
	out := newLogWriter(stderr)
	defer out.Close()
	log, err := newLogger(out, format, cfg.LogLevel)
	if err != nil {
		return err
	}
	secrets := cfg.secrets()
	log = slog.New(redact.NewHandler(log.Handler(), secrets))
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
		docker, err := builder.NewDockerClient(cfg.DockerHost)
		if err != nil {
			return err
		}
		defer docker.Close()
		w = newWorker(cfg, store, docker, m, secrets, log)
	}
	if cfg.api {
		var workerReady func(context.Context) error
		if w != nil {
			workerReady = w.Ready
		}
		if err := startAPI(gctx, g, b, cfg, store, m, workerReady, log, ready); err != nil {
			return err
		}
	}
	// Every process sweeps, so leases expire and jobs are reclaimed as long as
	// any process of the deployment lives; and every process notifies, so the
	// jobs it queues or takes back wake the listening workers at once.
	g.Go(func() error {
		store.RunSweeper(gctx, cfg.Lease/2, cfg.QueueTTL, cfg.LogRetention)
		return nil
	})
	g.Go(func() error {
		store.RunNotifier(gctx, notifyInterval)
		return nil
	})
	if w != nil {
		g.Go(func() error { return w.Run(gctx) })
	}
	err = g.Wait()
	log.InfoContext(context.WithoutCancel(ctx), "slipway stopped")
	return err
}

// ownerName identifies this process on the jobs it claims.
func ownerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// secrets are the values masked in the application log and build logs: the
// database password, the admin token, the webhook and callback secrets, the
// git credentials and the registry credentials. API tokens other than the admin's are stored as
// hashes only, so Slipway never holds them to mask.
func (c *config) secrets() *redact.Masker {
	list := []string{c.AdminToken, c.MetricsToken, c.Hooks.NativeSecret, c.Hooks.JenkinsSecret, c.Hooks.BambooSecret, c.Hooks.CallbackSecret}
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			list = append(list, p)
		}
	}
	list = append(list, builder.GitSecrets(c.GitAuth)...)
	return redact.New(append(list, builder.RegistrySecrets(c.DockerConfig)...)...)
}
