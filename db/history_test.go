package db

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/slipwayci/slipway/job"
)

// seeded is one job as the history tests put it in the table.
type seeded struct {
	id                uuid.UUID
	image, state      string
	created           time.Time
	started, finished *time.Time
	errorCode         *string
}

// seedHistory fills the table with jobs over the last eight days, in every
// state, and 20,000 finished jobs older than a month, so the planner has a
// reason to use the indexes. It returns the recent jobs as stored.
func seedHistory(t *testing.T, d *DB) []seeded {
	t.Helper()
	ctx := context.Background()
	if _, err := d.pool.Exec(ctx, `
		INSERT INTO jobs (id, state, spec, source, repository, commit_sha, image_name, created_at, started_at, finished_at)
		SELECT gen_random_uuid(), 'succeeded', '{}', 'api', 'r', md5(i::text), 'old/x' || (i % 50),
			now() - interval '40 days' - i * interval '1 minute', now() - interval '40 days' - i * interval '1 minute',
			now() - interval '40 days' - i * interval '1 minute' + interval '30 seconds'
		FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	var now time.Time
	if err := d.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 42))
	images := []string{"reg/a", "reg/b", "reg/c", "reg/d"}
	var (
		ids               []uuid.UUID
		imgs, states      []string
		created           []time.Time
		started, finished []*time.Time
		codes             []*string
	)
	at := func(t time.Time) *time.Time { return &t }
	for i := range 3000 {
		c := now.Add(-time.Duration(rng.Int64N(int64(8 * 24 * time.Hour))))
		img := images[i%len(images)]
		wait := time.Duration(rng.Int64N(int64(20*time.Minute))) + time.Duration(i%7)*time.Millisecond
		took := time.Duration(rng.Int64N(int64(15*time.Minute))) + time.Duration(i%4)*time.Minute
		var (
			st, fin *time.Time
			state   = "succeeded"
			code    *string
		)
		switch r := rng.IntN(100); {
		case r < 55:
			st, fin = at(c.Add(wait)), at(c.Add(wait+took))
		case r < 75:
			state, code = "failed", ptr("build_failed")
			st, fin = at(c.Add(wait)), at(c.Add(wait+took))
		case r < 82:
			state, code = "canceled", ptr("canceled")
			st, fin = at(c.Add(wait)), at(c.Add(wait+took/2))
		case r < 88: // canceled or expired before any worker took it
			state, code = "canceled", ptr("superseded")
			fin = at(c.Add(wait))
		case r < 94:
			state = "running"
			st = at(c.Add(wait))
		default:
			state = "queued"
		}
		// Nothing may lie in the future: the window ends now.
		if st != nil && st.After(now) {
			st, fin, state, code = nil, nil, "queued", nil
		}
		if fin != nil && fin.After(now) {
			fin, state, code = nil, "running", nil
		}
		ids = append(ids, uuid.New())
		imgs, states, created = append(imgs, img), append(states, state), append(created, c)
		started, finished, codes = append(started, st), append(finished, fin), append(codes, code)
	}
	if _, err := d.pool.Exec(ctx, `
		INSERT INTO jobs (id, state, spec, source, repository, commit_sha, image_name, created_at, started_at, finished_at, error_code, attempt)
		SELECT id, state, '{}', 'api', 'r', 'c', image, created, started, finished, code, CASE WHEN started IS NULL THEN 0 ELSE 1 END
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::text[])
			AS u(id, image, state, created, started, finished, code)`,
		ids, imgs, states, created, started, finished, codes); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pool.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	// Read back as stored (microseconds), which is what the answers reflect.
	rows, err := d.pool.Query(ctx, `SELECT id, image_name, state, created_at, started_at, finished_at, error_code
		FROM jobs WHERE image_name LIKE 'reg/%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []seeded
	for rows.Next() {
		var s seeded
		if err := rows.Scan(&s.id, &s.image, &s.state, &s.created, &s.started, &s.finished, &s.errorCode); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// percentile is Postgres's percentile_cont: linear interpolation between
// the two nearest ranks.
func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	pos := p * float64(len(s)-1)
	lo := math.Floor(pos)
	v := s[int(lo)]
	if int(lo)+1 < len(s) {
		v += (pos - lo) * (s[int(lo)+1] - s[int(lo)])
	}
	return &v
}

func in(t *time.Time, lo, hi time.Time) bool { return t != nil && !t.Before(lo) && t.Before(hi) }

func before(t *time.Time, end time.Time) bool { return t != nil && t.Before(end) }

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-6
}

