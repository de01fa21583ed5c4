package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// channelJobChanged carries the id of a job whose API view changed; the
// triggers of migration 00005 send it.
const channelJobChanged = "slipway_job_changed"

// watchIdle is how long the change feed waits in silence before it checks
// that its connection still answers: a connection lost without a word (a
// network partition) would otherwise leave caches trusted that hear nothing.
const watchIdle = 5 * time.Second

// JobWatcher is told about changes to jobs made by any process.
type JobWatcher interface {
	// Online says the feed is connected: changes from now on are reported,
	// those made before were not.
	Online()
	// Offline says the feed lost its connection: changes are not reported.
	Offline()
	// Changed reports that the job with this id changed.
	Changed(id string)
}

// WatchJobs feeds w with job changes until ctx ends, reconnecting after
// errors. It holds one connection of its own.
func (d *DB) WatchJobs(ctx context.Context, w JobWatcher) {
	for ctx.Err() == nil {
		err := d.watchJobs(ctx, w)
		w.Offline()
		if ctx.Err() != nil {
			return
		}
		d.log.WarnContext(ctx, "watch job changes; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *DB) watchJobs(ctx context.Context, w JobWatcher) error {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must not go back to the pool.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+channelJobChanged); err != nil {
		return err
	}
	// After LISTEN, so that no change falls between what the watcher drops
	// and what it hears.
	w.Online()
	for {
		wctx, cancel := context.WithTimeout(ctx, watchIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			w.Changed(n.Payload)
			continue
		case ctx.Err() != nil || !pgconn.Timeout(err) || conn.IsClosed():
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, watchIdle)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
