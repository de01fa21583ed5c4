package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slipwayci/slipway/server"
)

// pinger answers when its service is reachable.
type pinger interface {
	Ping(ctx context.Context) error
}

type migrationChecker interface {
	MigrationsPending(ctx context.Context) (bool, error)
}

// readinessChecks lists what /readyz checks. The texts it returns are shown
// on /readyz, which anyone reaching the port can read, so the causes (which
// may name hosts and users) go to the log instead.
func readinessChecks(store interface {
	pinger
	migrationChecker
}, docker func(ctx context.Context) error, log *slog.Logger) []server.Check {
	checks := []server.Check{
		{Name: "postgres", Run: func(ctx context.Context) error {
			if err := store.Ping(ctx); err != nil {
				log.WarnContext(ctx, "readiness: postgres", "err", err)
				return errors.New("not reachable")
			}
			return nil
		}},
		{Name: "migrations", Run: func(ctx context.Context) error {
			pending, err := store.MigrationsPending(ctx)
			if err != nil {
				log.WarnContext(ctx, "readiness: migrations", "err", err)
				return errors.New("cannot read the schema version")
			}
			if pending {
				return errors.New("the schema is older than this binary: run slipway migrate")
			}
			return nil
		}},
	}
	if docker != nil {
		checks = append(checks, server.Check{Name: "docker", Run: func(ctx context.Context) error {
			if err := docker(ctx); err != nil {
				log.WarnContext(ctx, "readiness: docker", "err", err)
				return errors.New("daemon not answering")
			}
			return nil
		}})
	}
	return checks
}

// healthcheck is the image's HEALTHCHECK: it asks the local API's /healthz,
// so the image needs no curl or wget.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var listen, url string
	s := newSettings("healthcheck", getenv, stderr)
	s.String(&listen, "listen", "SLIPWAY_LISTEN", ":8080", "address the HTTP API listens on (the check asks its port on 127.0.0.1)")
	s.String(&url, "url", "", "", "URL to check instead (default: http://127.0.0.1:<listen port>/healthz)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if url == "" {
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", listen, err)
		}
		url = "http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
	}
	// Docker's HEALTHCHECK has its own timeout; this one keeps a manual run
	// from hanging.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
