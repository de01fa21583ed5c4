package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/slipwayci/slipway/job"
)

// checkoutPoll is how often a fetch's disk use is measured.
const checkoutPoll = 250 * time.Millisecond

// checkoutLimit measures a checkout's disk use while git writes it: git has
// no size limit of its own, and a repository can be any size.
type checkoutLimit struct {
	dir    string
	limit  int64
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   sync.WaitGroup
}

// limitCheckout returns a context that ends once dir holds more than limit
// bytes (checked every checkoutPoll), and the limit, whose Close checks once
// more and says whether it was crossed.
func limitCheckout(ctx context.Context, dir string, limit int64) (context.Context, *checkoutLimit) {
	ctx, cancel := context.WithCancelCause(ctx)
	l := &checkoutLimit{dir: dir, limit: limit, cancel: cancel, stop: make(chan struct{})}
	l.done.Go(func() {
		t := time.NewTicker(checkoutPoll)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.check(); err != nil {
					cancel(err)
					return
				}
			}
		}
	})
	return ctx, l
}

// check returns the failure when the checkout is over the limit.
func (l *checkoutLimit) check() error {
	var size int64
	err := filepath.WalkDir(l.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			// A file git removed meanwhile.
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			size += info.Size()
		}
		if size > l.limit {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil || size <= l.limit {
		return nil
	}
	return &job.Failure{Code: job.CodeCheckoutTooLarge, Permanent: true,
		Message: fmt.Sprintf("the checkout is larger than %d bytes (SLIPWAY_MAX_CHECKOUT_BYTES)", l.limit)}
}

// Close stops measuring and returns the failure if the limit was crossed.
func (l *checkoutLimit) Close(ctx context.Context) error {
	close(l.stop)
	l.done.Wait()
	var f *job.Failure
	if cause := context.Cause(ctx); errors.As(cause, &f) {
		return f
	}
	err := l.check()
	l.cancel(nil)
	return err
}
