package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

// hiSQL and loSQL bound the window that ends with the bucket holding now():
// buckets of $1 aligned to the Unix epoch, $2 long in all. Aligned buckets
// keep an answer, and so its ETag, the same until something happens or a
// bucket closes. They are written out rather than taken from a CTE so the
// planner estimates each range scan from the statistics.
const (
	hiSQL = `(date_bin($1::interval, now(), timestamptz '1970-01-01Z') + $1::interval)`
	loSQL = `(` + hiSQL + ` - $2::interval)`
)

// Both statements run unprepared (pgx.QueryExecModeDescribeExec), so each
// run is planned for its window: a cached generic plan cannot know how few
// rows "started_at >= window start" selects and scans whole indexes instead,
// measured at 10 s rather than 0.1 s at a million jobs.

// noJIT begins a read-only transaction without JIT compilation. The
// planner cannot see that the statements' joins are one row per bucket and
// overestimates them by orders of magnitude, which turns on JIT: measured at
// 5.9 s of compiling for a 7 ms query over a day of 10,000 jobs.
func noJIT(ctx context.Context, d *DB) (pgx.Tx, error) {
	tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
}

// History answers q with one statement. Each part reads only the window's
// rows through the started/finished indexes (migration 00006) or the queued
// index, so its cost follows the window's traffic, not the table's size.
// The queue's depth at each bucket's end is the depth at the window's start
// plus the jobs created since, less those that left the queue (started, or
// ended without starting).
func (d *DB) History(ctx context.Context, q job.HistoryQuery) (*job.History, error) {
	tx, err := noJIT(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("history: %w", translate(err))
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to undo
	rows, err := tx.Query(ctx, historySQL, pgx.QueryExecModeDescribeExec, q.Step, q.Window)
	if err != nil {
		return nil, fmt.Errorf("history: %w", translate(err))
	}
	defer rows.Close()
	h := &job.History{Buckets: []job.HistoryBucket{}}
	for rows.Next() {
		var b job.HistoryBucket
		if err := rows.Scan(&b.Start, &h.To, &b.Queued, &b.Started, &b.Succeeded, &b.Failed, &b.Canceled,
			&b.QueueWaitP50, &b.QueueWaitP95, &b.DurationP50, &b.DurationP95, &b.QueueDepth); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		b.Start = b.Start.UTC()
		h.Buckets = append(h.Buckets, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", translate(err))
	}
	h.To = h.To.UTC()
	if len(h.Buckets) > 0 {
		h.From = h.Buckets[0].Start
	}
	return h, nil
}

// historySQL takes the step ($1) and the window ($2).
const historySQL = `
		WITH
		created AS (
			SELECT date_bin($1::interval, created_at, ` + loSQL + `) AS k, count(*) AS n
			FROM jobs WHERE created_at >= ` + loSQL + ` AND created_at < ` + hiSQL + `
			GROUP BY 1
		),
		started AS (
			SELECT date_bin($1::interval, started_at, ` + loSQL + `) AS k, count(*) AS n,
				percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at)) AS wait
			FROM jobs WHERE started_at >= ` + loSQL + ` AND started_at < ` + hiSQL + `
			GROUP BY 1
		),
		ended AS (
			SELECT date_bin($1::interval, finished_at, ` + loSQL + `) AS k,
				count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
				count(*) FILTER (WHERE state = 'failed') AS failed,
				count(*) FILTER (WHERE state = 'canceled') AS canceled,
				count(*) FILTER (WHERE started_at IS NULL) AS unstarted,
				percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
					FILTER (WHERE state IN ('succeeded', 'failed') AND started_at IS NOT NULL) AS took
			FROM jobs WHERE finished_at >= ` + loSQL + ` AND finished_at < ` + hiSQL + `
			GROUP BY 1
		),
		-- Waiting at the window's start: started later, ended later without
		-- starting, or not started yet.
		waiting AS (
			SELECT (SELECT count(*) FROM jobs WHERE started_at >= ` + loSQL + ` AND created_at < ` + loSQL + `)
				+ (SELECT count(*) FROM jobs WHERE finished_at >= ` + loSQL + ` AND started_at IS NULL AND created_at < ` + loSQL + `)
				+ (SELECT count(*) FROM jobs WHERE state = 'queued' AND attempt = 0 AND created_at < ` + loSQL + `) AS n
		)
		SELECT b.k, ` + hiSQL + `, coalesce(c.n, 0), coalesce(s.n, 0),
			coalesce(e.succeeded, 0), coalesce(e.failed, 0), coalesce(e.canceled, 0),
			s.wait[1], s.wait[2], e.took[1], e.took[2],
			waiting.n + sum(coalesce(c.n, 0) - coalesce(s.n, 0) - coalesce(e.unstarted, 0)) OVER (ORDER BY b.k)
		FROM waiting
		CROSS JOIN LATERAL generate_series(` + loSQL + `, ` + hiSQL + ` - $1::interval, $1::interval) AS b(k)
		LEFT JOIN created c ON c.k = b.k
		LEFT JOIN started s ON s.k = b.k
		LEFT JOIN ended e ON e.k = b.k
		ORDER BY b.k`

// maxImageStats bounds the images answer; the worst come first.
const maxImageStats = 200

// ImageStats answers per image for the builds that ended in the window
// before now (whole minutes, so the answer keeps its ETag within one), with
// one statement over the finished index.
func (d *DB) ImageStats(ctx context.Context, window time.Duration) (*job.ImageStatsList, error) {
	tx, err := noJIT(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("image stats: %w", translate(err))
	}
	defer func() { _ = tx.Rollback(ctx) }() // read-only: nothing to undo
	rows, err := tx.Query(ctx, imageStatsSQL, pgx.QueryExecModeDescribeExec, time.Minute, window, maxImageStats)
	if err != nil {
		return nil, fmt.Errorf("image stats: %w", translate(err))
	}
	defer rows.Close()
	out := &job.ImageStatsList{Images: []job.ImageStats{}}
	for rows.Next() {
		var (
			image                  *string
			runs, ok, failed, canc *int
			s                      job.ImageStats
			failID                 *uuid.UUID
			failAt                 *time.Time
			failCode               *string
		)
		if err := rows.Scan(&out.From, &out.To, &image, &runs, &ok, &failed, &canc,
			&s.SuccessRate, &s.DurationP50, &s.DurationP95, &failID, &failAt, &failCode); err != nil {
			return nil, fmt.Errorf("image stats: %w", err)
		}
		if image == nil { // no build ended in the window
			continue
		}
		s.Image, s.Runs, s.Succeeded, s.Failed, s.Canceled = *image, *runs, *ok, *failed, *canc
		if failID != nil && failAt != nil && failCode != nil {
			s.LastFailure = &job.LastFailure{JobID: failID.String(), FinishedAt: failAt.UTC(), Code: *failCode}
		}
		out.Images = append(out.Images, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("image stats: %w", translate(err))
	}
	out.From, out.To = out.From.UTC(), out.To.UTC()
	return out, nil
}

// imageStatsSQL takes the alignment ($1), the window ($2) and the limit ($3).
const imageStatsSQL = `
		WITH
		per_image AS (
			SELECT image_name, count(*) AS runs,
				count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
				count(*) FILTER (WHERE state = 'failed') AS failed,
				count(*) FILTER (WHERE state = 'canceled') AS canceled,
				percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
					FILTER (WHERE state IN ('succeeded', 'failed') AND started_at IS NOT NULL) AS took,
				(array_agg(ARRAY[id::text, finished_at::text, coalesce(error_code, '')] ORDER BY finished_at DESC, id DESC)
					FILTER (WHERE state = 'failed'))[1:1] AS last_failure
			FROM jobs WHERE finished_at >= ` + loSQL + ` AND finished_at < ` + hiSQL + `
			GROUP BY image_name
		)
		SELECT ` + loSQL + `, ` + hiSQL + `, p.image_name, p.runs, p.succeeded, p.failed, p.canceled,
			p.succeeded::float8 / nullif(p.succeeded + p.failed, 0), p.took[1], p.took[2],
			(p.last_failure[1][1])::uuid, (p.last_failure[1][2])::timestamptz, p.last_failure[1][3]
		FROM (SELECT) one LEFT JOIN per_image p ON true
		ORDER BY p.failed::float8 / nullif(p.succeeded + p.failed, 0) DESC NULLS LAST, p.took[2] DESC NULLS LAST, p.image_name
		LIMIT $3`
