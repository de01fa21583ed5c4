package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/job"
)

// TestBatcherConcurrentCreates: every concurrent caller gets its own committed
// row, and a row Postgres refuses fails only its own caller.
func TestBatcherConcurrentCreates(t *testing.T) {
	tests := []struct {
		name string
		cfg  db.BatchConfig
	}{
		{"no linger", db.BatchConfig{MaxRows: 16, Flushers: 2}},
		{"linger", db.BatchConfig{MaxRows: 64, MaxWait: 2 * time.Millisecond, Flushers: 1}},
		{"one row per commit", db.BatchConfig{MaxRows: 1, Flushers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustOpen(t)
			ctx, cancel := context.WithCancel(context.Background())
			b := d.NewBatcher(tt.cfg)
			ran := make(chan error, 1)
			go func() { ran <- b.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-ran; err != nil {
					t.Errorf("Run: %v", err)
				}
			})

			const n, bad = 50, 17
			got := make([]*job.Job, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					s := spec(i)
					if i == bad {
						// Postgres refuses NUL in jsonb and text: this row alone must fail.
						s.Source.Repository = "https://git.example.com/\x00.git"
					}
					got[i], errs[i] = b.CreateJob(ctx, s)
				})
			}
			wg.Wait()

			for i := range n {
				if i == bad {
					if errs[i] == nil {
						t.Errorf("create %d with NUL: no error", i)
					}
					continue
				}
				if errs[i] != nil {
					t.Fatalf("create %d: %v", i, errs[i])
				}
				if got[i].Source.Commit != spec(i).Source.Commit || got[i].State != job.StateQueued {
					t.Errorf("create %d returned %+v, want its own queued job", i, got[i])
				}
				stored, err := d.Job(ctx, got[i].ID)
				if err != nil {
					t.Fatalf("job %d not committed: %v", i, err)
				}
				if stored.Source.Commit != spec(i).Source.Commit {
					t.Errorf("stored job %d has commit %s, want %s", i, stored.Source.Commit, spec(i).Source.Commit)
				}
			}
			seen := map[string]bool{}
			for i, j := range got {
				if j == nil {
					continue
				}
				if seen[j.ID] {
					t.Errorf("job id %s returned to two callers (second: %d)", j.ID, i)
				}
				seen[j.ID] = true
			}
		})
	}
}

// TestBatcherStopped: a call made after Run has ended gets an error, not a hang.
func TestBatcherStopped(t *testing.T) {
	d := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	b := d.NewBatcher(db.BatchConfig{MaxRows: 4})
	cancel()
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateJob(context.Background(), spec(1)); err == nil {
		t.Error("create after stop: no error")
	}
}
