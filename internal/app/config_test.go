package app

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDatabase listens where the database would be and counts who connects;
// every connection is closed at once, so a process that gets that far fails.
func fakeDatabase(t *testing.T) (url string, contacts *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	contacts = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			contacts.Add(1)
			c.Close()
		}
	}()
	return "postgres://u:p@" + ln.Addr().String() + "/db?sslmode=disable&connect_timeout=2", contacts
}

// TestBadConfigFailsBeforeTheDatabase: every command that opens the database
// refuses a bad setting, naming it, before it connects; a good configuration
// does connect, so the test can tell.
func TestBadConfigFailsBeforeTheDatabase(t *testing.T) {
	badProjects := filepath.Join(t.TempDir(), "projects.yaml")
	if err := os.WriteFile(badProjects, []byte("projects:\n  - {name: A, image: 'Not Valid'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cmd, env, value string
	}{
		{"BadCIDR", "serve", "SLIPWAY_ALLOWED_NETWORKS", "10.0.0.0/33"},
		{"NegativeLog", "serve", "SLIPWAY_MAX_LOG_BYTES", "-1"},
		{"NotANumber", "serve", "SLIPWAY_RATE_LIMIT", "fast"},
		{"NotABool", "serve", "SLIPWAY_ALLOW_PRIVATE_NETWORKS", "maybe"},
		{"NegativeFiles", "serve", "SLIPWAY_MAX_CONTEXT_FILES", "-5"},
		{"NegativeBurst", "serve", "SLIPWAY_RATE_BURST", "-1"},
		{"NegativeContext", "serve", "SLIPWAY_MAX_CONTEXT_BYTES", "-1"},
		{"LogLevel", "serve", "SLIPWAY_LOG_LEVEL", "loud"},
		{"Lease", "serve", "SLIPWAY_LEASE", "1ms"},
		{"HookSecret", "serve", "SLIPWAY_HOOK_SECRET_JENKINS", "whsec_not*base64"},
		{"CallbackSecret", "serve", "SLIPWAY_CALLBACK_SECRET", "whsec_not*base64"},
		{"CallbackTimeout", "serve", "SLIPWAY_CALLBACK_TIMEOUT", "0s"},
		{"ShortAdminToken", "serve", "SLIPWAY_ADMIN_TOKEN", "short"},
		{"CORSOrigin", "serve", "SLIPWAY_CORS_ORIGINS", "ci.example.com"},
		{"JobCache", "serve", "SLIPWAY_JOB_CACHE_SIZE", "-1"},
		{"ProjectsFile", "serve", "SLIPWAY_PROJECTS_FILE", badProjects},
		{"MissingProjectsFile", "serve", "SLIPWAY_PROJECTS_FILE", filepath.Join(t.TempDir(), "none.yaml")},
		{"WorkerHookSecret", "worker", "SLIPWAY_HOOK_SECRET", "whsec_not*base64"},
		{"WorkerNoWorkers", "worker", "SLIPWAY_WORKERS", "0"},
		{"WorkerNegativeLog", "worker", "SLIPWAY_MAX_LOG_BYTES", "-1"},
		{"DevCallbackExpiry", "dev", "SLIPWAY_CALLBACK_EXPIRY", "0s"},
		{"DevBuildTimeout", "dev", "SLIPWAY_BUILD_TIMEOUT", "3h"},
	}
	run := func(t *testing.T, cmd string, env map[string]string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return Run(ctx, Build{}, []string{"slipway", cmd}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	baseEnv := func(dbURL string) map[string]string {
		return map[string]string{
			"SLIPWAY_DATABASE_URL": dbURL,
			"SLIPWAY_LOG_FORMAT":   "text",
			"SLIPWAY_LISTEN":       "127.0.0.1:0",
			"SLIPWAY_WORKERS":      "0",
			"SLIPWAY_ADMIN_TOKEN":  testAdminToken,
			"SLIPWAY_DEV_REGISTRY": "127.0.0.1:1",
			"SLIPWAY_DEV_DEMO_DIR": t.TempDir(),
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbURL, contacts := fakeDatabase(t)
			env := baseEnv(dbURL)
			if tc.cmd == "worker" {
				env["SLIPWAY_WORKERS"] = "1"
			}
			env[tc.env] = tc.value
			err := run(t, tc.cmd, env)
			if err == nil || !strings.Contains(err.Error(), tc.env) {
				t.Errorf("err = %v, want one naming %s", err, tc.env)
			}
			if n := contacts.Load(); n > 0 {
				t.Errorf("%s with %s=%q connected to the database %d times before refusing", tc.cmd, tc.env, tc.value, n)
			}
		})
	}
	t.Run("GoodConfigConnects", func(t *testing.T) {
		for _, cmd := range []string{"serve", "worker"} {
			dbURL, contacts := fakeDatabase(t)
			env := baseEnv(dbURL)
			if cmd == "worker" {
				env["SLIPWAY_WORKERS"] = "1"
			}
			if err := run(t, cmd, env); err == nil {
				t.Errorf("%s against a database that hangs up: no error", cmd)
			}
			if contacts.Load() == 0 {
				t.Errorf("%s with a good configuration never reached the database; the other cases prove nothing", cmd)
			}
		}
	})
}
