package builder

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	archive "github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/slipwayci/slipway/job"
)

// buildContext is the tar stream sent to the daemon and the Dockerfile's name
// inside it.
type buildContext struct {
	tar        io.ReadCloser
	dockerfile string
}

// makeContext tars the build context of a checkout, honouring .dockerignore
// the way the docker CLI does. Paths were validated when the job was accepted;
// here symlinks are resolved so nothing outside the checkout is ever read.
func makeContext(root string, b job.Build) (*buildContext, error) {
	fail := func(msg string, err error) error {
		return &job.Failure{Code: job.CodeContext, Message: msg, Permanent: true, Err: err}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fail("resolve checkout", err)
	}
	ctxDir, err := inside(realRoot, b.Context)
	if err != nil {
		return nil, fail("build context "+b.Context, err)
	}
	if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
		return nil, fail("build context "+b.Context+" is not a directory in the repository", err)
	}
	dfPath, err := inside(realRoot, b.Dockerfile)
	if err != nil {
		return nil, fail("dockerfile "+b.Dockerfile, err)
	}
	if fi, err := os.Stat(dfPath); err != nil || !fi.Mode().IsRegular() {
		return nil, fail("dockerfile "+b.Dockerfile+" is not a file in the repository", err)
	}

	excludes, err := readDockerignore(ctxDir)
	if err != nil {
		return nil, fail("read .dockerignore", err)
	}
	rel, err := filepath.Rel(ctxDir, dfPath)
	if err != nil {
		return nil, fail("dockerfile "+b.Dockerfile, err)
	}
	outside := rel == ".." || strings.HasPrefix(rel, "../")
	if !outside {
		rel = filepath.ToSlash(rel)
		excludes = trimBuildFilesFromExcludes(excludes, rel)
	}
	tarball, err := archive.TarWithOptions(ctxDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		Compression:     compression.None,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fail("tar build context", err)
	}
	if !outside {
		return &buildContext{tar: tarball, dockerfile: rel}, nil
	}
	// Like `docker build -f ../Dockerfile`: a Dockerfile outside the context
	// travels inside the tar under a name nothing in the context can have.
	content, err := os.ReadFile(dfPath)
	if err != nil {
		tarball.Close()
		return nil, fail("read dockerfile", err)
	}
	name, err := randomDockerfileName()
	if err != nil {
		tarball.Close()
		return nil, fail("name dockerfile", err)
	}
	wrapped := archive.ReplaceFileTarWrapper(tarball, map[string]archive.TarModifierFunc{
		name: func(_ string, h *tar.Header, _ io.Reader) (*tar.Header, []byte, error) {
			return &tar.Header{Name: name, Mode: 0o600, Size: int64(len(content)), Typeflag: tar.TypeReg}, content, nil
		},
	})
	return &buildContext{tar: wrapped, dockerfile: name}, nil
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

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

// trimBuildFilesFromExcludes keeps the Dockerfile and .dockerignore in the
// context even when .dockerignore excludes them, as the docker CLI does
// (cli/command/image/build/context.go): the daemon needs the Dockerfile, and
// both must change the cache key when they change.
func trimBuildFilesFromExcludes(excludes []string, dockerfile string) []string {
	if keep, _ := patternmatcher.MatchesOrParentMatches(".dockerignore", excludes); keep {
		excludes = append(excludes, "!.dockerignore")
	}
	if keep, _ := patternmatcher.MatchesOrParentMatches(dockerfile, excludes); keep {
		excludes = append(excludes, "!"+dockerfile)
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
