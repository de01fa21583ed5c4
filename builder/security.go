package builder

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/cpuguy83/dockercfg"
	"github.com/distribution/reference"

	"github.com/slipwayci/slipway/internal/egress"
	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/job"
)

// Security holds a worker's defences against hostile build requests.
type Security struct {
	Egress          egress.Policy // what git's http(s) traffic may reach; Egress.Hosts is the git host allowlist
	RegistryHosts   []string      // registries images may be pushed to; empty: any
	MaxContextBytes int64         // largest build context sent to the daemon; 0: unbounded
	MaxContextFiles int           // most entries in a build context; 0: unbounded
	MaxLogBytes     int64         // largest stored build log; 0: unbounded
	MaxLogLines     int           // most stored build log lines (rows); 0: unbounded
	// MaxCheckoutBytes bounds a checkout's disk use, .git included; 0: unbounded.
	MaxCheckoutBytes int64
	Secrets          *redact.Masker // values masked in build logs besides the registry credentials
	// TrustedLocalTags leaves push: false images on the daemon under their
	// requested names, where later builds' FROM finds them: only for a host
	// whose every job is trusted (one tenant).
	TrustedLocalTags bool
}

// RegistrySecrets returns the passwords and tokens of the Docker config file,
// to be masked in build logs. Credential helpers are not asked: their
// secrets never pass through Slipway's output.
func RegistrySecrets(path string) []string {
	var cfg dockercfg.Config
	if path == "" || dockercfg.FromFile(path, &cfg) != nil {
		return nil
	}
	var out []string
	for _, a := range cfg.AuthConfigs {
		out = append(out, a.Password, a.IdentityToken, a.RegistryToken, a.Auth)
		if raw, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			if _, pass, ok := strings.Cut(string(raw), ":"); ok {
				out = append(out, pass)
			}
		}
	}
	return out
}

// checkRepositoryHost refuses a repository whose host is not on the git
// host allowlist before git runs. http(s) is checked again at connect time
// by the proxy, redirects included; ssh and git connect without a proxy, so
// their host's addresses are checked here, once, before git runs.
func (s Security) checkRepositoryHost(ctx context.Context, repo string) error {
	u, err := url.Parse(repo)
	if err != nil || u.Scheme == "file" {
		return nil
	}
	err = s.Egress.CheckHost(u.Hostname())
	if err == nil && u.Scheme != "http" && u.Scheme != "https" {
		_, err = s.Egress.Resolve(ctx, nil, u.Hostname())
	}
	if err != nil {
		return &job.Failure{Code: job.CodeEgressRefused, Message: "fetch refused", Permanent: true, Err: err}
	}
	return nil
}

// checkRegistry refuses to push to a registry not on the allowlist. The
// daemon, not Slipway, connects to the registry, so the host name is what
// can be checked.
func (s Security) checkRegistry(image string) error {
	if len(s.RegistryHosts) == 0 {
		return nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return &job.Failure{Code: job.CodeRegistryRefused, Message: "parse image name", Permanent: true, Err: err}
	}
	host := reference.Domain(named)
	if !job.HostListed(s.RegistryHosts, host) {
		return &job.Failure{Code: job.CodeRegistryRefused, Permanent: true,
			Message: fmt.Sprintf("registry %s is not in SLIPWAY_REGISTRY_HOSTS (%s)", host, strings.Join(s.RegistryHosts, ", "))}
	}
	return nil
}

// contextLimiter re-streams a build context tar, counting entries and bytes
// as they pass, and stops the stream once a limit is crossed. The daemon
// then sees a broken upload; failure says why.
type contextLimiter struct {
	pr *io.PipeReader

	mu  sync.Mutex
	err error
}

func limitContext(src io.ReadCloser, maxBytes int64, maxFiles int) io.ReadCloser {
	if maxBytes <= 0 && maxFiles <= 0 {
		return src
	}
	pr, pw := io.Pipe()
	l := &contextLimiter{pr: pr}
	go func() {
		defer src.Close()
		pw.CloseWithError(l.copy(tar.NewReader(src), tar.NewWriter(pw), maxBytes, maxFiles))
	}()
	return l
}

func (l *contextLimiter) copy(tr *tar.Reader, tw *tar.Writer, maxBytes int64, maxFiles int) error {
	var files int
	var size int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		files++
		size += h.Size
		var over string
		switch {
		case maxFiles > 0 && files > maxFiles:
			over = fmt.Sprintf("the build context has more than %d files (SLIPWAY_MAX_CONTEXT_FILES)", maxFiles)
		case maxBytes > 0 && size > maxBytes:
			over = fmt.Sprintf("the build context is larger than %d bytes (SLIPWAY_MAX_CONTEXT_BYTES)", maxBytes)
		}
		if over != "" {
			f := &job.Failure{Code: job.CodeContextTooLarge, Message: over + "; exclude files with .dockerignore", Permanent: true}
			l.mu.Lock()
			l.err = f
			l.mu.Unlock()
			return f
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

func (l *contextLimiter) Read(p []byte) (int, error) { return l.pr.Read(p) }
func (l *contextLimiter) Close() error               { return l.pr.Close() }

// contextFailure returns the limit the context crossed, if it did.
func contextFailure(r io.Reader) error {
	l, ok := r.(*contextLimiter)
	if !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
