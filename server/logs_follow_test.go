package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

// streamingStore is a running job whose log gains a line at every read.
type streamingStore struct {
	fakeStore
	n atomic.Int64
}

func (s *streamingStore) Job(_ context.Context, id string) (*job.Job, error) {
	return &job.Job{ID: id, State: job.StateRunning}, nil
}

func (s *streamingStore) LogLines(_ context.Context, _ string, since, _ int) ([]job.LogLine, error) {
	n := int(s.n.Add(1))
	if n <= since {
		return nil, nil
	}
	return []job.LogLine{{N: n, Text: "line"}}, nil
}

// TestFollowOutlivesServerTimeouts: a live log stream goes on past the
// http.Server's read and write timeouts, which bound every other request.
func TestFollowOutlivesServerTimeouts(t *testing.T) {
	store := &streamingStore{}
	s := New(Config{AdminToken: testAdminToken, LogPollInterval: 20 * time.Millisecond}, store, fakeTokens{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/jobs/01a21fd2-5ce6-72d7-a947-991c1668d84b/logs?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	var last string
	for time.Since(start) < 1500*time.Millisecond {
		if !sc.Scan() {
			t.Fatalf("stream ended after %s (last %q): %v", time.Since(start).Round(time.Millisecond), last, sc.Err())
		}
		if strings.HasPrefix(sc.Text(), "id: ") {
			last = sc.Text()
		}
	}
}
