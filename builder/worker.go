// Package builder runs builds: it claims jobs from the queue, fetches the
// commit with git, builds the image on a Docker daemon, pushes it and records
// the outcome.
package builder

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/job"
)

// Queue is what a worker needs of the job store.
type Queue interface {
	LogWriter
	Claim(ctx context.Context, owner string, lease time.Duration, perImage int) (*job.Job, error)
	Heartbeat(ctx context.Context, id, owner string, lease time.Duration) (cancel bool, err error)
	Succeed(ctx context.Context, id, owner string, res job.Result) error
	Fail(ctx context.Context, id, owner string, e job.Error, retryIn time.Duration) (job.State, error)
	Canceled(ctx context.Context, id, owner string) error
	Release(ctx context.Context, id, owner string) error
	Listen(ctx context.Context, onWork func(), onCancel func(id string))
}

// DockerAPI is the part of the Docker client a worker uses.
type DockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageTag(ctx context.Context, source, target string) error
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	DialHijack(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error) // BuildKit's /grpc and /session
}

// Config tunes a Worker.
type Config struct {
	Owner            string        // unique name of this process, recorded on claimed jobs
	Concurrency      int           // builds run at once
	Lease            time.Duration // how long a claim holds without renewal; renewed every third of it
	PollInterval     time.Duration // how often an idle worker looks for work without a notification
	ImageConcurrency int           // builds of one image run at once over all workers (0: no limit)
	DefaultTimeout   time.Duration // a build's timeout when its job names none
	RetryBackoff     time.Duration // delay before the first retry; doubled for each further one
	MaxBackoff       time.Duration // longest delay between retries
	ShutdownGrace    time.Duration // how long running builds may go on after shutdown begins
	DockerCheck      time.Duration // how often the daemon is pinged
	GitPath          string        // the git executable
	GitSchemes       []string      // URL schemes git may use
	GitAuth          GitAuth       // credentials for private repositories (gitauth.go)
	DockerConfig     string        // path of the Docker config.json with registry credentials
	WorkDir          string        // where checkouts are made; "" for the system temp dir
	SecretsDir       string        // build secrets and ssh keys, one file per id (buildkit_secrets.go); "" for none
	Metrics          Metrics       // measurements of the builds; nil measures nothing
	Security         Security      // defences against hostile requests (security.go)
}

// Why a running build's context ends early.
var (
	errCanceled  = errors.New("canceled on request")
	errLeaseLost = errors.New("lease lost to another worker")
	errShutdown  = errors.New("worker shutting down")
	errTimeout   = errors.New("build timeout")
)

// Worker runs Concurrency builds at a time until its context ends.
type Worker struct {
	cfg    Config
	queue  Queue
	docker DockerAPI
	log    *slog.Logger

	wakeup   chan struct{}
	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc
	notReady atomic.Pointer[error] // why the daemon cannot take builds; nil when it can
	draining atomic.Bool
}

// New returns a Worker that takes jobs from queue and builds them with docker.
func New(cfg Config, queue Queue, docker DockerAPI, log *slog.Logger) *Worker {
	w := &Worker{cfg: cfg, queue: queue, docker: docker, log: log,
		wakeup: make(chan struct{}, cfg.Concurrency), running: map[string]context.CancelCauseFunc{}}
	starting := errors.New("docker daemon not checked yet")
	w.notReady.Store(&starting)
	return w
}

// Ready returns nil when the worker is claiming jobs, or why it is not (the
// Docker daemon does not answer, or the worker is shutting down).
func (w *Worker) Ready(context.Context) error {
	if w.draining.Load() {
		return errShutdown
	}
	if p := w.notReady.Load(); p != nil {
		return *p
	}
	return nil
}

// Run claims and runs jobs until ctx ends, then stops claiming, lets running
// builds go on for the shutdown grace period, and hands back those still
// running after it.
func (w *Worker) Run(ctx context.Context) error {
	// Builds outlive ctx by up to the grace period.
	buildCtx, stopBuilds := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopBuilds(errShutdown)
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { w.queue.Listen(bgCtx, w.wake, w.cancelRunning) })
	bg.Go(func() { w.watchDocker(ctx) })

	var loops sync.WaitGroup
	for range w.cfg.Concurrency {
		loops.Go(func() { w.loop(ctx, buildCtx) })
	}
	done := make(chan struct{})
	go func() { loops.Wait(); close(done) }()

	select {
	case <-done:
	case <-ctx.Done():
		w.draining.Store(true)
		w.log.InfoContext(buildCtx, "worker draining", "grace", w.cfg.ShutdownGrace)
		select {
		case <-done:
		case <-time.After(w.cfg.ShutdownGrace):
			stopBuilds(errShutdown)
			<-done
		}
	}
	stopBackground()
	bg.Wait()
	return nil
}

func (w *Worker) wake() {
	for range cap(w.wakeup) {
		select {
		case w.wakeup <- struct{}{}:
		default:
		}
	}
}

func (w *Worker) cancelRunning(id string) {
	w.mu.Lock()
	cancel := w.running[id]
	w.mu.Unlock()
	if cancel != nil {
		cancel(errCanceled)
	}
}

// loop claims and runs one job at a time until ctx ends.
func (w *Worker) loop(ctx, buildCtx context.Context) {
	for ctx.Err() == nil {
		if w.Ready(ctx) != nil {
			w.idle(ctx)
			continue
		}
		// A claim that commits must be seen, even if shutdown begins meanwhile.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		j, err := w.queue.Claim(cctx, w.cfg.Owner, w.cfg.Lease, w.cfg.ImageConcurrency)
		cancel()
		if err != nil {
			if !errors.Is(err, job.ErrQueueEmpty) {
				w.log.ErrorContext(ctx, "claim job", "err", err)
			}
			w.idle(ctx)
			continue
		}
		w.runJob(buildCtx, j)
	}
}

// idle waits for a notification or the poll interval.
func (w *Worker) idle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-w.wakeup:
	case <-time.After(w.cfg.PollInterval):
	}
}
