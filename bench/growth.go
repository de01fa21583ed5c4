package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// growth: the claim statement's mean time (pg_stat_statements, the real
// binary's SQL) and the latency over HTTP of the list and of the dashboard's
// history and per-image statistics, with the table at a small and a large
// number of finished rows.
func (b *bench) growth(ctx context.Context) error {
	sizes := []int{10_000, 1_000_000}
	claims, reads := 200, 200
	if b.smoke {
		sizes = []int{10_000, 100_000}
		claims, reads = 30, 30
	}
	type fig struct {
		claim    float64
		claimErr string
		reads    []float64 // p50 of each of growthReads
		readErr  string
	}
	var figs []fig
	for _, n := range sizes {
		var f fig
		if err := b.seedJobs(ctx, n); err != nil {
			return err
		}
		f.claim, f.claimErr = b.claimLatency(ctx, claims)
		f.reads, f.readErr = b.readLatencies(ctx, reads)
		figs = append(figs, f)
		b.note(fmt.Sprintf("growth at %d rows: claim mean %s %s", n, ms(f.claim), f.claimErr))
		for i, r := range growthReads {
			if f.readErr == "" {
				b.note(fmt.Sprintf("growth at %d rows: %s p50 %s", n, r.path, ms(f.reads[i])))
			}
		}
		if f.readErr != "" {
			b.note(fmt.Sprintf("growth at %d rows: reads: %s", n, f.readErr))
		}
	}
	small, large := figs[0], figs[1]
	label := fmt.Sprintf("%dk vs %dk rows", sizes[0]/1000, sizes[1]/1000)
	if why := firstOf(small.claimErr, large.claimErr); why != "" {
		b.na(5, "claim latency, "+label, why)
	} else {
		r := row{num: 5, what: "claim latency (mean), " + label, slipway: ms(large.claim), baseline: "itself at 10k: " + ms(small.claim), goal: "≤ 1.5×"}
		b.add(goal(r, large.claim/small.claim, false, 1.5))
	}
	for i, r := range growthReads {
		if r.informative {
			continue
		}
		if why := firstOf(small.readErr, large.readErr); why != "" {
			b.na(5, r.what+" latency, "+label, why)
			continue
		}
		row := row{num: 5, what: r.what + " latency (p50), " + label, slipway: ms(large.reads[i]), baseline: "itself at 10k: " + ms(small.reads[i]), goal: "≤ 1.5×"}
		b.add(goal(row, large.reads[i]/small.reads[i], false, 1.5))
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

// growthReads are the reads timed at each table size. The compared ones read
// a window the seeded rows fill at both sizes (one job a second, so the last
// hour holds 3,600 jobs either way): what changes is only the table around
// it. The informative ones read a day, which holds all 10k rows of the small
// table and 86,400 of the large one, and are noted without a goal.
var growthReads = []struct {
	what, path  string
	informative bool
}{
	{"list", "/api/v1/jobs?limit=50", false},
	{"history (1h in 1m steps)", "/api/v1/stats/history?window=1h&step=1m", false},
	{"images (1h)", "/api/v1/stats/images?window=1h", false},
	{"history (24h in 5m steps)", "/api/v1/stats/history?window=24h&step=5m", true},
	{"images (24h)", "/api/v1/stats/images?window=24h", true},
}

// readLatencies times k GETs of each of growthReads and returns their p50s.
func (b *bench) readLatencies(ctx context.Context, k int) ([]float64, string) {
	s, err := b.startSlipway(ctx, "serve", nil)
	if err != nil {
		return nil, err.Error()
	}
	defer func() { s.stop(); b.procs = nil }()
	var out []float64
	for _, r := range growthReads {
		var lat []float64
		n := k
		if r.informative { // each reads a whole day of the large table: a few tell enough
			n = min(k, 10)
		}
		for range n {
			start := time.Now()
			resp, err := b.request(ctx, http.MethodGet, s.addr+r.path, nil, nil)
			if err != nil {
				return nil, err.Error()
			}
			discard(resp)
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Sprintf("GET %s answered %s", r.path, resp.Status)
			}
			lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		}
		out = append(out, pct(lat, 50))
	}
	return out, ""
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
