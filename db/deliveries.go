package db

import (
	"context"

	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipwayci/slipway/job"
)

// DeliveryLog records what became of each webhook delivery. Recording never
// makes a delivery wait and never fails it: records are queued in memory and
// written in batches (one COPY each) by a goroutine that runs while there is
// something to write; a failed write is logged and its records dropped.
type DeliveryLog struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	retention job.DeliveryRetention

	mu        sync.Mutex
	queue     []job.DeliveryRecord
	writing   bool
	dropped   int // records refused since the last report, the queue being full
	lastPrune time.Time
	idle      *sync.Cond // signalled when the writer stops
}

// Bounds of the in-memory queue and of one write.
const (
	deliveryQueueMax  = 10000
	deliveryBatchMax  = 500
	deliveryPruneGap  = time.Minute
	deliveryWriteTime = 10 * time.Second
)

// NewDeliveryLog returns the deliveries log of d, kept within retention.
func NewDeliveryLog(d *DB, retention job.DeliveryRetention) *DeliveryLog {
	l := &DeliveryLog{pool: d.pool, log: d.log, retention: retention}
	l.idle = sync.NewCond(&l.mu)
	return l
}

// Record queues rec to be written and returns at once.
func (l *DeliveryLog) Record(rec job.DeliveryRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) >= deliveryQueueMax {
		l.dropped++
		return
	}
	l.queue = append(l.queue, rec)
	if !l.writing {
		l.writing = true
		go l.write()
	}
}

// Flush waits until every record queued so far has been written (or its
// write has failed).
func (l *DeliveryLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.writing {
		l.idle.Wait()
	}
}

func (l *DeliveryLog) write() {
	for {
		l.mu.Lock()
		n := min(len(l.queue), deliveryBatchMax)
		batch := l.queue[:n:n]
		l.queue = l.queue[n:]
		dropped := l.dropped
		l.dropped = 0
		prune := n > 0 && time.Since(l.lastPrune) >= deliveryPruneGap
		if prune {
			l.lastPrune = time.Now()
		}
		if n == 0 {
			l.writing = false
			l.queue = nil
			l.idle.Broadcast()
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), deliveryWriteTime)
		if dropped > 0 {
			l.log.WarnContext(ctx, "deliveries log full: records dropped", "count", dropped)
		}
		if n == 0 {
			cancel()
			return
		}
		if err := l.insert(ctx, batch); err != nil {
			l.log.WarnContext(ctx, "record webhook deliveries", "count", n, "err", err)
		}
		if prune {
			if err := l.prune(ctx); err != nil {
				l.log.WarnContext(ctx, "prune the deliveries log", "err", err)
			}
		}
		cancel()
	}
}

func (l *DeliveryLog) insert(ctx context.Context, batch []job.DeliveryRecord) error {
	_, err := l.pool.CopyFrom(ctx, pgx.Identifier{"deliveries"},
		[]string{"received_at", "endpoint", "system", "delivery_id", "outcome", "status", "reason", "ci_job", "build_number", "commit_sha", "job_id"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			d := batch[i]
			var jobID *uuid.UUID
			if id, err := uuid.Parse(d.JobID); err == nil {
				jobID = &id
			}
			return []any{d.ReceivedAt, d.Endpoint, d.System, d.DeliveryID, string(d.Outcome), d.Status, d.Reason,
				d.Job, d.BuildNumber, d.Commit, jobID}, nil
		}))
	return translate(err)
}

// prune deletes what retention no longer keeps.
func (l *DeliveryLog) prune(ctx context.Context) error {
	if l.retention.MaxAge > 0 {
		if _, err := l.pool.Exec(ctx, `DELETE FROM deliveries WHERE received_at < now() - $1::interval`, l.retention.MaxAge); err != nil {
			return translate(err)
		}
	}
	if l.retention.MaxRows > 0 {
		if _, err := l.pool.Exec(ctx, `
			DELETE FROM deliveries
			WHERE id <= (SELECT id FROM deliveries ORDER BY id DESC OFFSET $1 LIMIT 1)`, l.retention.MaxRows); err != nil {
			return translate(err)
		}
	}
	return nil
}

// Deliveries lists recorded deliveries, newest first. Rows past the maximum
// age are left out even before they are pruned.
func (l *DeliveryLog) Deliveries(ctx context.Context, q job.DeliveryQuery) ([]job.DeliveryRecord, error) {
	var jobID *uuid.UUID
	if q.JobID != "" {
		id, err := uuid.Parse(q.JobID)
		if err != nil {
			return []job.DeliveryRecord{}, nil
		}
		jobID = &id
	}
	rows, err := l.pool.Query(ctx, `
		SELECT id, received_at, endpoint, system, delivery_id, outcome, status, reason, ci_job, build_number, commit_sha, job_id
		FROM deliveries
		WHERE ($1 = '' OR system = $1) AND ($2 = '' OR outcome = $2) AND ($3 = '' OR ci_job = $3)
			AND ($4::uuid IS NULL OR job_id = $4) AND ($5 = 0 OR id < $5)
			AND ($6::bigint = 0 OR received_at >= now() - $6::bigint * interval '1 microsecond')
		ORDER BY id DESC
		LIMIT $7`,
		q.System, string(q.Outcome), q.Job, jobID, q.Before, l.retention.MaxAge.Microseconds(), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (job.DeliveryRecord, error) {
		var (
			d       job.DeliveryRecord
			outcome string
			id      *uuid.UUID
		)
		err := row.Scan(&d.ID, &d.ReceivedAt, &d.Endpoint, &d.System, &d.DeliveryID, &outcome, &d.Status, &d.Reason,
			&d.Job, &d.BuildNumber, &d.Commit, &id)
		d.Outcome = job.DeliveryOutcome(outcome)
		if id != nil {
			d.JobID = id.String()
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", translate(err))
	}
	if out == nil {
		out = []job.DeliveryRecord{}
	}
	return out, nil
}
