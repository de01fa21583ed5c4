package builder

import (
	"context"
	"fmt"
	"time"
)

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
