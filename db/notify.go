package db

import (
	"context"
	"time"
)

// Notification channels. Workers LISTEN on both.
const (
	channelJobs   = "slipway_jobs"   // a job became claimable
	channelCancel = "slipway_cancel" // payload: id of a running job whose cancel was requested
)

// wake tells RunNotifier that a job was queued; it never blocks.
func (d *DB) wake() {
	select {
	case d.wakeups <- struct{}{}:
	default:
	}
}

// RunNotifier wakes listening workers when jobs are queued, with at most one
// NOTIFY per interval: a pg_notify inside every insert would serialize
// commits on the notification queue lock. It runs until ctx ends.
func (d *DB) RunNotifier(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wakeups:
		}
		if _, err := d.pool.Exec(ctx, `SELECT pg_notify($1, '')`, channelJobs); err != nil && ctx.Err() == nil {
			d.log.WarnContext(ctx, "notify workers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Listen calls onWork when jobs may be claimable and onCancel with the id of
// a running job whose cancel was requested, until ctx ends. It reconnects
// after errors and calls onWork after each (re)connection, since
// notifications sent in between are lost.
func (d *DB) Listen(ctx context.Context, onWork func(), onCancel func(id string)) {
	for ctx.Err() == nil {
		err := d.listen(ctx, onWork, onCancel)
		if ctx.Err() != nil {
			return
		}
		d.log.WarnContext(ctx, "listen for notifications; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *DB) listen(ctx context.Context, onWork func(), onCancel func(id string)) error {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A listening connection must not go back to the pool.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+channelJobs+`; LISTEN `+channelCancel); err != nil {
		return err
	}
	onWork()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case channelJobs:
			onWork()
		case channelCancel:
			onCancel(n.Payload)
		}
	}
}
