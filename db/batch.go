package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/slipwayci/slipway/job"
)

var errBatcherStopped = errors.New("batcher stopped")

// BatchConfig tunes a Batcher.
type BatchConfig struct {
	MaxRows  int           // most jobs one commit carries
	MaxWait  time.Duration // how long a flush lingers for more jobs after the first; 0 takes only those already waiting
	Flushers int           // commits in flight at once
}

// Batcher is group commit for job intake: concurrent CreateJob calls share
// one multi-row INSERT, and each caller is answered only after that commit,
// so "created" still means "durable". One commit per request caps intake at
// the rate Postgres flushes its WAL; sharing commits lifts that cap.
type Batcher struct {
	db      *DB
	cfg     BatchConfig
	reqs    chan *createRequest
	stopped chan struct{} // closed when Run has returned
}

type createRequest struct {
	ctx  context.Context
	id   uuid.UUID
	spec job.Spec
	body []byte
	done chan createResult
}

type createResult struct {
	job *job.Job
	err error
}

// NewBatcher returns a Batcher over d; call Run to start it.
func (d *DB) NewBatcher(cfg BatchConfig) *Batcher {
	if cfg.MaxRows < 1 {
		cfg.MaxRows = 1
	}
	if cfg.Flushers < 1 {
		cfg.Flushers = 1
	}
	return &Batcher{db: d, cfg: cfg, reqs: make(chan *createRequest, cfg.MaxRows*cfg.Flushers), stopped: make(chan struct{})}
}

// Run flushes batches until ctx ends; calls still waiting then get ctx's error.
func (b *Batcher) Run(ctx context.Context) error {
	defer close(b.stopped)
	done := make(chan struct{})
	for range b.cfg.Flushers {
		go func() {
			defer func() { done <- struct{}{} }()
			b.flushLoop(ctx)
		}()
	}
	for range b.cfg.Flushers {
		<-done
	}
	for {
		select {
		case r := <-b.reqs:
			r.done <- createResult{err: fmt.Errorf("create job: %w", ctx.Err())}
		default:
			return nil
		}
	}
}

// CreateJob commits a new queued job for spec, sharing the commit with any
// concurrent callers, and returns it.
func (b *Batcher) CreateJob(ctx context.Context, spec job.Spec) (*job.Job, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	// Buffered so a flusher never blocks on a caller that has gone.
	r := &createRequest{ctx: ctx, id: id, spec: spec, body: body, done: make(chan createResult, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return nil, fmt.Errorf("create job: %w", ctx.Err())
	}
	// A caller that gives up after queueing may still see its row commit,
	// as with any statement cancelled mid-flight.
	select {
	case res := <-r.done:
		return res.job, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("create job: %w", ctx.Err())
	case <-b.stopped:
		return nil, fmt.Errorf("create job: %w", errBatcherStopped)
	}
}

func (b *Batcher) flushLoop(ctx context.Context) {
	batch := make([]*createRequest, 0, b.cfg.MaxRows)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		}
		batch = b.collect(batch)
		b.flush(context.WithoutCancel(ctx), batch)
	}
}

// collect adds waiting requests to batch, lingering up to MaxWait for more.
func (b *Batcher) collect(batch []*createRequest) []*createRequest {
	var deadline <-chan time.Time
	if b.cfg.MaxWait > 0 {
		t := time.NewTimer(b.cfg.MaxWait)
		defer t.Stop()
		deadline = t.C
	}
	for len(batch) < b.cfg.MaxRows {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if deadline == nil {
			return batch
		}
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-deadline:
			return batch
		}
	}
	return batch
}

// flush inserts batch in one statement (one commit) and answers every caller.
// When the shared insert fails, each row is retried alone so one bad row
// (a conflict, say) answers only its own caller with the error.
func (b *Batcher) flush(ctx context.Context, batch []*createRequest) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- createResult{err: fmt.Errorf("create job: %w", err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	jobs, err := b.insert(ctx, live)
	if err == nil {
		for _, r := range live {
			if j, ok := jobs[r.id.String()]; ok {
				r.done <- createResult{job: j}
			} else {
				r.done <- createResult{err: fmt.Errorf("create job: row %s missing from batch insert", r.id)}
			}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- createResult{err: fmt.Errorf("create job: %w", err)}
		return
	}
	for _, r := range live {
		jobs, err := b.insert(ctx, []*createRequest{r})
		if err != nil {
			r.done <- createResult{err: fmt.Errorf("create job: %w", err)}
			continue
		}
		r.done <- createResult{job: jobs[r.id.String()]}
	}
}

func (b *Batcher) insert(ctx context.Context, batch []*createRequest) (map[string]*job.Job, error) {
	n := len(batch)
	ids := make([]uuid.UUID, n)
	specs := make([]string, n)
	sources := make([]string, n)
	repos := make([]string, n)
	commits := make([]string, n)
	images := make([]string, n)
	for i, r := range batch {
		ids[i], specs[i] = r.id, string(r.body)
		sources[i], repos[i] = string(r.spec.Trigger.System), r.spec.Source.Repository
		commits[i], images[i] = r.spec.Source.Commit, r.spec.Image.Name
	}
	rows, err := b.db.pool.Query(ctx, `
		INSERT INTO jobs (id, spec, source, repository, commit_sha, image_name)
		SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::text[], $4::text[], $5::text[], $6::text[])
		RETURNING `+jobColumns,
		ids, specs, sources, repos, commits, images)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := make(map[string]*job.Job, n)
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out[j.ID] = j
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}
