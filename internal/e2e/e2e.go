// Package e2e stands up a real Slipway for end-to-end tests: the whole
// process (configuration, migrations, API, workers) on a new database of a
// real Postgres, reached over HTTP on a loopback port. It is the one way
// tests start Slipway:
//
//	s := e2e.Start(t, map[string]string{"SLIPWAY_WORKERS": "0"}) // `slipway serve` in this process
//	j := s.Submit(t, body)                                       // POST /api/v1/jobs, 202 or fail
//	j = s.Wait(t, j.ID)                                          // poll until it ends
//	s.Get(t, "/api/v1/jobs/"+j.ID).Want(t, 200).Decode(t, &v)    // any GET, as admin
//	s.Do(t, "POST", "/api/v1/hooks/jenkins", body, header)       // exactly these headers
//
// Start takes the environment slipway reads (SLIPWAY_*) on top of test
// defaults; StartBinary runs the compiled binary instead, for tests that send
// signals, and Slipway.Worker adds `slipway worker` processes on the same
// database. Every answer is validated against openapi.yaml.
package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/app"
	"github.com/slipwayci/slipway/internal/testenv"
)

// AdminToken is the bootstrap admin token every instance accepts.
const AdminToken = "e2e-admin-token-0123456789abcdefghijklmnopqrstuv"

// Slipway is a running Slipway API and the database it uses.
type Slipway struct {
	URL string            // http://127.0.0.1:port
	DB  string            // the database URL
	Env map[string]string // the environment it was started with
	// API is the `slipway serve` process when started by StartBinary.
	API *Proc

	logs *logBuffer
}

// Logs returns what the instance has logged so far.
func (s *Slipway) Logs() string {
	if s.API != nil {
		return s.API.Logs()
	}
	return s.logs.String()
}

// environment is the configuration every instance starts with: a new
// database, a free port, file:// repositories, fast polling, no rate limit
// (tests are one client asking fast), overridden by env.
func environment(tb testing.TB, env map[string]string) map[string]string {
	tb.Helper()
	vars := map[string]string{
		"SLIPWAY_LISTEN":        freeAddr(tb),
		"SLIPWAY_GIT_PROTOCOLS": "file",
		"SLIPWAY_POLL_INTERVAL": "100ms",
		"SLIPWAY_LOG_FORMAT":    "text",
		"SLIPWAY_RATE_LIMIT":    "0",
		"SLIPWAY_ADMIN_TOKEN":   AdminToken,
	}
	for _, k := range []string{"HOME", "PATH", "DOCKER_HOST"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	for k, v := range env {
		vars[k] = v
	}
	if vars["SLIPWAY_DATABASE_URL"] == "" {
		vars["SLIPWAY_DATABASE_URL"] = testenv.Postgres(tb)
	}
	return vars
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start runs `slipway serve` in this process with env on top of the test
// defaults, on a new database unless env names one, and stops it when the
// test ends.
func Start(tb testing.TB, env map[string]string) *Slipway {
	tb.Helper()
	vars := environment(tb, env)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Slipway{URL: "http://" + vars["SLIPWAY_LISTEN"], DB: vars["SLIPWAY_DATABASE_URL"], Env: vars, logs: &logBuffer{}}
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runErr = app.Run(ctx, app.Build{Version: "e2e"}, []string{"slipway", "serve"}, func(k string) string { return vars[k] }, io.Discard, s.logs)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			tb.Errorf("slipway serve: %v", runErr)
		}
		if tb.Failed() {
			tb.Logf("slipway log:\n%s", s.logs.String())
		}
	})
	s.waitHealthy(tb, done)
	return s
}

// StartBinary runs `slipway serve` with args as a process of the compiled
// binary, as Start does in-process; tests that kill or signal slipway need
// one.
func StartBinary(tb testing.TB, env map[string]string, args ...string) *Slipway {
	tb.Helper()
	vars := environment(tb, env)
	s := &Slipway{URL: "http://" + vars["SLIPWAY_LISTEN"], DB: vars["SLIPWAY_DATABASE_URL"], Env: vars}
	s.API = s.Process(tb, "api", append([]string{"serve"}, args...), nil)
	s.waitHealthy(tb, s.API.done)
	return s
}

// waitHealthy waits for /healthz to answer 200, or fails when the process
// ends first or 30 seconds pass.
func (s *Slipway) waitHealthy(tb testing.TB, exited <-chan struct{}) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			tb.Fatalf("slipway exited before it was healthy:\n%s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("slipway did not come up: %v\n%s", err, s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
