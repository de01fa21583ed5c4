package builder

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	archive "github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/slipwayci/slipway/job"
)

// buildContext is the tar stream sent to the daemon, the Dockerfile's name
// inside it, and the labels still to be passed with the build request (nil
// when they were written into the Dockerfile, see labels.go).
type buildContext struct {
	tar        io.ReadCloser
	dockerfile string
	labels     map[string]string
}

// makeContext tars the build context of a checkout, honouring .dockerignore
// the way the docker CLI does.
func makeContext(root string, b job.Build) (*buildContext, error) {
	fail := func(msg string, err error) error {
		return &job.Failure{Code: job.CodeContext, Message: msg, Permanent: true, Err: err}
	}
	paths, err := resolvePaths(root, b)
	if err != nil {
		return nil, err
	}
	ctxDir, dfPath := paths.context, paths.dockerfile
	ignore, err := readDockerignore(ctxDir)
	if err != nil {
		return nil, fail("read .dockerignore", err)
	}
	rel, err := filepath.Rel(ctxDir, dfPath)
	if err != nil {
		return nil, fail("dockerfile "+b.Dockerfile, err)
	}
	rel = filepath.ToSlash(rel)
	outside := rel == ".." || strings.HasPrefix(rel, "../")

	content, err := readLimited(dfPath, maxDockerfileBytes)
	if err != nil {
		return nil, fail("read dockerfile", err)
	}
	// A Dockerfile outside the context, or one rewritten here, travels inside
	// the tar under a name nothing in the context can have.
	name, err := randomDockerfileName()
	if err != nil {
		return nil, fail("name dockerfile", err)
	}
	labels, written := withLabels(content, b, ignore, outside, name)
	excludes := keepDockerignore(ignore.patterns)
	if !outside && written == nil {
		excludes = keepFile(excludes, rel)
	}
	tarball, err := archive.TarWithOptions(ctxDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		Compression:     compression.None,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fail("tar build context", err)
	}
	if !outside && written == nil {
		return &buildContext{tar: tarball, dockerfile: rel, labels: labels}, nil
	}
	if written != nil {
		content = written
	}
	// Like `docker build -f ../Dockerfile`: .dockerignore names the added
	// Dockerfile so the daemon drops it from the context once read, and a
	// COPY . never sees it.
	wrapped := archive.ReplaceFileTarWrapper(tarball, map[string]archive.TarModifierFunc{
		name: func(_ string, h *tar.Header, _ io.Reader) (*tar.Header, []byte, error) {
			return &tar.Header{Name: name, Mode: 0o600, Size: int64(len(content)), Typeflag: tar.TypeReg}, content, nil
		},
		".dockerignore": func(_ string, h *tar.Header, r io.Reader) (*tar.Header, []byte, error) {
			if h == nil {
				h = &tar.Header{Name: ".dockerignore", Mode: 0o600, Typeflag: tar.TypeReg}
				return h, []byte(".dockerignore\n" + name + "\n"), nil
			}
			b, err := io.ReadAll(r)
			if err != nil || ignore.ignores(name) {
				return h, b, err
			}
			return h, append(b, "\n"+name+"\n"...), nil
		},
	})
	return &buildContext{tar: wrapped, dockerfile: name, labels: labels}, nil
}

// buildPaths are a build's context directory and Dockerfile, resolved inside
// the checkout.
type buildPaths struct {
	context, dockerfile string
}

// resolvePaths finds the context and the Dockerfile of b in the checkout at
// root. Paths were validated when the job was accepted; here symlinks are
// resolved so nothing outside the checkout is ever read.
func resolvePaths(root string, b job.Build) (buildPaths, error) {
	fail := func(msg string, err error) error {
		return &job.Failure{Code: job.CodeContext, Message: msg, Permanent: true, Err: err}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return buildPaths{}, fail("resolve checkout", err)
	}
	ctxDir, err := inside(realRoot, b.Context)
	if err != nil {
		return buildPaths{}, fail("build context "+b.Context, err)
	}
	if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
		return buildPaths{}, fail("build context "+b.Context+" is not a directory in the repository", err)
	}
	dfPath, err := inside(realRoot, b.Dockerfile)
	if err != nil {
		return buildPaths{}, fail("dockerfile "+b.Dockerfile, err)
	}
	if fi, err := os.Stat(dfPath); err != nil || !fi.Mode().IsRegular() {
		return buildPaths{}, fail("dockerfile "+b.Dockerfile+" is not a file in the repository", err)
	}
	return buildPaths{context: ctxDir, dockerfile: dfPath}, nil
}

