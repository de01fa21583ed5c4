package builder

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slipwayci/slipway/internal/egress"
	"github.com/slipwayci/slipway/job"
)

// gitProxy is a forward proxy on 127.0.0.1 that a fetch's http(s) traffic
// is sent through. git resolves nothing itself: the proxy resolves each host,
// checks the addresses against the egress policy and dials the address it
// checked, so neither a redirect nor a DNS answer that changes between check
// and connect (rebinding) reaches a forbidden address. A proxy is needed
// because git offers no hook between its resolver and connect(2).
type gitProxy struct {
	policy egress.Policy
	dialer *net.Dialer
	ln     net.Listener
	srv    *http.Server
	log    *logSink

	mu      sync.Mutex
	refused error
	conns   map[net.Conn]struct{}
}

func startGitProxy(policy egress.Policy, log *logSink) (*gitProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &gitProxy{policy: policy, dialer: policy.Dialer(), ln: ln, log: log, conns: map[net.Conn]struct{}{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// gitArgs sends every http(s) request of git, redirects included, through
// the proxy.
func (p *gitProxy) gitArgs() []string {
	return []string{"-c", "http.proxy=http://" + p.ln.Addr().String()}
}

// Close stops the proxy and every tunnel still open.
func (p *gitProxy) Close() {
	_ = p.srv.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// failure returns the first refused connection as a job failure, or nil.
func (p *gitProxy) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refused == nil {
		return nil
	}
	return &job.Failure{Code: job.CodeEgressRefused, Message: "fetch refused", Permanent: true, Err: p.refused}
}

func (p *gitProxy) refuse(w http.ResponseWriter, err error) {
	p.mu.Lock()
	if p.refused == nil {
		p.refused = err
	}
	p.mu.Unlock()
	p.log.Printf("==> %v", err)
	http.Error(w, err.Error(), http.StatusForbidden)
}

// target resolves and checks host:port, returning the address to dial.
func (p *gitProxy) target(ctx context.Context, hostport, defPort string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, defPort
	}
	ip, err := p.policy.Resolve(ctx, nil, host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), port), nil
}

func (p *gitProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "only absolute http URLs are proxied", http.StatusBadRequest)
		return
	}
	addr, err := p.target(r.Context(), r.URL.Host, "80")
	if err != nil {
		p.refuse(w, err)
		return
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return p.dialer.DialContext(ctx, network, addr)
		},
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	defer tr.CloseIdleConnections()
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	// The transport, not git, decides redirects: git sees each one and asks
	// the proxy again, so every hop is checked.
	resp, err := tr.RoundTrip(out)
	if err != nil {
		p.fail(w, err)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// fail answers a connection error, recording it as a refusal when the dialer
// refused the address.
func (p *gitProxy) fail(w http.ResponseWriter, err error) {
	var re *egress.RefusedError
	if errors.As(err, &re) {
		p.refuse(w, re)
		return
	}
	http.Error(w, err.Error(), http.StatusBadGateway)
}

func (p *gitProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	addr, err := p.target(r.Context(), r.Host, "443")
	if err != nil {
		p.refuse(w, err)
		return
	}
	upstream, err := p.dialer.DialContext(r.Context(), "tcp", addr)
	if err != nil {
		p.fail(w, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "tunnelling unsupported", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if !p.track(client, upstream) {
		return
	}
	defer p.untrack(client, upstream)
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(upstream, buf.Reader)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, upstream)
		done <- struct{}{}
	}()
	<-done
}

// track registers open tunnel connections so Close can end them; it refuses
// (closing them) once the proxy has closed.
func (p *gitProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *gitProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		if p.conns != nil {
			delete(p.conns, c)
		}
	}
}

// gitEnv drops proxy settings inherited from the environment: with any of
// them git could reach a host without asking the checking proxy.
func gitEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(name) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "git_proxy_command":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "NO_PROXY=", "no_proxy=")
}
