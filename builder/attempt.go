package builder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/slipwayci/slipway/job"
)

// runJob makes one attempt at j: it renews the lease while the build runs
// and records the outcome, even when shutdown has begun.
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
