// Package builder runs builds: it claims jobs from the queue, fetches the
// commit with git, builds the image on a Docker daemon, pushes it and records
// the outcome.
package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
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
	DockerConfig     string        // path of the Docker config.json with registry credentials
	WorkDir          string        // where checkouts are made; "" for the system temp dir
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

// watchDocker pings the daemon and keeps the worker from claiming while it
// does not answer; claiming resumes when it does.
func (w *Worker) watchDocker(ctx context.Context) {
	t := time.NewTicker(w.cfg.DockerCheck)
	defer t.Stop()
	for {
		w.checkDocker(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) checkDocker(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, max(w.cfg.DockerCheck, 2*time.Second))
	_, err := w.docker.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		err = fmt.Errorf("docker daemon does not answer: %w", err)
		if old := w.notReady.Swap(&err); old == nil || (*old).Error() != err.Error() {
			w.log.WarnContext(ctx, "not claiming jobs", "err", err)
		}
		return
	}
	if old := w.notReady.Swap(nil); old != nil {
		w.log.InfoContext(ctx, "docker daemon answers; claiming jobs", "was", (*old).Error())
		w.wake()
	}
}

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

func (w *Worker) runJob(buildCtx context.Context, j *job.Job) {
	log := w.log.With("job_id", j.ID)
	jobCtx, cancelJob := context.WithCancelCause(buildCtx)
	defer cancelJob(nil)
	w.mu.Lock()
	w.running[j.ID] = cancelJob
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, j.ID)
		w.mu.Unlock()
	}()

	var hb sync.WaitGroup
	hbCtx, stopHeartbeat := context.WithCancel(jobCtx)
	hb.Go(func() { w.heartbeat(hbCtx, j.ID, cancelJob, log) })

	execCtx, cancelExec := context.WithTimeoutCause(jobCtx, w.timeout(j), errTimeout)
	defer cancelExec()

	log.InfoContext(execCtx, "build started", "attempt", j.Attempt, "repository", j.Source.Repository, "commit", j.Source.Commit)
	start := time.Now()
	w.metrics().JobStarted(j.Attempt)
	sink := w.newJobLog(execCtx, j, log)
	sink.Printf("==> attempt %d on %s", j.Attempt, w.cfg.Owner)
	res, err := w.execute(execCtx, j, sink)
	cause := context.Cause(execCtx)
	if err != nil && cause != nil {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	switch {
	case err != nil:
		sink.Printf("==> attempt %d failed: %v", j.Attempt, err)
	default:
		sink.Printf("==> succeeded: %s", res.Digest)
	}
	sink.Close()
	stopHeartbeat()
	hb.Wait()

	// The outcome is recorded even when shutdown has begun.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(buildCtx), 30*time.Second)
	defer cancel()
	elapsed := time.Since(start)
	outcome := string(job.StateSucceeded)
	switch {
	case err == nil:
		log.InfoContext(ctx, "build succeeded", "digest", res.Digest, "duration", elapsed)
		err = w.queue.Succeed(ctx, j.ID, w.cfg.Owner, res)
	case errors.Is(cause, errLeaseLost):
		log.WarnContext(ctx, "build abandoned: lease lost", "duration", elapsed)
		outcome = "abandoned"
	case errors.Is(cause, errCanceled):
		log.InfoContext(ctx, "build canceled", "duration", elapsed)
		outcome = string(job.StateCanceled)
		err = w.queue.Canceled(ctx, j.ID, w.cfg.Owner)
	case errors.Is(cause, errShutdown):
		log.InfoContext(ctx, "build handed back at shutdown", "duration", elapsed)
		outcome = "released"
		err = w.queue.Release(ctx, j.ID, w.cfg.Owner)
	default:
		outcome = string(job.StateFailed)
		err = w.fail(ctx, j, err, cause, elapsed, log)
	}
	if err != nil {
		log.ErrorContext(ctx, "record build outcome", "err", err)
	}
	w.metrics().JobFinished(outcome, queueWait(j), elapsed)
}

func (w *Worker) fail(ctx context.Context, j *job.Job, err, cause error, elapsed time.Duration, log *slog.Logger) error {
	e := job.Error{Code: job.CodeInternal, Message: w.secrets().String(err.Error())}
	var f *job.Failure
	if errors.As(err, &f) {
		e.Code = f.Code
	}
	retryIn := time.Duration(-1)
	switch {
	case errors.Is(cause, errTimeout):
		e.Code = job.CodeTimeout
		e.Message = fmt.Sprintf("the build ran past its timeout of %s", w.timeout(j))
	case Transient(err):
		retryIn = w.backoff(j.Attempt)
		if daemonDown(err) {
			// Stop claiming until the watcher sees the daemon again.
			w.checkDocker(ctx)
		}
	}
	state, ferr := w.queue.Fail(ctx, j.ID, w.cfg.Owner, e, retryIn)
	log.InfoContext(ctx, "build failed", "attempt", j.Attempt, "code", e.Code, "err", err,
		"transient", retryIn >= 0, "next_state", state, "duration", elapsed)
	return ferr
}

