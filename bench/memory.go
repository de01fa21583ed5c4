package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// memory: RSS of an idle Slipway, then its peak while 20 clients follow a
// large finished log (SSE when the server offers it, else repeated GETs).
func (b *bench) memory(ctx context.Context) error {
	lines, d := 1_000_000, 15*time.Second // 100-byte lines: 100 MB
	if b.smoke {
		lines, d = 10_000, time.Second
	}
	if _, err := b.db.Exec(ctx, "TRUNCATE jobs CASCADE"); err != nil {
		return err
	}
	s, err := b.startSlipway(ctx, "serve", nil)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idle, err := rssKB(s.cmd.Process.Pid)
	if err != nil {
		return err
	}
	r := row{num: 6, what: "RSS idle", slipway: fmt.Sprintf("%.1f MB", float64(idle)/1024), goal: "≤ 30 MB"}
	r.met = map[bool]string{true: "met", false: "not met"}[idle <= 30*1024]
	b.add(r)

	id, err := b.postJob(ctx, s, jobBody(1, benchRepo, "registry.example.com/bench/app"))
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.db.Exec(ctx, `
		INSERT INTO job_logs (job_id, line, text)
		SELECT $1, g, lpad(g::text, 10, '0') || ' ' || repeat('x', 88) FROM generate_series(1, $2::int) g`, id, lines); err != nil {
		return err
	}
	if _, err := b.db.Exec(ctx, `UPDATE jobs SET log_lines = $2, state = 'succeeded', started_at = now(), finished_at = now(), result = '{}' WHERE id = $1`, id, lines); err != nil {
		return err
	}
	b.note(fmt.Sprintf("wrote a %d-line log (%.0f MB) in %s", lines, float64(lines)*100/1e6, time.Since(start).Round(time.Millisecond)))

	url := s.addr + "/api/v1/jobs/" + id + "/logs"
	mode := "repeated GET /logs"
	if resp, err := b.request(ctx, http.MethodGet, url+"?follow=true", nil, map[string]string{"Accept": "text/event-stream"}); err == nil {
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			mode = "SSE follow"
		}
		resp.Body.Close()
	}
	// Growth counts from the idle figure: the probe above may already have
	// made the server read the whole log.
	base := idle
	var peak atomic.Int64
	peak.Store(int64(base))
	sctx, stop := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sctx.Err() == nil {
			if v, err := rssKB(s.cmd.Process.Pid); err == nil && int64(v) > peak.Load() {
				peak.Store(int64(v))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var bytes atomic.Int64
	res := load(ctx, 20, d, 0, func(ctx context.Context, _ int, _ int64) error {
		resp, err := b.request(ctx, http.MethodGet, url+"?follow=true", nil, map[string]string{"Accept": "text/event-stream"})
		if err != nil {
			return err
		}
		bytes.Add(discard(resp))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
	stop()
	<-sampled
	grow := float64(peak.Load()-int64(base)) / 1024
	b.note(fmt.Sprintf("log followers (%s): %d complete reads, %.0f MB received in %s, %d failed %s; RSS idle %.1f MB, peak %.1f MB",
		mode, res.ok, float64(bytes.Load())/1e6, res.elapsed.Round(time.Millisecond), res.failed, res.firstErr, float64(base)/1024, float64(peak.Load())/1024))
	r = row{num: 6, what: fmt.Sprintf("RSS growth, 20 clients following a %.0f MB log (%s)", float64(lines)*100/1e6, mode),
		slipway: fmt.Sprintf("+%.1f MB (peak %.1f MB)", grow, float64(peak.Load())/1024), goal: "≤ +20 MB"}
	r.met = map[bool]string{true: "met", false: "not met"}[grow <= 20]
	b.add(r)
	return nil
}
