package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

// TestSteps: the steps come from the marker lines with the times they were
// written, the last step lasts until the job ends, and an unknown job is
// not found.
func TestSteps(t *testing.T) {
	d := openTestDB(t)
	ctx := context.Background()
	j := mustCreate(t, d, testSpec("r/steps", "", 0))
	if _, err := d.Claim(ctx, "w", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	if steps, err := d.Steps(ctx, j.ID); err != nil || len(steps) != 0 {
		t.Fatalf("before any line: %+v, %v", steps, err)
	}
	for _, batch := range [][]string{
		{"Step 1/3 : FROM base", " ---> 4f2ae1a3b8c9"},
		{"Step 2/3 : RUN make", " ---> Using cache"},
		{"Step 3/3 : COPY . /", "unrelated output"},
	} {
		if err := d.AppendLog(ctx, j.ID, batch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	running, err := d.Steps(ctx, j.ID)
	if err != nil || len(running) != 3 || running[2].Finished || !running[1].Cached || running[0].Cached {
		t.Fatalf("running: %+v, %v", running, err)
	}
	if err := d.Succeed(ctx, j.ID, "w", job.Result{}); err != nil {
		t.Fatal(err)
	}
	done, err := d.Steps(ctx, j.ID)
	if err != nil || len(done) != 3 || !done[2].Finished {
		t.Fatalf("finished: %+v, %v", done, err)
	}
	for i, s := range done {
		if s.N != i+1 || s.Of != 3 || s.Seconds < 0 || (i < 2 && s.Seconds < 0.015) {
			t.Errorf("step %d = %+v", i+1, s)
		}
	}
	if _, err := d.Steps(ctx, "0190c0de-0000-7000-8000-000000000000"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
}