func fmtFloat(f *float64) string {
	if f == nil {
		return "nil"
	}
	return time.Duration(*f * float64(time.Second)).String()
}

// TestHistory compares every bucket's counts, percentiles and queue depth
// with the same figures computed here from the seeded jobs.
func TestHistory(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	jobs := seedHistory(t, d)
	tests := []struct {
		window, step time.Duration
	}{
		{24 * time.Hour, 5 * time.Minute},
		{7 * 24 * time.Hour, time.Hour},
		{time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.window.String()+"/"+tt.step.String(), func(t *testing.T) {
			h, err := d.History(ctx, job.HistoryQuery{Window: tt.window, Step: tt.step})
			if err != nil {
				t.Fatal(err)
			}
			if want := int(tt.window / tt.step); len(h.Buckets) != want {
				t.Fatalf("%d buckets, want %d", len(h.Buckets), want)
			}
			if h.To.Sub(h.From) != tt.window || h.To.UnixNano()%int64(tt.step) != 0 || h.To.Before(time.Now().Add(-time.Minute)) {
				t.Fatalf("window [%s, %s) not %s of whole steps ending now", h.From, h.To, tt.window)
			}
			var sum job.HistoryBucket
			for i, b := range h.Buckets {
				lo := h.From.Add(time.Duration(i) * tt.step)
				hi := lo.Add(tt.step)
				if !b.Start.Equal(lo) {
					t.Fatalf("bucket %d starts %s, want %s", i, b.Start, lo)
				}
				var want job.HistoryBucket
				var waits, took []float64
				for _, j := range jobs {
					if in(&j.created, lo, hi) {
						want.Queued++
					}
					if in(j.started, lo, hi) {
						want.Started++
						waits = append(waits, j.started.Sub(j.created).Seconds())
					}
					if in(j.finished, lo, hi) {
						switch j.state {
						case "succeeded":
							want.Succeeded++
						case "failed":
							want.Failed++
						case "canceled":
							want.Canceled++
						}
						if j.started != nil && (j.state == "succeeded" || j.state == "failed") {
							took = append(took, j.finished.Sub(*j.started).Seconds())
						}
					}
					if j.created.Before(hi) && !before(j.started, hi) && !before(j.finished, hi) {
						want.QueueDepth++
					}
				}
				want.QueueWaitP50, want.QueueWaitP95 = percentile(waits, 0.5), percentile(waits, 0.95)
				want.DurationP50, want.DurationP95 = percentile(took, 0.5), percentile(took, 0.95)
				if b.Queued != want.Queued || b.Started != want.Started || b.Succeeded != want.Succeeded ||
					b.Failed != want.Failed || b.Canceled != want.Canceled || b.QueueDepth != want.QueueDepth {
					t.Errorf("bucket %s: counts %+v, want %+v", lo, b, want)
				}
				if !sameFloat(b.QueueWaitP50, want.QueueWaitP50) || !sameFloat(b.QueueWaitP95, want.QueueWaitP95) ||
					!sameFloat(b.DurationP50, want.DurationP50) || !sameFloat(b.DurationP95, want.DurationP95) {
					t.Errorf("bucket %s: wait p50/p95 %s/%s want %s/%s; duration p50/p95 %s/%s want %s/%s", lo,
						fmtFloat(b.QueueWaitP50), fmtFloat(b.QueueWaitP95), fmtFloat(want.QueueWaitP50), fmtFloat(want.QueueWaitP95),
						fmtFloat(b.DurationP50), fmtFloat(b.DurationP95), fmtFloat(want.DurationP50), fmtFloat(want.DurationP95))
				}
				sum.Queued += b.Queued
				sum.Succeeded += b.Succeeded
			}
			// The comparison above must have had something to compare.
			if sum.Queued == 0 || sum.Succeeded == 0 {
				t.Fatalf("no jobs in the window: %+v", sum)
			}
		})
	}
}

