package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/internal/testenv"
)

// proc is slipway running as a real process.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

// cluster is one database with slipway processes around it.
type cluster struct {
	t   *testing.T
	bin string
	env map[string]string
	api string
}

// newCluster starts `slipway serve --workers 0` on a new database; workers
// are started with worker.
func newCluster(t *testing.T, env map[string]string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: testenv.Binary(t), env: map[string]string{
		"SLIPWAY_DATABASE_URL":          testenv.Postgres(t),
		"SLIPWAY_ADMIN_TOKEN":           adminToken,
		"SLIPWAY_GIT_PROTOCOLS":         "file",
		"SLIPWAY_POLL_INTERVAL":         "500ms",
		"SLIPWAY_RATE_LIMIT":            "0",
		"SLIPWAY_LEASE":                 "3s",
		"SLIPWAY_RETRY_BACKOFF":         "200ms",
		"SLIPWAY_DOCKER_CHECK_INTERVAL": "300ms",
		"SLIPWAY_LOG_FORMAT":            "json",
		"HOME":                          os.Getenv("HOME"),
		"PATH":                          os.Getenv("PATH"),
		"DOCKER_HOST":                   os.Getenv("DOCKER_HOST"),
		// Checkouts of killed workers stay behind; keep them in the test's dir.
		"SLIPWAY_WORK_DIR": t.TempDir(),
	}}
	for k, v := range env {
		c.env[k] = v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c.start("api", []string{"serve", "--workers", "0", "--listen", addr}, nil)
	c.api = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway serve did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// worker starts `slipway worker` with extra environment.
func (c *cluster) worker(name string, env map[string]string) *proc {
	c.t.Helper()
	return c.start(name, []string{"worker"}, env)
}

func (c *cluster) start(name string, args []string, extra map[string]string) *proc {
	t := c.t
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(c.bin, args...), logs: &syncBuffer{}, done: make(chan struct{})}
	for k, v := range c.env {
		if _, ok := extra[k]; !ok && v != "" {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logs.String())
		}
	})
	return p
}

// signal sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit after %v", p.name, sig)
	}
}

// logLines returns the JSON log records of p whose msg is msg.
func (p *proc) logLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// queueJob is the job as the queue tests read it.
type queueJob struct {
	ID              string `json:"id"`
	State           string `json:"state"`
	Worker          string `json:"worker"`
	Attempt         int    `json:"attempt"`
	CancelRequested bool   `json:"cancel_requested"`
	RetryOf         string `json:"retry_of"`
	RetriedBy       string `json:"retried_by"`
	Result          *struct {
		Digest string `json:"digest"`
	} `json:"result"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Attempts []struct {
		Attempt int    `json:"attempt"`
		Worker  string `json:"worker"`
		Outcome string `json:"outcome"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"attempts"`
}

func (c *cluster) submit(body map[string]any) queueJob {
	c.t.Helper()
	resp, data := postJob(c.t, c.api, body)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("POST /api/v1/jobs: %d %s", resp.StatusCode, data)
	}
	var j queueJob
	if err := json.Unmarshal(data, &j); err != nil {
		c.t.Fatal(err)
	}
	return j
}

func (c *cluster) job(id string) queueJob {
	c.t.Helper()
	resp, err := authGet(c.t, c.api+"/api/v1/jobs/"+id)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var j queueJob
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		c.t.Fatal(err)
	}
	return j
}

// post sends an action and returns the status and body.
func (c *cluster) post(path string) (int, string, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.api+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// waitFor polls job id until ok holds, for at most limit.
func (c *cluster) waitFor(id string, limit time.Duration, what string, ok func(queueJob) bool) queueJob {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		j := c.job(id)
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s: waited %s for %s; it is %s (attempt %d); log:\n%s", id, limit, what, j.State, j.Attempt, getText(c.t, c.api+"/api/v1/jobs/"+id+"/logs"))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *cluster) waitDone(id string) queueJob {
	c.t.Helper()
	return c.waitFor(id, 2*time.Minute, "an end", func(j queueJob) bool {
		return j.State == "succeeded" || j.State == "failed" || j.State == "canceled"
	})
}

// ownerPID is the process id in a worker's owner name (host/pid/random).
func ownerPID(t *testing.T, owner string) int {
	t.Helper()
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		t.Fatalf("owner %q is not host/pid/random", owner)
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// failingRegistry is a reverse proxy to a registry that answers 503 to the
// first n manifest uploads, the last step of every push.
type failingRegistry struct {
	Addr   string
	failed atomic.Int32
}

func newFailingRegistry(t *testing.T, registry string, n int32) *failingRegistry {
	t.Helper()
	f := &failingRegistry{}
	target, _ := url.Parse("http://" + registry)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && f.failed.Load() < n {
			f.failed.Add(1)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.Addr = ln.Addr().String()
	return f
}

// socketProxy is a unix socket in front of the Docker daemon's that the test
// can take away and bring back, without disturbing the daemon others use.
type socketProxy struct {
	t      *testing.T
	Path   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newSocketProxy(t *testing.T) *socketProxy {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Skipf("DOCKER_HOST=%s is not a unix socket", h)
		}
		target = strings.TrimPrefix(h, "unix://")
	}
	// Unix socket paths are short; t.TempDir can be too long.
	dir, err := os.MkdirTemp("", "slw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &socketProxy{t: t, Path: filepath.Join(dir, "d.sock"), target: target, conns: map[net.Conn]struct{}{}}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start listens again.
func (p *socketProxy) Start() {
	p.t.Helper()
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *socketProxy) pipe(c net.Conn) {
	d, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[d] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(d, c); d.Close() }()
	_, _ = io.Copy(c, d)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, d)
	p.mu.Unlock()
}

// Stop closes the socket and every connection through it, as a daemon that
// went away would.
func (p *socketProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	_ = os.Remove(p.Path)
}

// registryTags lists the tags of name in registry.
func registryTags(t *testing.T, registry, name string) []string {
	t.Helper()
	resp, err := http.Get("http://" + registry + "/v2/" + name + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Tags []string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("tags of %s: %v: %s", name, err, bytes.TrimSpace(b))
	}
	return out.Tags
}

// removeImages removes the images the test's builds tagged from the shared
// daemon when the test ends; references never built are ignored.
func removeImages(t *testing.T, refs ...string) {
	t.Helper()
	docker := testenv.Docker(t)
	t.Cleanup(func() {
		for _, ref := range refs {
			_, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
}
