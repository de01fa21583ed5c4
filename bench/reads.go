package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// statusReads: GET /api/v1/jobs/{id} and its 304 path at 32 clients, against
// a bare Echo handler in a process of its own serving the same bytes behind
// the same bearer check; Slipway at its default log level (info: one access
// log line per request) and at warn (no access log).
func (b *bench) statusReads(ctx context.Context) error {
	d := 10 * time.Second
	if b.smoke {
		d = time.Second
	}
	for i, level := range logLevels {
		if err := b.statusReadsAt(ctx, d, level, int64(i+1)); err != nil {
			return err
		}
		b.stopAll()
	}
	return nil
}

// statusReadsAt measures at one log level, reading job n (a new one per
// level: deduplication would answer the second POST with the first job).
func (b *bench) statusReadsAt(ctx context.Context, d time.Duration, level string, n int64) error {
	const clients = 32
	s, err := b.startSlipway(ctx, "serve", map[string]string{"SLIPWAY_LOG_LEVEL": level})
	if err != nil {
		return err
	}
	id, err := b.postJob(ctx, s, jobBody(n, benchRepo, "registry.example.com/bench/app"))
	if err != nil {
		return err
	}
	url := s.addr + "/api/v1/jobs/" + id
	resp, err := b.request(ctx, http.MethodGet, url, nil, nil)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET job: %s", resp.Status)
	}
	etag, ctype := resp.Header.Get("ETag"), resp.Header.Get("Content-Type")

	bare, stopBare, err := b.bareEcho(ctx, body, ctype, etag)
	if err != nil {
		return err
	}
	defer stopBare()

	get := func(u string, hdr map[string]string, want int) func(context.Context, int, int64) error {
		return func(ctx context.Context, _ int, _ int64) error {
			resp, err := b.request(ctx, http.MethodGet, u, nil, hdr)
			if err != nil {
				return err
			}
			discard(resp)
			if resp.StatusCode != want {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
	}
	measure := func(what string, hdr map[string]string, want int) {
		what = fmt.Sprintf("%s, 32 clients, log %s", what, level)
		slip, base := get(url, hdr, want), get(bare+"/api/v1/jobs/"+id, hdr, want)
		load(ctx, clients, warmup(d), 0, slip)
		load(ctx, clients, warmup(d), 0, base)
		// Alternating rounds spread the shared machine's swings over both
		// sides instead of handing them to whichever ran second.
		const rounds = 4
		var sw, bw loadResult
		for range rounds {
			sw = sw.plus(load(ctx, clients, d/rounds, 0, slip))
			bw = bw.plus(load(ctx, clients, d/rounds, 0, base))
		}
		b.note(fmt.Sprintf("%s: Slipway %d in %s (%d failed %s); bare Echo %d in %s (%d failed %s)", what, sw.ok, sw.elapsed.Round(time.Millisecond), sw.failed, sw.firstErr, bw.ok, bw.elapsed.Round(time.Millisecond), bw.failed, bw.firstErr))
		r := row{num: 3, what: what, slipway: fmt.Sprintf("%.0f/s", sw.rate()), baseline: fmt.Sprintf("bare Echo %.0f/s", bw.rate()), goal: "≥ 0.8×"}
		b.add(goal(r, sw.rate()/bw.rate(), true, 0.8))
	}
	measure("status read 200", nil, http.StatusOK)
	if etag == "" {
		b.na(3, "status read 304, log "+level, "no ETag header on GET /api/v1/jobs/{id}")
		return nil
	}
	measure("status read 304", map[string]string{"If-None-Match": etag}, http.StatusNotModified)
	return nil
}

// bareEchoEnv, when set, makes this binary the bare Echo baseline: it reads
// what to serve from the file the variable names, listens on loopback and
// prints its address. The baseline then runs in a process of its own, as
// Slipway does, rather than sharing the load generator's runtime.
const bareEchoEnv = "SLIPWAY_BENCH_BARE_ECHO"

// bareSpec is what the bare Echo baseline serves.
type bareSpec struct {
	Token string `json:"token"`
	Body  []byte `json:"body"`
	CType string `json:"ctype"`
	ETag  string `json:"etag"`
}

// bareEcho starts this binary as the bare Echo baseline serving body at
// /api/v1/jobs/:id behind a bearer check, with the same ETag, and returns
// its base URL.
func (b *bench) bareEcho(ctx context.Context, body []byte, ctype, etag string) (string, func(), error) {
	spec, err := json.Marshal(bareSpec{Token: b.token, Body: body, CType: ctype, ETag: etag})
	if err != nil {
		return "", nil, err
	}
	f := filepath.Join(b.tmp, "bare-echo.json")
	if err := os.WriteFile(f, spec, 0o600); err != nil {
		return "", nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), bareEchoEnv+"="+f)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("bare echo did not start: %w", err)
	}
	return "http://" + strings.TrimSpace(addr), stop, nil
}

// serveBareEcho is the baseline process: the smallest Echo handler that
// answers like GET /api/v1/jobs/{id}.
func serveBareEcho() error {
	raw, err := os.ReadFile(os.Getenv(bareEchoEnv))
	if err != nil {
		return err
	}
	var spec bareSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	want := []byte("Bearer " + spec.Token)
	e.GET("/api/v1/jobs/:id", func(c echo.Context) error {
		if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get("Authorization")), want) != 1 {
			return c.NoContent(http.StatusUnauthorized)
		}
		if spec.ETag != "" {
			c.Response().Header().Set("ETag", spec.ETag)
			if c.Request().Header.Get("If-None-Match") == spec.ETag {
				return c.NoContent(http.StatusNotModified)
			}
		}
		return c.Blob(http.StatusOK, spec.CType, spec.Body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
