package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// growth: the claim statement's mean time (pg_stat_statements, the real
// binary's SQL) and list latency over HTTP, with the table at a small and a
// large number of finished rows.
func (b *bench) growth(ctx context.Context) error {
	sizes := []int{10_000, 1_000_000}
	claims, lists := 200, 200
	if b.smoke {
		sizes = []int{10_000, 100_000}
		claims, lists = 30, 30
	}
	type fig struct {
		claim, list float64
		claimErr    string
		listErr     string
	}
	var figs []fig
	for _, n := range sizes {
		var f fig
		if err := b.seedJobs(ctx, n); err != nil {
			return err
		}
		f.claim, f.claimErr = b.claimLatency(ctx, claims)
		f.list, f.listErr = b.listLatency(ctx, lists)
		figs = append(figs, f)
		b.note(fmt.Sprintf("growth at %d rows: claim mean %s %s; list p50 %s %s", n, ms(f.claim), f.claimErr, ms(f.list), f.listErr))
	}
	small, large := figs[0], figs[1]
	label := fmt.Sprintf("%dk vs %dk rows", sizes[0]/1000, sizes[1]/1000)
	if why := firstOf(small.claimErr, large.claimErr); why != "" {
		b.na(5, "claim latency, "+label, why)
	} else {
		r := row{num: 5, what: "claim latency (mean), " + label, slipway: ms(large.claim), baseline: "itself at 10k: " + ms(small.claim), goal: "≤ 1.5×"}
		b.add(goal(r, large.claim/small.claim, false, 1.5))
	}
	if why := firstOf(small.listErr, large.listErr); why != "" {
		b.na(5, "list latency, "+label, why)
	} else {
		r := row{num: 5, what: "list latency (p50), " + label, slipway: ms(large.list), baseline: "itself at 10k: " + ms(small.list), goal: "≤ 1.5×"}
		b.add(goal(r, large.list/small.list, false, 1.5))
	}
	return nil
}

// seedJobs fills the jobs table with n finished rows copied from one job
// Slipway created itself, so every column holds what Slipway writes.
func (b *bench) seedJobs(ctx context.Context, n int) error {
	if _, err := b.db.Exec(ctx, "TRUNCATE jobs CASCADE"); err != nil {
		return err
	}
	s, err := b.startSlipway(ctx, "serve", nil)
	if err != nil {
		return err
	}
	id, err := b.postJob(ctx, s, jobBody(0, benchRepo, "registry.example.com/bench/app"))
	s.stop()
	b.procs = nil
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.db.Exec(ctx, `
		INSERT INTO jobs (id, state, spec, source, repository, commit_sha, image_name, attempt, created_at, run_after, started_at, finished_at, result)
		SELECT gen_random_uuid(), 'succeeded', t.spec, t.source, t.repository, lpad(to_hex(g), 40, '0'), t.image_name, 1,
			now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second' + interval '20 seconds',
			'{"images":["registry.example.com/bench/app:latest"],"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}'
		FROM jobs t, generate_series(1, $2::int) g WHERE t.id = $1`, id, n-1); err != nil {
		return fmt.Errorf("seed %d rows: %w", n, err)
	}
	if _, err := b.db.Exec(ctx, "VACUUM ANALYZE jobs"); err != nil {
		return err
	}
	b.note(fmt.Sprintf("seeded %d rows in %s", n, time.Since(start).Round(time.Millisecond)))
	return nil
}

// claimLatency lets a worker drain k queued jobs and reads the claim
// statement's mean execution time from pg_stat_statements.
func (b *bench) claimLatency(ctx context.Context, k int) (float64, string) {
	if !b.pg.statements {
		return 0, "pg_stat_statements not available"
	}
	if _, err := b.db.Exec(ctx, `
		INSERT INTO jobs (id, spec, source, repository, commit_sha, image_name)
		SELECT gen_random_uuid(), t.spec, t.source, t.repository, lpad(to_hex(g), 40, 'f'), t.image_name
		FROM (SELECT * FROM jobs LIMIT 1) t, generate_series(1, $1::int) g`, k); err != nil {
		return 0, err.Error()
	}
	if _, err := b.db.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return 0, err.Error()
	}
	s, err := b.startSlipway(ctx, "serve", map[string]string{"SLIPWAY_WORKERS": "2"})
	if err != nil {
		return 0, err.Error()
	}
	defer func() { s.stop(); b.procs = nil }()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var left int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') AND run_after <= now()`).Scan(&left); err != nil {
			return 0, err.Error()
		}
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var calls int64
	var mean, blocks float64
	err = b.db.QueryRow(ctx, `
		SELECT calls, mean_exec_time, (shared_blks_hit + shared_blks_read)::float8 / greatest(calls, 1) FROM pg_stat_statements
		WHERE query ILIKE '%SKIP LOCKED%' AND query ILIKE '%UPDATE%jobs%' AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY calls DESC LIMIT 1`).Scan(&calls, &mean, &blocks)
	if err != nil {
		return 0, "no claim statement (UPDATE … SKIP LOCKED) seen: " + err.Error()
	}
	b.note(fmt.Sprintf("claim statement: %d calls, mean %s, %.1f shared buffers touched per call", calls, ms(mean), blocks))
	return mean, ""
}

// listLatency times GET /api/v1/jobs?limit=50 (the first page, newest first).
func (b *bench) listLatency(ctx context.Context, k int) (float64, string) {
	s, err := b.startSlipway(ctx, "serve", nil)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { s.stop(); b.procs = nil }()
	var lat []float64
	for range k {
		start := time.Now()
		resp, err := b.request(ctx, http.MethodGet, s.addr+"/api/v1/jobs?limit=50", nil, nil)
		if err != nil {
			return 0, err.Error()
		}
		discard(resp)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Sprintf("GET /api/v1/jobs answered %s (no list endpoint yet)", resp.Status)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	return pct(lat, 50), ""
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