// TestImageStats compares each image's runs, success rate, percentiles and
// last failure with the same figures computed here.
func TestImageStats(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	jobs := seedHistory(t, d)
	for _, window := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
		got, err := d.ImageStats(ctx, window)
		if err != nil {
			t.Fatal(err)
		}
		if got.To.Sub(got.From) != window || got.To.UnixNano()%int64(time.Minute) != 0 {
			t.Fatalf("window [%s, %s)", got.From, got.To)
		}
		if len(got.Images) != 4 {
			t.Fatalf("%d images, want the 4 recent ones: %+v", len(got.Images), got.Images)
		}
		for i, s := range got.Images {
			want := job.ImageStats{Image: s.Image}
			var took []float64
			var last *seeded
			for _, j := range jobs {
				if j.image != s.Image || !in(j.finished, got.From, got.To) {
					continue
				}
				want.Runs++
				switch j.state {
				case "succeeded":
					want.Succeeded++
				case "failed":
					want.Failed++
					if last == nil || j.finished.After(*last.finished) {
						last = &j
					}
				case "canceled":
					want.Canceled++
				}
				if j.started != nil && (j.state == "succeeded" || j.state == "failed") {
					took = append(took, j.finished.Sub(*j.started).Seconds())
				}
			}
			rate := float64(want.Succeeded) / float64(want.Succeeded+want.Failed)
			want.SuccessRate = &rate
			want.DurationP50, want.DurationP95 = percentile(took, 0.5), percentile(took, 0.95)
			if s.Runs != want.Runs || s.Succeeded != want.Succeeded || s.Failed != want.Failed || s.Canceled != want.Canceled ||
				!sameFloat(s.SuccessRate, want.SuccessRate) || !sameFloat(s.DurationP50, want.DurationP50) || !sameFloat(s.DurationP95, want.DurationP95) {
				t.Errorf("%s over %s: %+v, want %+v", s.Image, window, s, want)
			}
			if last == nil || s.LastFailure == nil || s.LastFailure.JobID != last.id.String() ||
				!s.LastFailure.FinishedAt.Equal(*last.finished) || s.LastFailure.Code != *last.errorCode {
				t.Errorf("%s last failure %+v, want %+v", s.Image, s.LastFailure, last)
			}
			if i > 0 {
				prev := got.Images[i-1]
				if 1-*prev.SuccessRate < 1-*s.SuccessRate {
					t.Errorf("%s (success %.3f) listed after %s (%.3f): worst first", s.Image, *s.SuccessRate, prev.Image, *prev.SuccessRate)
				}
			}
		}
	}
}

// TestHistoryQueriesUseIndexes: the history and images statements read the
// window through the started and finished indexes, never the whole table.
func TestHistoryQueriesUseIndexes(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	seedHistory(t, d)
	for _, q := range []struct {
		name, sql string
		args      []any
	}{
		{"history", historySQL, []any{time.Hour, 24 * time.Hour}},
		{"images", imageStatsSQL, []any{time.Minute, 24 * time.Hour, maxImageStats}},
	} {
		var plan strings.Builder
		rows, err := d.pool.Query(ctx, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan.WriteString(line + "\n")
		}
		rows.Close()
		p := plan.String()
		if strings.Contains(p, "Seq Scan on jobs") {
			t.Errorf("%s scans the whole table:\n%s", q.name, p)
		}
		if !strings.Contains(p, "jobs_finished_idx") || (q.name == "history" && !strings.Contains(p, "jobs_started_idx")) {
			t.Errorf("%s does not use the history indexes:\n%s", q.name, p)
		}
	}
}
