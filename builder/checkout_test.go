package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestFetchBoundsCheckoutSize fetches a repository holding 4 MB that does
// not compress with a real git: over SLIPWAY_MAX_CHECKOUT_BYTES it fails
// the job, under it the checkout is made.
func TestFetchBoundsCheckoutSize(t *testing.T) {
	noise := make([]byte, 2<<20)
	_, _ = rand.Read(noise)
	repo, commit := testenv.GitRepo(t, map[string]string{"Dockerfile": "FROM scratch\n", "blob.hex": hex.EncodeToString(noise)})
	tests := []struct {
		name  string
		limit int64
		want  string // failure code; "" for success
	}{
		{"OverLimit", 1 << 20, job.CodeCheckoutTooLarge},
		{"UnderLimit", 64 << 20, ""},
		{"NoLimit", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w := New(Config{GitPath: "git", GitSchemes: []string{"file"}, Security: Security{MaxCheckoutBytes: tt.limit}},
				nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			store := &memLog{}
			sink := newLogSink(ctx, "j", store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			err := w.fetch(ctx, t.TempDir(), job.Source{Repository: repo, Commit: commit}, sink)
			sink.Close()
			var f *job.Failure
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("%v\n%s", err, store.text())
			case tt.want != "" && (!errors.As(err, &f) || f.Code != tt.want || !f.Permanent):
				t.Fatalf("fetch = %v, want a permanent %s failure", err, tt.want)
			}
		})
	}
}
