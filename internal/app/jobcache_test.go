package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/server"
)

type jobView struct {
	State           job.State `json:"state"`
	MaxAttempts     int       `json:"max_attempts"`
	CancelRequested bool      `json:"cancel_requested"`
}

// TestJobReadsFollowEveryProcess: GET /api/v1/jobs/{id} serves cached views
// while the change feed is connected, shows changes another process makes,
// shows this API's own writes at once, and reads the database while the feed
// is down. The feed reaches the database through a proxy the test cuts; the
// API's own queries go direct. A change made with triggers off sends no
// notification: that a GET does not show it is how the test tells a cached
// answer from a fresh one.
func TestJobReadsFollowEveryProcess(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	proxied, proxy := testenv.ProxiedURL(t, dbURL)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := newAPIEnvOn(t, dbURL, server.Config{}, func(store *db.DB) []server.Option {
		feed, err := db.Open(ctx, proxied, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(feed.Close)
		fctx, cancel := context.WithCancel(ctx)
		g, gctx := errgroup.WithContext(fctx)
		t.Cleanup(func() { cancel(); _ = g.Wait() })
		cache, err := watchedJobCache(gctx, g, feed, 100)
		if err != nil {
			t.Fatal(err)
		}
		return []server.Option{server.WithJobCache(cache)}
	})
	other, err := db.Open(ctx, dbURL, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })

	j := e.createJob(t, "https://git.example.com/c.git", sha(9), "registry.example.com/c", job.SystemAPI)
	get := func() jobView {
		t.Helper()
		resp, body := e.do(t, http.MethodGet, "/api/v1/jobs/"+j.ID, testAdminToken, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		var v jobView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// silently changes what GET shows without telling anyone, and returns
	// the new max_attempts.
	silently := func() int {
		t.Helper()
		var n int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `UPDATE jobs SET max_attempts = max_attempts + 1 WHERE id = $1 RETURNING max_attempts`, j.ID).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for range 200 {
			if ok() {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("never %s", what)
	}
	servedFromCache := func() bool {
		t.Helper()
		before := get().MaxAttempts
		silently()
		return get().MaxAttempts == before
	}
	readsDatabase := func() bool {
		t.Helper()
		get()
		n := silently()
		return get().MaxAttempts == n
	}

	eventually("served from the cache", servedFromCache)

	if _, err := other.Claim(ctx, "w", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	eventually("showed another process's claim", func() bool { return get().State == job.StateRunning })

	if resp, body := e.do(t, http.MethodPost, "/api/v1/jobs/"+j.ID+"/cancel", testAdminToken, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	if v := get(); !v.CancelRequested {
		t.Fatalf("GET right after this API's cancel: %+v, want cancel_requested", v)
	}

	proxy.Cut()
	eventually("read the database with the feed down", readsDatabase)
	for range 3 {
		if !readsDatabase() {
			t.Fatal("served from the cache while the feed is down")
		}
	}

	proxy.Restore(t)
	eventually("served from the cache once the feed is back", servedFromCache)
	if err := other.Canceled(ctx, j.ID, "w"); err != nil {
		t.Fatal(err)
	}
	eventually("showed another process's change after the feed came back", func() bool { return get().State == job.StateCanceled })
}
