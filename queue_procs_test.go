package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// startQueue starts `slipway serve --workers 0` as a process on a new
// database, with short leases and backoffs; tests add workers with Worker.
func startQueue(t *testing.T) *e2e.Slipway {
	t.Helper()
	return e2e.StartBinary(t, map[string]string{
		"SLIPWAY_POLL_INTERVAL":         "500ms",
		"SLIPWAY_LEASE":                 "3s",
		"SLIPWAY_RETRY_BACKOFF":         "200ms",
		"SLIPWAY_DOCKER_CHECK_INTERVAL": "300ms",
		"SLIPWAY_LOG_FORMAT":            "json",
		// Checkouts of killed workers stay behind; keep them in the test's dir.
		"SLIPWAY_WORK_DIR": t.TempDir(),
	}, "--workers", "0")
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
