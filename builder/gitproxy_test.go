package builder

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/slipwayci/slipway/internal/egress"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// memLog is a LogWriter that keeps lines in memory.
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (m *memLog) AppendLog(_ context.Context, _ string, lines []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = append(m.lines, lines...)
	return nil
}

func (m *memLog) text() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.lines, "\n")
}

// gitServer serves a real repository over smart HTTP with git http-backend
// and counts the requests that reach it.
func gitServer(t *testing.T, ln net.Listener) (url, commit string, hits *atomic.Int64) {
	t.Helper()
	repo, commit := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\n", "hello.txt": "hi\n"})
	dir := strings.TrimPrefix(repo, "file://")
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(dir), "GIT_HTTP_EXPORT_ALL=1"},
	}
	hits = &atomic.Int64{}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		backend.ServeHTTP(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(dir), commit, hits
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func fetchWith(t *testing.T, policy egress.Policy, repo, commit string) (string, error, string) {
	t.Helper()
	store := &memLog{}
	w := New(Config{GitPath: "git", GitSchemes: []string{"http", "https", "ssh", "git"}, Security: Security{Egress: policy}},
		nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink := newLogSink(context.Background(), "job-1", store, w.log)
	dir := t.TempDir()
	err := w.fetch(context.Background(), dir, job.Source{Repository: repo, Commit: commit}, sink)
	sink.Close()
	return dir, err, store.text()
}

// TestFetchThroughEgressProxy fetches from a real git server over HTTP
// through the checking proxy: allowed when configured, refused at connect
// time otherwise, redirects included.
func TestFetchThroughEgressProxy(t *testing.T) {
	repo, commit, hits := gitServer(t, listen(t, "127.0.0.1:0"))
	port := repo[strings.LastIndex(repo, ":")+1 : strings.LastIndex(repo, "/")]
	path := repo[strings.LastIndex(repo, "/"):]
	only127001 := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

	t.Run("Allowed", func(t *testing.T) {
		dir, err, logText := fetchWith(t, only127001, repo, commit)
		if err != nil {
			t.Fatalf("fetch: %v\n%s", err, logText)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(b) != "hi\n" {
			t.Errorf("checkout lacks hello.txt: %q %v", b, err)
		}
	})
	t.Run("AllowPrivateNetworks", func(t *testing.T) {
		if _, err, logText := fetchWith(t, egress.Policy{AllowPrivate: true}, "http://localhost:"+port+path, commit); err != nil {
			t.Fatalf("fetch: %v\n%s", err, logText)
		}
	})

	// The inner server listens on 127.0.0.2, which only127001 forbids.
	inner, _, innerHits := gitServer(t, listen(t, "127.0.0.2:0"))
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner+strings.TrimPrefix(r.URL.RequestURI(), "/repo"), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	refused := []struct {
		name   string
		policy egress.Policy
		url    string
		reason string
	}{
		{"Loopback", egress.Policy{}, repo, "loopback"},
		{"Localhost", egress.Policy{}, "http://localhost:" + port + path, "loopback"},
		{"IPv6Loopback", egress.Policy{}, "http://[::1]:" + port + path, "loopback"},
		{"DecimalIP", egress.Policy{}, "http://2130706433:" + port + path, "loopback"},
		{"Metadata", egress.Policy{AllowPrivate: true}, "http://169.254.169.254/latest/meta-data", "metadata"},
		{"HTTPSMetadata", egress.Policy{AllowPrivate: true}, "https://169.254.169.254/x.git", "metadata"},
		{"RedirectInward", only127001, redirector.URL + "/repo", "127.0.0.2"},
		{"HostNotAllowed", egress.Policy{AllowPrivate: true, Hosts: []string{"git.example.com"}}, repo, "allowlist"},
		{"SSHLoopback", egress.Policy{}, "ssh://git@127.0.0.1:" + port + path, "loopback"},
		{"GitProtocolMetadata", egress.Policy{AllowPrivate: true}, "git://169.254.169.254/x.git", "metadata"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before, innerBefore := hits.Load(), innerHits.Load()
			_, err, logText := fetchWith(t, tt.policy, tt.url, commit)
			var f *job.Failure
			if !errors.As(err, &f) || f.Code != job.CodeEgressRefused || !f.Permanent || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want a permanent %s failure naming %q\n%s", err, job.CodeEgressRefused, tt.reason, logText)
			}
			if hits.Load() != before || innerHits.Load() != innerBefore {
				t.Errorf("a forbidden server was reached")
			}
		})
	}
}

func TestGitEnvDropsProxies(t *testing.T) {
	got := gitEnv([]string{"PATH=/bin", "HTTPS_PROXY=http://evil", "no_proxy=*", "GIT_PROXY_COMMAND=x", "ALL_PROXY=socks5://e"})
	want := "PATH=/bin NO_PROXY= no_proxy="
	if strings.Join(got, " ") != want {
		t.Errorf("gitEnv = %q, want %q", got, want)
	}
}

// TestGitProxyTunnel: CONNECT, as git uses for https, reaches an allowed
// address and is refused for a forbidden one before any connection.
func TestGitProxyTunnel(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "through")
	}))
	t.Cleanup(srv.Close)
	get := func(policy egress.Policy) (string, error) {
		store := &memLog{}
		px, err := startGitProxy(policy, newLogSink(context.Background(), "j", store, slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer px.Close()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: px.ln.Addr().String()})
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return "", errors.Join(err, px.failure())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if body, err := get(egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}); err != nil || body != "through" {
		t.Fatalf("allowed tunnel: %q, %v", body, err)
	}
	before := hits.Load()
	_, err := get(egress.Policy{})
	var f *job.Failure
	if !errors.As(err, &f) || f.Code != job.CodeEgressRefused || hits.Load() != before {
		t.Errorf("forbidden tunnel: err = %v, hits %d → %d", err, before, hits.Load())
	}
}
