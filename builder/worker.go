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
	"os"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/slipwayci/slipway/job"
)

// Queue is what a worker needs of the job store.
type Queue interface {
	LogWriter
	Claim(ctx context.Context, owner string, lease time.Duration) (*job.Job, error)
	Succeed(ctx context.Context, id, owner string, res job.Result) error
	Fail(ctx context.Context, id, owner string, e job.Error) error
}

// DockerAPI is the part of the Docker client a worker uses.
type DockerAPI interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
}

// Config tunes a Worker.
type Config struct {
	Owner        string        // unique name of this process, recorded on claimed jobs
	Concurrency  int           // builds run at once
	Lease        time.Duration // how long a claim holds without renewal
	PollInterval time.Duration // how often an idle worker looks for work
	GitPath      string        // the git executable
	GitSchemes   []string      // URL schemes git may use
	DockerConfig string        // path of the Docker config.json with registry credentials
	WorkDir      string        // where checkouts are made; "" for the system temp dir
	Security     Security      // defences against hostile requests (security.go)
}

// Worker runs Concurrency builds at a time until its context ends.
type Worker struct {
	cfg    Config
	queue  Queue
	docker DockerAPI
	log    *slog.Logger
}

// New returns a Worker that takes jobs from queue and builds them with docker.
func New(cfg Config, queue Queue, docker DockerAPI, log *slog.Logger) *Worker {
	return &Worker{cfg: cfg, queue: queue, docker: docker, log: log}
}

// Run claims and runs jobs until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		j, err := w.queue.Claim(ctx, w.cfg.Owner, w.cfg.Lease)
		if err != nil {
			if !errors.Is(err, job.ErrNotFound) && ctx.Err() == nil {
				w.log.ErrorContext(ctx, "claim job", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(w.cfg.PollInterval):
			}
			continue
		}
		w.runJob(ctx, j)
	}
}

func (w *Worker) runJob(ctx context.Context, j *job.Job) {
	log := w.log.With("job_id", j.ID)
	log.InfoContext(ctx, "build started", "attempt", j.Attempt, "repository", j.Source.Repository, "commit", j.Source.Commit)
	start := time.Now()
	sink := w.newJobLog(ctx, j, log)
	res, err := w.execute(ctx, j, sink)
	if err != nil {
		sink.Printf("==> failed: %v", err)
	} else {
		sink.Printf("==> succeeded: %s", res.Digest)
	}
	sink.Close()

	// The outcome is recorded even when shutdown has begun.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err != nil {
		e := job.Error{Code: job.CodeInternal, Message: sink.mask(err.Error())}
		var f *job.Failure
		if errors.As(err, &f) {
			e.Code = f.Code
		}
		log.InfoContext(ctx, "build failed", "code", e.Code, "err", err, "duration", time.Since(start))
		err = w.queue.Fail(ctx, j.ID, w.cfg.Owner, e)
	} else {
		log.InfoContext(ctx, "build succeeded", "digest", res.Digest, "duration", time.Since(start))
		err = w.queue.Succeed(ctx, j.ID, w.cfg.Owner, res)
	}
	if err != nil {
		log.ErrorContext(ctx, "record build outcome", "err", err)
	}
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
	bc, err := makeContext(dir, j.Build)
	if err != nil {
		return job.Result{}, err
	}
	defer bc.tar.Close()
	if _, err := w.build(ctx, j.Spec, bc, log); err != nil {
		return job.Result{}, err
	}
	res := job.Result{Images: j.References()}
	if !j.Push {
		return res, nil
	}
	if res.Digest, err = w.push(ctx, j.Spec, log); err != nil {
		return job.Result{}, err
	}
	return res, nil
}
