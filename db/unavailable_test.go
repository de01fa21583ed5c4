package db

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestDatabaseUnavailable: with Postgres out of reach, reads and intake fail
// with job.ErrUnavailable (the API's 503), not an unclassified error (500);
// a wrong statement stays unclassified.
func TestDatabaseUnavailable(t *testing.T) {
	dbURL := testenv.Postgres(t)
	openDB(t, dbURL).Close()
	proxied, proxy := testenv.ProxiedURL(t, dbURL)
	d, err := Open(context.Background(), proxied, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	proxy.Cut()
	ctx := context.Background()
	if _, err := d.Job(ctx, "01a21fd2-5ce6-72d7-a947-991c1668d84b"); !errors.Is(err, job.ErrUnavailable) {
		t.Errorf("Job with the database away: %v, want ErrUnavailable", err)
	}
	if _, err := d.Submit(ctx, testSubmission("registry.example.com/unavailable", "u-1")); !errors.Is(err, job.ErrUnavailable) {
		t.Errorf("Submit with the database away: %v, want ErrUnavailable", err)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "42P01"}, false},
		{&pgconn.PgError{Code: "22P02"}, false},
		{io.ErrUnexpectedEOF, true},
		{errors.New("some bug"), false},
	} {
		if got := errors.Is(translate(tc.err), job.ErrUnavailable); got != tc.want {
			t.Errorf("translate(%v) unavailable = %v, want %v", tc.err, got, tc.want)
		}
	}
}
