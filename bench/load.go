package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult sums a closed-loop load run.
type loadResult struct {
	ok, failed int64
	elapsed    time.Duration
	firstErr   string
}

func (r loadResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// plus sums two runs of the same load.
func (r loadResult) plus(o loadResult) loadResult {
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.ok, r.failed, r.elapsed = r.ok+o.ok, r.failed+o.failed, r.elapsed+o.elapsed
	return r
}

// load runs clients loops of fn for d (or until max successes) and counts
// the calls that succeeded.
func load(ctx context.Context, clients int, d time.Duration, max int64, fn func(ctx context.Context, worker int, i int64) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		ok, failed, seq atomic.Int64
		errOnce         sync.Once
		firstErr        string
		wg              sync.WaitGroup
	)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := seq.Add(1)
				if max > 0 && i > max {
					return
				}
				if err := fn(ctx, w, i); err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return loadResult{ok: ok.Load(), failed: failed.Load(), elapsed: time.Since(start), firstErr: firstErr}
}

func (b *bench) request(ctx context.Context, method, url string, body any, hdr map[string]string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.client.Do(req)
}

// jobBody is a distinct native build request; n makes the commit unique.
func jobBody(n int64, repo, image string) map[string]any {
	return map[string]any{
		"source":  map[string]any{"repository": repo, "commit": fmt.Sprintf("%040x", n)},
		"image":   map[string]any{"name": image, "tags": []string{"latest"}},
		"trigger": map[string]any{"system": "api"},
	}
}

// postJob submits body and returns the new job's id.
func (b *bench) postJob(ctx context.Context, s *slipway, body map[string]any) (string, error) {
	resp, err := b.request(ctx, http.MethodPost, s.addr+"/api/v1/jobs", body, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var j struct {
		ID string `json:"id"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /api/v1/jobs: %s: %s", resp.Status, oneLine(string(raw)))
	}
	if err := json.Unmarshal(raw, &j); err != nil || j.ID == "" {
		return "", fmt.Errorf("POST /api/v1/jobs: no id in %s", oneLine(string(raw)))
	}
	return j.ID, nil
}

// pct returns the p-th percentile (0–100) of xs by nearest rank.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }

// warmup is the unmeasured run before a measured one of length d.
func warmup(d time.Duration) time.Duration { return max(200*time.Millisecond, d/5) }
