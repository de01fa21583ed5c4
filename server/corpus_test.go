package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestBadRequestCorpus sends every request of testdata/bad_requests.json and
// checks the answer is the expected 4xx as problem+json, that nothing was
// stored and that no canary file appeared. main_test.go sends the same
// corpus to a running instance with real Postgres and workers.
func TestBadRequestCorpus(t *testing.T) {
	corpus := testenv.LoadBadRequests(t, filepath.Join("testdata", "bad_requests.json"))
	if len(corpus) < 100 {
		t.Fatalf("corpus has %d entries, want at least 100", len(corpus))
	}
	canary := filepath.Join(os.TempDir(), "slipway-pwn-"+testenv.RandomHex(8))
	store := &fakeStore{}
	cfg := Config{Policy: job.Policy{GitSchemes: []string{"https"}}, MaxBodyBytes: 1 << 20, AdminToken: testAdminToken}
	s := New(cfg, store, fakeTokens{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, b := range corpus {
		t.Run(b.Name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, b.Request(t, "", canary, testAdminToken))
			checkProblem(t, b, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
		})
	}
	if store.writes != 0 {
		t.Errorf("the corpus made %d writes (%d jobs)", store.writes, len(store.created))
	}
	if _, err := os.Stat(canary); !os.IsNotExist(err) {
		t.Errorf("canary %s exists (err %v): a request ran a command", canary, err)
	}
}

func checkProblem(t *testing.T, b testenv.BadRequest, code int, contentType string, body []byte) {
	t.Helper()
	if !b.Expects(code) {
		t.Errorf("status = %d, want %d%v: %s", code, b.Status, b.Statuses, body)
	}
	if contentType != problemJSON {
		t.Errorf("Content-Type = %q, want %s", contentType, problemJSON)
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != code || p.Title != http.StatusText(code) {
		t.Errorf("problem = %s (%v), want status %d", body, err, code)
	}
}
