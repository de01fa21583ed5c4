package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/jackc/pgx/v5"
)

// shared holds the containers one test binary starts at most once; Main
// removes them when the tests are done (Ryuk may be disabled offline).
var shared struct {
	mu       sync.Mutex
	postgres *Service
	registry *Service
}

// Main runs the tests of a package and then removes the containers they
// started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	removeBinaries()
	shared.mu.Lock()
	for _, s := range []*Service{shared.postgres, shared.registry} {
		if s != nil {
			if err := s.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "testenv: stop container:", err)
			}
		}
	}
	shared.mu.Unlock()
	os.Exit(code)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Docker returns a client for the Docker daemon. Without a daemon the test is
// skipped, unless SLIPWAY_REQUIRE_DOCKER=1, where it fails: CI must never
// pass by skipping.
func Docker(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err = c.Ping(ctx); err == nil {
			tb.Cleanup(func() { c.Close() })
			return c
		}
		c.Close()
	}
	if os.Getenv("SLIPWAY_REQUIRE_DOCKER") == "1" {
		tb.Fatalf("Docker daemon required (SLIPWAY_REQUIRE_DOCKER=1) but not reachable: %v", err)
	}
	tb.Skipf("skipping: no Docker daemon reachable (%v); set SLIPWAY_REQUIRE_DOCKER=1 to make this a failure", err)
	return nil
}

// Postgres returns the URL of a new, empty database on a Postgres server
// shared by the package's tests: the server from SLIPWAY_TEST_DATABASE_URL,
// or a container started from SLIPWAY_TEST_POSTGRES_IMAGE.
func Postgres(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("SLIPWAY_TEST_DATABASE_URL")
	if admin == "" {
		Docker(tb)
		shared.mu.Lock()
		if shared.postgres == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			pg, err := StartPostgres(ctx, env("SLIPWAY_TEST_POSTGRES_IMAGE", DefaultPostgresImage), "postgres", "postgres", "postgres", Labels())
			cancel()
			if err != nil {
				shared.mu.Unlock()
				tb.Fatal(err)
			}
			shared.postgres = pg
		}
		admin = shared.postgres.Addr
		shared.mu.Unlock()
	}
	return createDatabase(tb, admin)
}

func createDatabase(tb testing.TB, admin string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(ctx)
	name := "slipway_test_" + RandomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse database URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Registry returns host:port of a registry shared by the package's tests,
// started from SLIPWAY_TEST_REGISTRY_IMAGE.
func Registry(tb testing.TB) string {
	tb.Helper()
	Docker(tb)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.registry == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		reg, err := StartRegistry(ctx, env("SLIPWAY_TEST_REGISTRY_IMAGE", DefaultRegistryImage), Labels())
		if err != nil {
			tb.Fatal(err)
		}
		shared.registry = reg
	}
	return shared.registry.Addr
}

// BaseImage returns a small image with a shell to build FROM, from
// SLIPWAY_TEST_BASE_IMAGE (default busybox). It must already be present
// locally or be pullable.
func BaseImage(tb testing.TB) string {
	tb.Helper()
	img := env("SLIPWAY_TEST_BASE_IMAGE", "busybox:1.36")
	d := Docker(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := d.ImageInspect(ctx, img); err == nil {
		return img
	}
	if out, err := exec.CommandContext(ctx, "docker", "pull", img).CombinedOutput(); err != nil {
		tb.Fatalf("base image %s is not present and cannot be pulled (set SLIPWAY_TEST_BASE_IMAGE): %s", img, out)
	}
	return img
}

// GitRepo creates a git repository holding files, commits them, and returns
// its file:// URL and the commit id.
func GitRepo(tb testing.TB, files map[string]string) (repoURL, commit string) {
	tb.Helper()
	return GitRepoWithLinks(tb, files, nil)
}

// GitRepoWithLinks is GitRepo with symbolic links too (name → target).
func GitRepoWithLinks(tb testing.TB, files, links map[string]string) (repoURL, commit string) {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			tb.Fatal(err)
		}
	}
	Git(tb, dir, "init", "-q", "-b", "main")
	Git(tb, dir, "add", "-A")
	Git(tb, dir, "commit", "-q", "-m", "test")
	return "file://" + dir, Git(tb, dir, "rev-parse", "HEAD")
}

// Git runs git in dir and returns its trimmed output.
func Git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@slipway.invalid",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@slipway.invalid", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// RandomHex returns n random bytes as hex, for unique names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