// withLabels decides where the build's labels go. It returns the Dockerfile
// with them appended as one LABEL instruction when that is safe, and the
// labels to pass with the build request otherwise. They stay with the request
// when a target is built (the labels belong on the target stage, and finding
// its end needs a full Dockerfile parser), when the Dockerfile ends in a line
// continuation, when a label cannot be written as Dockerfile text, and when
// naming the rewritten Dockerfile in .dockerignore would change what a
// `COPY .` copies (an existing .dockerignore that keeps itself and a Dockerfile
// inside the context: a Dockerfile outside it is renamed anyway).
func withLabels(dockerfile []byte, b job.Build, ignore dockerignore, outside bool, name string) (map[string]string, []byte) {
	if len(b.Labels) == 0 {
		return nil, nil
	}
	// An empty Dockerfile keeps the daemon's own error for it.
	if b.Target != "" || continuesLine(dockerfile) || len(bytes.TrimSpace(dockerfile)) == 0 {
		return b.Labels, nil
	}
	if !outside && ignore.exists && !ignore.ignores(".dockerignore") && !ignore.ignores(name) {
		return b.Labels, nil
	}
	lines, ok := labelInstructions(b.Labels)
	if !ok {
		return b.Labels, nil
	}
	out := make([]byte, 0, len(dockerfile)+1+len(lines))
	out = append(out, dockerfile...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return nil, append(out, lines...)
}

// inside resolves rel under root, following symlinks, and refuses any path
// that ends up outside root.
func inside(root, rel string) (string, error) {
	p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", fmt.Errorf("not found in the repository")
	}
	r, err := filepath.Rel(root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", errors.New("resolves outside the repository (symbolic link?)")
	}
	return p, nil
}

// dockerignore is a context's .dockerignore.
type dockerignore struct {
	exists   bool
	patterns []string
}

// ignores reports whether the daemon drops name, a file at the top of the
// context, from the context after reading the Dockerfile.
func (d dockerignore) ignores(name string) bool {
	if !d.exists {
		return false
	}
	m, _ := patternmatcher.MatchesOrParentMatches(name, d.patterns)
	return m
}

// Limits on the files Slipway reads whole from a checkout. Every file of the
// context is matched against every .dockerignore pattern, so their number is
// bounded too.
const (
	maxDockerfileBytes     = 1 << 20
	maxDockerignoreBytes   = 256 << 10
	maxDockerignorePattern = 10000
)

func readDockerignore(dir string) (dockerignore, error) {
	data, err := readLimited(filepath.Join(dir, ".dockerignore"), maxDockerignoreBytes)
	if errors.Is(err, os.ErrNotExist) {
		return dockerignore{}, nil
	}
	if err != nil {
		return dockerignore{}, err
	}
	p, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err == nil && len(p) > maxDockerignorePattern {
		err = fmt.Errorf("more than %d patterns", maxDockerignorePattern)
	}
	return dockerignore{exists: true, patterns: p}, err
}

// readLimited reads a file of at most limit bytes, and refuses a larger one
// before reading it.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	return data, err
}

// keepDockerignore and keepFile keep .dockerignore and the Dockerfile in the
// context even when .dockerignore excludes them, as the docker CLI does
// (cli/command/image/build/context.go): the daemon reads both, and drops
// them from the context itself when they are excluded.
func keepDockerignore(excludes []string) []string {
	return keepFile(excludes, ".dockerignore")
}

func keepFile(excludes []string, name string) []string {
	if keep, _ := patternmatcher.MatchesOrParentMatches(name, excludes); keep {
		excludes = append(slices.Clip(excludes), "!"+name)
	}
	return excludes
}

func randomDockerfileName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return ".dockerfile." + hex.EncodeToString(b[:]), nil
}
