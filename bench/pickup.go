package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// pickup: committed → claimed by an idle worker, read from the database, one
// job at a time so the worker is idle each time; against River's defaults.
func (b *bench) pickup(ctx context.Context) error {
	n, limit := 500, 10*time.Minute
	if b.smoke {
		n, limit = 40, 2*time.Second
	}
	sw, err := b.slipwayPickup(ctx, n, limit)
	if err != nil {
		return err
	}
	r := row{num: 2, what: "pickup latency p50 / p99", slipway: fmt.Sprintf("%s / %s (n=%d)", ms(pct(sw, 50)), ms(pct(sw, 99)), len(sw)), goal: "p50 ≤ 3 ms, p99 ≤ 15 ms"}
	met := pct(sw, 50) <= 3 && pct(sw, 99) <= 15
	r.met = map[bool]string{true: "met", false: "not met"}[met]
	rv, err := b.riverPickup(ctx, n, limit)
	if err != nil {
		r.baseline = "River n/a: " + oneLine(err.Error())
	} else {
		r.baseline = fmt.Sprintf("River %s / %s (n=%d)", ms(pct(rv, 50)), ms(pct(rv, 99)), len(rv))
		r.ratio = fmt.Sprintf("%.2f× / %.2f×", pct(sw, 50)/pct(rv, 50), pct(sw, 99)/pct(rv, 99))
	}
	b.add(r)
	return nil
}

func (b *bench) slipwayPickup(ctx context.Context, n int, limit time.Duration) ([]float64, error) {
	if _, err := b.db.Exec(ctx, "TRUNCATE jobs CASCADE"); err != nil {
		return nil, err
	}
	s, err := b.startSlipway(ctx, "serve", map[string]string{"SLIPWAY_WORKERS": "1"})
	if err != nil {
		return nil, err
	}
	defer s.stop()
	// Let the worker reach its idle wait before the first job.
	time.Sleep(300 * time.Millisecond)
	deadline := time.Now().Add(limit)
	for i := range n {
		if time.Now().After(deadline) && i >= 5 {
			break
		}
		id, err := b.postJob(ctx, s, jobBody(int64(i+1), benchRepo, "registry.example.com/bench/app"))
		if err != nil {
			return nil, err
		}
		// Wait until the job was claimed and has left the worker, so the
		// worker is idle again for the next one.
		if err := b.waitJob(ctx, id, 30*time.Second, "started_at IS NOT NULL AND state <> 'running'"); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	}
	return floats(ctx, b.db, `SELECT extract(epoch FROM started_at - created_at) * 1000 FROM jobs WHERE started_at IS NOT NULL`)
}

// waitJob polls the job row every 2 ms until cond holds.
func (b *bench) waitJob(ctx context.Context, id string, limit time.Duration, cond string) error {
	return b.waitJobEvery(ctx, id, limit, 2*time.Millisecond, cond)
}

// waitJobEvery polls the job row every interval until cond holds.
func (b *bench) waitJobEvery(ctx context.Context, id string, limit, every time.Duration, cond string) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var ok bool
		if err := b.db.QueryRow(ctx, `SELECT `+cond+` FROM jobs WHERE id = $1`, id).Scan(&ok); err != nil {
			return fmt.Errorf("wait for job %s: %w", id, err)
		}
		if ok {
			return nil
		}
		time.Sleep(every)
	}
	return fmt.Errorf("job %s: %q not reached in %s", id, cond, limit)
}

// floats runs q, whose rows are one number each.
func floats(ctx context.Context, db *pgxpool.Pool, q string, args ...any) ([]float64, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []float64
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type pickupArgs struct {
	N int `json:"n"`
}

func (pickupArgs) Kind() string { return "bench_pickup" }

type pickupWorker struct {
	river.WorkerDefaults[pickupArgs]
	done chan struct{}
}

func (w *pickupWorker) Work(ctx context.Context, _ *river.Job[pickupArgs]) error {
	w.done <- struct{}{}
	return nil
}

// riverPickup runs a River client with default settings and one worker.
func (b *bench) riverPickup(ctx context.Context, n int, limit time.Duration) ([]float64, error) {
	pool, err := b.riverPool(ctx)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "DELETE FROM river_job"); err != nil {
		return nil, err
	}
	w := &pickupWorker{done: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  quiet,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers: workers,
	})
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()
	time.Sleep(300 * time.Millisecond)
	deadline := time.Now().Add(limit)
	for i := range n {
		if time.Now().After(deadline) && i >= 5 {
			break
		}
		if _, err := client.Insert(ctx, pickupArgs{N: i}, nil); err != nil {
			return nil, err
		}
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			return nil, errors.New("river job not worked in 30s")
		}
		time.Sleep(time.Duration(20+rand.IntN(20)) * time.Millisecond)
	}
	return floats(ctx, pool, `SELECT extract(epoch FROM attempted_at - created_at) * 1000 FROM river_job WHERE kind = 'bench_pickup' AND attempted_at IS NOT NULL`)
}
