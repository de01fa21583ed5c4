package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/internal/apitest"
)

// Answer is an HTTP answer with its body read.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Want fails the test unless the answer has status; it returns a for
// chaining.
func (a *Answer) Want(tb testing.TB, status int) *Answer {
	tb.Helper()
	if a.Status != status {
		tb.Fatalf("answer %d, want %d: %s", a.Status, status, a.Body)
	}
	return a
}

// Decode unmarshals the JSON body into v.
func (a *Answer) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		tb.Fatalf("answer %d is not the JSON expected: %v: %s", a.Status, err, a.Body)
	}
}

// String returns the body.
func (a *Answer) String() string { return string(a.Body) }

// Job is a job as the API shows it; tests read the fields they need.
type Job struct {
	ID              string   `json:"id"`
	State           string   `json:"state"`
	Attempt         int      `json:"attempt"`
	MaxAttempts     int      `json:"max_attempts"`
	Worker          string   `json:"worker"`
	CancelRequested bool     `json:"cancel_requested"`
	RetryOf         string   `json:"retry_of"`
	RetriedBy       string   `json:"retried_by"`
	Warnings        []string `json:"warnings"`
	Source          struct {
		Repository string `json:"repository"`
		Commit     string `json:"commit"`
		Ref        string `json:"ref"`
	} `json:"source"`
	Build struct {
		Context    string            `json:"context"`
		Dockerfile string            `json:"dockerfile"`
		Labels     map[string]string `json:"labels"`
	} `json:"build"`
	Image struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	} `json:"image"`
	Trigger struct {
		System      string `json:"system"`
		Job         string `json:"job"`
		BuildNumber string `json:"build_number"`
		URL         string `json:"url"`
	} `json:"trigger"`
	Result *struct {
		Digest string   `json:"digest"`
		Images []string `json:"images"`
	} `json:"result"`
	Error    *JobError `json:"error"`
	Attempts []struct {
		Attempt int       `json:"attempt"`
		Worker  string    `json:"worker"`
		Outcome string    `json:"outcome"`
		Error   *JobError `json:"error"`
	} `json:"attempts"`
	Callbacks []struct {
		URL        string `json:"url"`
		State      string `json:"state"`
		Attempts   int    `json:"attempts"`
		LastStatus *int   `json:"last_status"`
		LastError  string `json:"last_error"`
	} `json:"callbacks"`
}

// JobError is why a job or attempt failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Ended reports whether the job is in a final state.
func (j Job) Ended() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "canceled"
}

// Bearer is the header of a request authenticated with token.
func Bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// Do sends a request to path (or to a full URL) with exactly header; a body
// that is neither []byte nor string is sent as JSON. The answer is validated
// against openapi.yaml.
func (s *Slipway) Do(tb testing.TB, method, path string, body any, header http.Header) *Answer {
	tb.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			tb.Fatal(err)
		}
	}
	target := path
	if !strings.HasPrefix(path, "http://") {
		target = s.URL + path
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return s.Send(tb, req)
}

// Send sends req as it is, such as a hostile request from a corpus; the
// answer is validated against openapi.yaml.
func (s *Slipway) Send(tb testing.TB, req *http.Request) *Answer {
	tb.Helper()
	resp, err := apitest.Shared(tb).Client(tb).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Get is GET path as admin.
func (s *Slipway) Get(tb testing.TB, path string) *Answer {
	tb.Helper()
	return s.Do(tb, http.MethodGet, path, nil, Bearer(AdminToken))
}

// Post is POST path with body as admin.
func (s *Slipway) Post(tb testing.TB, path string, body any) *Answer {
	tb.Helper()
	return s.Do(tb, http.MethodPost, path, body, Bearer(AdminToken))
}

// Submit creates a job as admin and fails the test unless it is accepted.
func (s *Slipway) Submit(tb testing.TB, body any) Job {
	tb.Helper()
	var j Job
	s.Post(tb, "/api/v1/jobs", body).Want(tb, http.StatusAccepted).Decode(tb, &j)
	return j
}

// Job reads a job.
func (s *Slipway) Job(tb testing.TB, id string) Job {
	tb.Helper()
	var j Job
	s.Get(tb, "/api/v1/jobs/"+id).Want(tb, http.StatusOK).Decode(tb, &j)
	return j
}

// Log reads a job's build log.
func (s *Slipway) Log(tb testing.TB, id string) string {
	tb.Helper()
	return s.Get(tb, "/api/v1/jobs/"+id+"/logs").Want(tb, http.StatusOK).String()
}

// Wait polls a job until it ends, for at most three minutes.
func (s *Slipway) Wait(tb testing.TB, id string) Job {
	tb.Helper()
	return s.WaitFor(tb, id, 3*time.Minute, "an end", Job.Ended)
}

// WaitFor polls a job until ok holds, for at most limit; what names the
// awaited condition in the failure.
func (s *Slipway) WaitFor(tb testing.TB, id string, limit time.Duration, what string, ok func(Job) bool) Job {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		j := s.Job(tb, id)
		if ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job %s: waited %s for %s; it is %s (attempt %d); log:\n%s", id, limit, what, j.State, j.Attempt, s.Log(tb, id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Conn opens a connection to the instance's database, closed when the test
// ends.
func (s *Slipway) Conn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	// Not the test's context: cleanups run after it is canceled.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.DB)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// Exec runs one SQL statement on the instance's database.
func (s *Slipway) Exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	if _, err := s.Conn(tb).Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// CountJobs returns how many jobs the database holds.
func (s *Slipway) CountJobs(tb testing.TB) int {
	tb.Helper()
	var n int
	if err := s.Conn(tb).QueryRow(context.Background(), "SELECT count(*) FROM jobs").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// JobID returns the id of the job the answer names, or fails the test.
func (a *Answer) JobID(tb testing.TB) string {
	tb.Helper()
	var j struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(a.Body, &j); err != nil || j.ID == "" {
		tb.Fatalf("answer %d %s has no job id", a.Status, a.Body)
	}
	return j.ID
}
