package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/slipwayci/slipway/job"
)

const cachedJobID = "01a21fd2-5ce6-72d7-a947-991c1668d84b"

// versionedStore serves one job whose state the test changes, counts reads,
// and can hold a read until the test lets it go.
type versionedStore struct {
	fakeStore
	mu    sync.Mutex
	state job.State
	reads int
	// fetched, when set, is told that a read has taken its value; the read
	// then waits for release.
	fetched chan struct{}
	release chan struct{}
}

func (f *versionedStore) set(s job.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
}

func (f *versionedStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *versionedStore) Job(_ context.Context, id string) (*job.Job, error) {
	if id != cachedJobID {
		return nil, job.ErrNotFound
	}
	f.mu.Lock()
	f.reads++
	j := &job.Job{ID: cachedJobID, State: f.state}
	fetched, release := f.fetched, f.release
	f.fetched = nil
	f.mu.Unlock()
	if fetched != nil {
		fetched <- struct{}{}
		<-release
	}
	return j, nil
}

func (f *versionedStore) Cancel(_ context.Context, id string) (*job.Job, error) {
	f.set(job.StateCanceled)
	return f.Job(context.Background(), id)
}

func newCachedServer(t *testing.T) (*Server, *versionedStore, *JobCache) {
	t.Helper()
	store := &versionedStore{state: job.StateQueued}
	cache, err := NewJobCache(10)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MaxBodyBytes: 64 << 10, AdminToken: testAdminToken}
	s := New(cfg, store, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)), WithJobCache(cache))
	return s, store, cache
}

// stateOf GETs the cached job and returns the state it shows.
func stateOf(t *testing.T, h http.Handler) job.State {
	t.Helper()
	rec := do(t, h, http.MethodGet, "/api/v1/jobs/"+cachedJobID, "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	return decodeState(t, rec.Body.Bytes())
}

func decodeState(t *testing.T, body []byte) job.State {
	t.Helper()
	var j job.Job
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return j.State
}

func TestJobCacheServesOnlyWhileOnline(t *testing.T) {
	s, store, cache := newCachedServer(t)
	stateOf(t, s)
	stateOf(t, s)
	if got := store.readCount(); got != 2 {
		t.Fatalf("before Online: %d store reads for 2 GETs, want 2", got)
	}
	cache.Online()
	stateOf(t, s)
	stateOf(t, s)
	if got := store.readCount(); got != 3 {
		t.Fatalf("online: %d store reads after 4 GETs, want 3", got)
	}
	cache.Offline()
	store.set(job.StateRunning)
	if got := stateOf(t, s); got != job.StateRunning {
		t.Fatalf("offline: state %s, want running", got)
	}
	stateOf(t, s)
	if got := store.readCount(); got != 5 {
		t.Fatalf("offline: %d store reads after 6 GETs, want 5", got)
	}
	cache.Online()
	store.set(job.StateSucceeded)
	if got := stateOf(t, s); got != job.StateSucceeded {
		t.Fatalf("online again: state %s, want succeeded", got)
	}
}

func TestJobCacheChanged(t *testing.T) {
	s, store, cache := newCachedServer(t)
	cache.Online()
	stateOf(t, s)
	store.set(job.StateRunning)
	if got := stateOf(t, s); got != job.StateQueued {
		t.Fatalf("unreported change: state %s, want the cached queued", got)
	}
	cache.Changed(cachedJobID)
	if got := stateOf(t, s); got != job.StateRunning {
		t.Fatalf("after Changed: state %s, want running", got)
	}
}

// A read that took its value before a change was reported must not store
// it after: the cache would then serve the old view until the next change.
func TestJobCacheReadRacingAChange(t *testing.T) {
	s, store, cache := newCachedServer(t)
	cache.Online()
	store.mu.Lock()
	store.fetched, store.release = make(chan struct{}), make(chan struct{})
	fetched, release := store.fetched, store.release
	store.mu.Unlock()
	done := make(chan job.State)
	go func() {
		rec := do(t, s, http.MethodGet, "/api/v1/jobs/"+cachedJobID, "", "")
		var j job.Job
		_ = json.Unmarshal(rec.Body.Bytes(), &j)
		done <- j.State
	}()
	<-fetched
	store.set(job.StateRunning)
	cache.Changed(cachedJobID)
	close(release)
	if got := <-done; got != job.StateQueued {
		t.Fatalf("racing read: state %s, want the queued it read", got)
	}
	if got := stateOf(t, s); got != job.StateRunning {
		t.Fatalf("next read: state %s, want running", got)
	}
}

// A write through this process's API shows at once, before any notification.
func TestJobCacheOwnWrites(t *testing.T) {
	s, _, cache := newCachedServer(t)
	cache.Online()
	stateOf(t, s)
	if rec := do(t, s, http.MethodPost, "/api/v1/jobs/"+cachedJobID+"/cancel", "", ""); rec.Code != http.StatusOK {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	if got := stateOf(t, s); got != job.StateCanceled {
		t.Fatalf("after cancel: state %s, want canceled", got)
	}
}

func TestJobCacheEvicts(t *testing.T) {
	cache, err := NewJobCache(2)
	if err != nil {
		t.Fatal(err)
	}
	cache.Online()
	for _, id := range []string{"a", "b", "c"} {
		cache.put(id, cache.generation(), etagged{tag: id})
	}
	if _, ok := cache.get("a"); ok {
		t.Error("the least recently used view was kept beyond the size")
	}
	for _, id := range []string{"b", "c"} {
		if v, ok := cache.get(id); !ok || v.tag != id {
			t.Errorf("get(%s) = %v, %v", id, v, ok)
		}
	}
}
