// Package testenv starts the real services Slipway's tests (and `slipway
// dev`) need: Postgres and a registry in Docker via testcontainers-go, git
// repositories, and access to the Docker daemon. Container images can be
// overridden by environment so an offline machine can supply local ones.
package testenv

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Default images; override with SLIPWAY_TEST_POSTGRES_IMAGE and
// SLIPWAY_TEST_REGISTRY_IMAGE (tests) or SLIPWAY_DEV_POSTGRES_IMAGE and
// SLIPWAY_DEV_REGISTRY_IMAGE (slipway dev).
const (
	DefaultPostgresImage = "postgres:16-alpine"
	DefaultRegistryImage = "registry:2"
)

// Label marks every container the tests start; SLIPWAY_TEST_RUN (set by
// .ci/run) adds the run's id, so CI can list what a run left behind.
const (
	Label    = "io.slipway.test"
	RunLabel = "io.slipway.test.run"
)

// LabelValues are the labels of a container the tests start, for .ci/run's
// check that none outlives them.
func LabelValues() map[string]string {
	return map[string]string{Label: "true", RunLabel: os.Getenv("SLIPWAY_TEST_RUN")}
}

// Labels is LabelValues for testcontainers.
func Labels() testcontainers.CustomizeRequestOption {
	return testcontainers.WithLabels(LabelValues())
}

// Service is a started container and the address it is reached at.
type Service struct {
	// Addr is a Postgres URL for Postgres, host:port for a registry.
	Addr      string
	container testcontainers.Container
}

// Stop removes the container.
func (s *Service) Stop() error {
	return testcontainers.TerminateContainer(s.container)
}

// StartPostgres runs Postgres from image with a database, user and password.
func StartPostgres(ctx context.Context, image, database, user, password string, opts ...testcontainers.ContainerCustomizer) (*Service, error) {
	c, err := postgres.Run(ctx, image, append([]testcontainers.ContainerCustomizer{
		postgres.WithDatabase(database),
		postgres.WithUsername(user),
		postgres.WithPassword(password),
		// Test and dev databases need not survive a power cut.
		testcontainers.WithCmdArgs("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=300"),
		postgres.BasicWaitStrategies(),
	}, opts...)...)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return nil, fmt.Errorf("start postgres (%s): %w", image, err)
	}
	url, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return nil, fmt.Errorf("postgres address: %w", err)
	}
	return &Service{Addr: url, container: c}, nil
}

// StartRegistry runs a Distribution registry from image. The address it
// returns is on 127.0.0.1, which the Docker daemon pushes to over plain HTTP.
func StartRegistry(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Service, error) {
	c, err := testcontainers.Run(ctx, image, append([]testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts("5000/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/v2/").WithPort("5000/tcp").WithStartupTimeout(60 * time.Second)),
	}, opts...)...)
	if err != nil {
		if c != nil {
			_ = testcontainers.TerminateContainer(c)
		}
		return nil, fmt.Errorf("start registry (%s): %w", image, err)
	}
	port, err := c.MappedPort(ctx, "5000/tcp")
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return nil, fmt.Errorf("registry address: %w", err)
	}
	return &Service{Addr: "127.0.0.1:" + port.Port(), container: c}, nil
}
