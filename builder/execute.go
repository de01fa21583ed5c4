package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/slipwayci/slipway/job"
)

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
	engine, steps, err := w.buildImage(ctx, dir, j.Spec, local, log)
	if err != nil {
		return job.Result{}, err
	}
	if !j.Push && !w.cfg.Security.TrustedLocalTags {
		keep = true
		log.Printf("==> push: false: the image stays on the daemon as %s only", local)
		return job.Result{Images: []string{local}, Engine: engine, Steps: steps}, nil
	}
	if !j.Push {
		if err := w.tagRequested(ctx, local, j.References()); err != nil {
			return job.Result{}, err
		}
		return job.Result{Images: j.References(), Engine: engine, Steps: steps}, nil
	}
	res := job.Result{Images: j.References(), Engine: engine, Steps: steps}
	if res.Digest, err = w.push(ctx, j.Spec, local, log); err != nil {
		return job.Result{}, err
	}
	return res, nil
}