// timeout is how long one attempt at j may take.
func (w *Worker) timeout(j *job.Job) time.Duration {
	if j.TimeoutSeconds > 0 {
		return time.Duration(j.TimeoutSeconds) * time.Second
	}
	return w.cfg.DefaultTimeout
}

// backoff is the delay before retrying after the given attempt: exponential,
// capped, with jitter over its upper half so retries from many jobs spread.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.RetryBackoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// heartbeat renews the job's lease every third of the lease and stops the
// build when a cancel was requested or the lease was lost.
func (w *Worker) heartbeat(ctx context.Context, id string, cancelJob context.CancelCauseFunc, log *slog.Logger) {
	every := w.cfg.Lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	lastRenewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, every)
		cancelRequested, err := w.queue.Heartbeat(hctx, id, w.cfg.Owner, w.cfg.Lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, job.ErrLeaseLost):
			cancelJob(errLeaseLost)
			return
		case err != nil:
			log.WarnContext(ctx, "renew lease", "err", err)
			if time.Since(lastRenewed) > w.cfg.Lease {
				// Another worker may already have the job.
				cancelJob(errLeaseLost)
				return
			}
		case cancelRequested:
			cancelJob(errCanceled)
			return
		default:
			lastRenewed = time.Now()
		}
	}
}

// buildCheckout tars the checkout in dir and builds it, a second time at
// once if the first build met the daemon's cache-lookup race.
func (w *Worker) buildCheckout(ctx context.Context, dir string, spec job.Spec, local string, log *logSink) error {
	err := w.buildOnce(ctx, dir, spec, local, log)
	if cacheRace(err) {
		log.Printf("==> an image in the daemon's build cache was removed while this build read it; building again")
		err = w.buildOnce(ctx, dir, spec, local, log)
	}
	return err
}

func (w *Worker) buildOnce(ctx context.Context, dir string, spec job.Spec, local string, log *logSink) error {
	bc, err := makeContext(dir, spec.Build)
	if err != nil {
		return err
	}
	defer bc.tar.Close()
	_, err = w.build(ctx, spec, local, bc, log)
	return err
}

// cacheRace reports a build that failed because the classic builder's cache
// lookup met an image another client removed meanwhile: the lookup reads
// every child of the step's parent (for FROM scratch, every image without a
// parent), and any one removed between its listing and its reading fails
// the build (moby daemon/images/cache.go, GetCachedImage). Building again at
// once succeeds; it is no fault of the job's.
func cacheRace(err error) bool {
	var f *job.Failure
	return errors.As(err, &f) && f.Code == job.CodeBuild && strings.Contains(err.Error(), `unable to find image "sha256:`)
}

// execute fetches, builds and pushes one job.
func (w *Worker) execute(ctx context.Context, j *job.Job, log *logSink) (job.Result, error) {
	dir, err := os.MkdirTemp(w.cfg.WorkDir, "slipway-"+j.ID+"-")
	if err != nil {
		return job.Result{}, fmt.Errorf("make checkout directory: %w", err)
	}
	defer os.RemoveAll(dir)

	if err := w.fetch(ctx, dir, j.Source, log); err != nil {
		return job.Result{}, err
	}
	local := j.LocalImage()
	keep := false
	defer func() {
		if !keep {
			w.removeImage(context.WithoutCancel(ctx), local, log)
		}
	}()
	if err := w.buildCheckout(ctx, dir, j.Spec, local, log); err != nil {
		return job.Result{}, err
	}
	if !j.Push && !w.cfg.Security.TrustedLocalTags {
		keep = true
		log.Printf("==> push: false: the image stays on the daemon as %s only", local)
		return job.Result{Images: []string{local}}, nil
	}
	if !j.Push {
		if err := w.tagRequested(ctx, local, j.References()); err != nil {
			return job.Result{}, err
		}
		return job.Result{Images: j.References()}, nil
	}
	res := job.Result{Images: j.References()}
	if res.Digest, err = w.push(ctx, j.Spec, local, log); err != nil {
		return job.Result{}, err
	}
	return res, nil
}
