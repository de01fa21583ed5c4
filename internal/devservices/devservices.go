// Package devservices runs the containers `slipway dev` needs, Postgres and
// a registry, through the Docker Engine client the builder already uses: the
// shipped binary links no test library (tests use testcontainers-go).
package devservices

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-connections/nat"
	"github.com/jackc/pgx/v5"
)

// Default images; `slipway dev` takes others from SLIPWAY_DEV_POSTGRES_IMAGE
// and SLIPWAY_DEV_REGISTRY_IMAGE.
const (
	DefaultPostgresImage = "postgres:16-alpine"
	DefaultRegistryImage = "registry:2"
)

// Label marks the containers, its value the id of the process that started
// them, so a leftover one (after kill -9) can be found:
// docker ps -a --filter label=org.slipwayci.dev.
const Label = "org.slipwayci.dev"

// startTimeout bounds how long a service may take to answer after start.
const startTimeout = 2 * time.Minute

// Container is a started service and the address it is reached at.
type Container struct {
	// Addr is a Postgres URL for Postgres, host:port for a registry.
	Addr   string
	id     string
	docker *client.Client
}

// Stop removes the container and its anonymous volumes. It runs even when
// ctx has ended (the usual case: Ctrl-C).
func (c *Container) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.docker.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		return fmt.Errorf("remove container %.12s: %w", c.id, err)
	}
	return nil
}

// StartPostgres runs Postgres from image with a database, user and password
// and returns once it answers queries.
func StartPostgres(ctx context.Context, docker *client.Client, img, database, user, password string) (*Container, error) {
	c, port, err := start(ctx, docker, img, "5432/tcp", []string{
		"POSTGRES_DB=" + database, "POSTGRES_USER=" + user, "POSTGRES_PASSWORD=" + password,
	})
	if err != nil {
		return nil, fmt.Errorf("start postgres (%s): %w", img, err)
	}
	c.Addr = (&url.URL{Scheme: "postgres", User: url.UserPassword(user, password),
		Host: net.JoinHostPort("127.0.0.1", port), Path: "/" + database, RawQuery: "sslmode=disable"}).String()
	// The image's first server is an initdb-time one on a socket only; a
	// query over TCP succeeds only on the final server.
	err = c.await(ctx, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, c.Addr)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("start postgres (%s): %w", img, err)
	}
	return c, nil
}

// StartRegistry runs a Distribution registry from image and returns once
// it answers. Its address is on 127.0.0.1, which the Docker daemon pushes
// to over plain HTTP.
func StartRegistry(ctx context.Context, docker *client.Client, img string) (*Container, error) {
	c, port, err := start(ctx, docker, img, "5000/tcp", nil)
	if err != nil {
		return nil, fmt.Errorf("start registry (%s): %w", img, err)
	}
	c.Addr = net.JoinHostPort("127.0.0.1", port)
	err = c.await(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start registry (%s): %w", img, err)
	}
	return c, nil
}

// start runs img with port published on a free port of 127.0.0.1 and
// returns the container and that port.
func start(ctx context.Context, docker *client.Client, img, port string, env []string) (*Container, string, error) {
	if err := ensureImage(ctx, docker, img); err != nil {
		return nil, "", err
	}
	p := nat.Port(port)
	created, err := docker.ContainerCreate(ctx,
		&container.Config{Image: img, Env: env, ExposedPorts: nat.PortSet{p: {}}, Labels: map[string]string{Label: strconv.Itoa(os.Getpid())}},
		&container.HostConfig{PortBindings: nat.PortMap{p: {{HostIP: "127.0.0.1"}}}},
		nil, nil, "")
	if err != nil {
		return nil, "", fmt.Errorf("create container: %w", err)
	}
	c := &Container{id: created.ID, docker: docker}
	fail := func(err error) (*Container, string, error) {
		_ = c.Stop(ctx)
		return nil, "", err
	}
	if err := docker.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return fail(fmt.Errorf("start container: %w", err))
	}
	info, err := docker.ContainerInspect(ctx, c.id)
	if err != nil {
		return fail(fmt.Errorf("inspect container: %w", err))
	}
	if info.NetworkSettings == nil || len(info.NetworkSettings.Ports[p]) == 0 {
		return fail(fmt.Errorf("container publishes no port for %s", port))
	}
	return c, info.NetworkSettings.Ports[p][0].HostPort, nil
}

// ensureImage pulls img unless the daemon has it, so local images (an
// offline machine's) are used as they are.
func ensureImage(ctx context.Context, docker *client.Client, img string) error {
	_, err := docker.ImageInspect(ctx, img)
	if err == nil {
		return nil
	}
	if !client.IsErrNotFound(err) {
		return fmt.Errorf("inspect image: %w", err)
	}
	rc, err := docker.ImagePull(ctx, img, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image: %w", err)
	}
	defer rc.Close()
	// Pull failures arrive inside the stream, not as the call's error.
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("pull image: %w", err)
	}
	return nil
}

// await calls ready until it succeeds, the container stops, or startTimeout
// passes; on failure it removes the container.
func (c *Container) await(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		err := ready(actx)
		acancel()
		if err == nil {
			return nil
		}
		if info, ierr := c.docker.ContainerInspect(ctx, c.id); ierr == nil && info.State != nil && !info.State.Running {
			_ = c.Stop(ctx)
			return fmt.Errorf("container exited with code %d", info.State.ExitCode)
		}
		select {
		case <-ctx.Done():
			_ = c.Stop(ctx)
			return fmt.Errorf("not ready (%w); last check: %w", context.Cause(ctx), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
