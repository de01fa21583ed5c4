package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/devservices"
	"github.com/slipwayci/slipway/job"
)

// dev runs a complete local instance: Postgres and a registry in Docker
// (unless given), a demo git repository, and the API with workers, then
// prints a request that builds and pushes the demo image.
func dev(ctx context.Context, b Build, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		pgImage, regImage     string
		registryAddr, demoDir string
	)
	cfg, err := loadConfig(roleDev, args, getenv, stderr, func(s *settings) {
		s.String(&pgImage, "postgres-image", "SLIPWAY_DEV_POSTGRES_IMAGE", devservices.DefaultPostgresImage, "Postgres image started when no database URL is given")
		s.String(&regImage, "registry-image", "SLIPWAY_DEV_REGISTRY_IMAGE", devservices.DefaultRegistryImage, "registry image started when no registry is given")
		s.String(&registryAddr, "registry", "SLIPWAY_DEV_REGISTRY", "", "host:port of a registry to push the demo image to (default: start one)")
		s.String(&demoDir, "demo-dir", "SLIPWAY_DEV_DEMO_DIR", "", "where to create the demo git repository (default: a temp directory)")
	})
	if err != nil {
		return err
	}
	// The demo repository is local, so dev fetches over file:// as well.
	if !slices.Contains(cfg.GitProtocols, "file") {
		cfg.GitProtocols = append(cfg.GitProtocols, "file")
	}

	// Ctrl-C must still remove the containers, also while they start.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.DatabaseURL == "" || registryAddr == "" {
		docker, err := builder.NewDockerClient(cfg.DockerHost)
		if err != nil {
			return err
		}
		defer docker.Close()
		remove := func(c *devservices.Container) {
			if err := c.Stop(ctx); err != nil {
				fmt.Fprintln(stderr, "slipway dev:", err)
			}
		}
		if cfg.DatabaseURL == "" {
			fmt.Fprintf(stdout, "Starting Postgres (%s)…\n", pgImage)
			pg, err := devservices.StartPostgres(ctx, docker, pgImage, "slipway", "slipway", rand.Text())
			if err != nil {
				return err
			}
			defer remove(pg)
			cfg.DatabaseURL = pg.Addr
		}
		if registryAddr == "" {
			fmt.Fprintf(stdout, "Starting a registry (%s)…\n", regImage)
			reg, err := devservices.StartRegistry(ctx, docker, regImage)
			if err != nil {
				return err
			}
			defer remove(reg)
			registryAddr = reg.Addr
		}
	}
	if demoDir == "" {
		dir, err := os.MkdirTemp("", "slipway-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		demoDir = dir
	}
	// dev always has a token to print: the one given, or a fresh one.
	if cfg.AdminToken == "" {
		cfg.AdminToken = job.NewTokenSecret()
	}
	commit, err := makeDemoRepo(ctx, cfg.GitPath, demoDir)
	if err != nil {
		return fmt.Errorf("demo repository: %w", err)
	}

	return runProcess(ctx, b, cfg, stderr, func(addr string) {
		fmt.Fprintf(stdout, `
Slipway is running at http://%[1]s (registry %[2]s).
Dashboard: http://%[1]s/ (paste the admin token when asked)
Admin token (this run only): %[5]s

Build and push the demo image:

  export SLIPWAY_TOKEN=%[5]s
  curl -sS -X POST http://%[1]s/api/v1/jobs \
    -H "Authorization: Bearer $SLIPWAY_TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"source": {"repository": "file://%[3]s", "commit": "%[4]s"},
         "image": {"name": "%[2]s/demo/hello", "tags": ["latest"]}}'

Then follow it with the job id from the answer:

  curl -sS -H "Authorization: Bearer $SLIPWAY_TOKEN" http://%[1]s/api/v1/jobs/<id>
  curl -sS -H "Authorization: Bearer $SLIPWAY_TOKEN" "http://%[1]s/api/v1/jobs/<id>/logs?follow=true"

`, addr, registryAddr, demoDir, commit, cfg.AdminToken)
	})
}
