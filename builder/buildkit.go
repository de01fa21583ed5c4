package builder

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/slipwayci/slipway/job"
)

// Names of the directories the Dockerfile frontend asks the session for.
const (
	localContext    = "context"
	localDockerfile = "dockerfile"
)

// dialBuildKit connects to the BuildKit inside the Docker daemon through its
// /grpc and /session endpoints, the way buildx's docker driver does, and
// checks that it answers. A daemon without BuildKit is a permanent failure:
// the job asked for something only BuildKit can build.
func (w *Worker) dialBuildKit(ctx context.Context) (*bkclient.Client, error) {
	c, err := bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return w.docker.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return w.docker.DialHijack(ctx, "/session", proto, meta)
		}))
	if err != nil {
		return nil, &job.Failure{Code: job.CodeBuild, Message: "connect to BuildKit", Err: err}
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := c.ListWorkers(lctx); err != nil {
		c.Close()
		if daemonDown(err) || ctx.Err() != nil {
			return nil, &job.Failure{Code: job.CodeBuild, Message: "connect to BuildKit", Err: err}
		}
		if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable && !strings.Contains(strings.ToLower(s.Message()), "404") {
			return nil, &job.Failure{Code: job.CodeBuild, Message: "connect to BuildKit", Err: err}
		}
		return nil, &job.Failure{Code: job.CodeBuildKitUnavailable, Permanent: true,
			Message: "this job needs BuildKit, and the Docker daemon does not serve it (Docker Engine 20.10 or newer with BuildKit enabled)", Err: err}
	}
	return c, nil
}

// buildKit builds the checkout in dir with BuildKit and returns its steps.
// The context and the Dockerfile are served through the session from the
// checkout, filtered by the frontend's .dockerignore handling and bounded
// by the same limits as the classic builder's tar.
func (w *Worker) buildKit(ctx context.Context, dir string, spec job.Spec, local string, log *logSink) ([]job.Step, error) {
	paths, err := resolvePaths(dir, spec.Build)
	if err != nil {
		return nil, err
	}
	attach, err := w.sessionAttachables(spec.Build)
	if err != nil {
		return nil, err
	}
	c, err := w.dialBuildKit(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	ctxFS, err := fsutil.NewFS(paths.context)
	if err != nil {
		return nil, &job.Failure{Code: job.CodeContext, Message: "open build context", Permanent: true, Err: err}
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(paths.dockerfile))
	if err != nil {
		return nil, &job.Failure{Code: job.CodeContext, Message: "open dockerfile directory", Permanent: true, Err: err}
	}
	limits := &contextLimits{maxBytes: w.cfg.Security.MaxContextBytes, maxFiles: w.cfg.Security.MaxContextFiles}
	solveCtx, cancelSolve := context.WithCancelCause(ctx)
	defer cancelSolve(nil)
	limits.stop = cancelSolve

	log.Printf("==> building %s as %s with BuildKit (dockerfile %s, context %s)", strings.Join(spec.References(), ", "), local, spec.Build.Dockerfile, spec.Build.Context)
	if spec.Build.Network != "" {
		log.Printf("==> RUN steps use network %s", spec.Build.Network)
	}
	opt := bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(spec.Build, filepath.Base(paths.dockerfile)),
		LocalMounts:   map[string]fsutil.FS{localContext: ctxFS, localDockerfile: dfFS},
		LocalFilterOpt: func(name string, o *fsutil.FilterOpt) error {
			if name == localContext {
				o.Map = limits.mapper()
			}
			return nil
		},
		Exports: []bkclient.ExportEntry{{Type: "moby", Attrs: map[string]string{"name": local}}},
		Session: attach,
	}
	if spec.Build.Network == "host" {
		opt.AllowedEntitlements = []string{"network.host"}
	}
	if spec.Build.Cache != nil {
		for _, ref := range spec.Build.Cache.From {
			opt.CacheImports = append(opt.CacheImports, bkclient.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": ref}})
		}
	}

	progress := newProgress(log)
	statusCh := make(chan *bkclient.SolveStatus)
	solved := make(chan error, 1)
	go func() {
		var shown sync.WaitGroup
		shown.Go(func() { progress.run(statusCh) })
		_, err := c.Solve(solveCtx, nil, opt, statusCh)
		shown.Wait()
		solved <- err
	}()
	select {
	case err = <-solved:
	case <-ctx.Done():
		// The daemon stops the build as soon as the solve's context ends; the
		// client then waits up to 5 s for a status stream that a canceled
		// build may never close, which a cancel must not wait for.
		select {
		case err = <-solved:
		case <-time.After(time.Second):
			return progress.steps(), ctx.Err()
		}
	}
	steps := progress.steps()
	if f := limits.failure(); f != nil {
		return steps, f
	}
	if err != nil {
		if ctx.Err() != nil {
			return steps, ctx.Err()
		}
		return steps, buildKitFailure(err, progress.failedStep())
	}
	return steps, nil
}

// frontendAttrs turns the build request into the Dockerfile frontend's
// options. Labels go into the image configuration directly: no step.
func frontendAttrs(b job.Build, dockerfile string) map[string]string {
	attrs := map[string]string{"filename": dockerfile}
	if b.Target != "" {
		attrs["target"] = b.Target
	}
	if b.NoCache {
		attrs["no-cache"] = ""
	}
	switch b.Network {
	case "none", "host":
		attrs["force-network-mode"] = b.Network
	}
	for k, v := range b.Args {
		attrs["build-arg:"+k] = v
	}
	// The pushed image carries its cache, so a build on another daemon can
	// start from it (build.cache.from).
	if _, set := b.Args["BUILDKIT_INLINE_CACHE"]; !set {
		attrs["build-arg:BUILDKIT_INLINE_CACHE"] = "1"
	}
	for k, v := range b.Labels {
		attrs["label:"+k] = v
	}
	return attrs
}

// buildKitFailure names the step that broke, as the classic path does.
func buildKitFailure(err error, step string) error {
	msg := "build failed"
	if step != "" {
		msg = "build failed at " + step
	}
	f := &job.Failure{Code: job.CodeBuild, Message: msg, Err: err}
	if missingFrontend(err) {
		f.Permanent = true
		f.Message = "the Dockerfile's # syntax= frontend image is not available to the daemon; " +
			"load it (deploy/offline/build-images.sh builds docker/dockerfile:1 from the Go module proxy) or make its registry reachable"
	}
	return f
}

// missingFrontend reports a failed solve whose Dockerfile named a frontend
// image (# syntax=) the daemon could not find or fetch.
func missingFrontend(err error) bool {
	s := err.Error()
	return strings.Contains(s, "docker-image://") && strings.Contains(s, "dockerfile") &&
		(strings.Contains(s, "failed to resolve") || strings.Contains(s, "failed to do request") || strings.Contains(s, "not found"))
}

// contextLimits counts what the session sends of the build context and
// stops the solve once a limit is crossed; the frontend's .dockerignore
// filter has run by then, so only what is sent counts, as in the tar path.
type contextLimits struct {
	maxBytes int64
	maxFiles int
	stop     context.CancelCauseFunc

	mu  sync.Mutex
	err error
}

// mapper returns the filter that counts one request for the context. Every
// entry is sent as owned by root, as in the tar path.
func (l *contextLimits) mapper() fsutil.MapFunc {
	var files int
	var size int64
	return func(_ string, st *fstypes.Stat) fsutil.MapResult {
		st.Uid, st.Gid = 0, 0
		files++
		size += st.Size
		var over string
		switch {
		case l.maxFiles > 0 && files > l.maxFiles:
			over = fmt.Sprintf("the build context has more than %d files (SLIPWAY_MAX_CONTEXT_FILES)", l.maxFiles)
		case l.maxBytes > 0 && size > l.maxBytes:
			over = fmt.Sprintf("the build context is larger than %d bytes (SLIPWAY_MAX_CONTEXT_BYTES)", l.maxBytes)
		}
		if over == "" {
			return fsutil.MapResultKeep
		}
		l.mu.Lock()
		if l.err == nil {
			l.err = &job.Failure{Code: job.CodeContextTooLarge, Message: over + "; exclude files with .dockerignore", Permanent: true}
			l.stop(l.err)
		}
		l.mu.Unlock()
		return fsutil.MapResultSkipDir
	}
}

func (l *contextLimits) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
