package server

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

func TestParseListQuery(t *testing.T) {
	cases := []struct {
		query string
		ok    bool
		check func(job.ListQuery) bool
	}{
		{"", true, func(q job.ListQuery) bool { return q.Limit == defaultListLimit && q.After == nil }},
		{"state=queued&state=failed", true, func(q job.ListQuery) bool { return len(q.States) == 2 }},
		{"commit=ABCDEF0", true, func(q job.ListQuery) bool { return q.Commit == "abcdef0" }},
		{"limit=200", true, func(q job.ListQuery) bool { return q.Limit == 200 }},
		{"created_after=2026-01-02T15:04:05Z", true, func(q job.ListQuery) bool { return q.CreatedAfter.Equal(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)) }},
		{"limit=201", false, nil},
		{"limit=0", false, nil},
		{"state=done", false, nil},
		{"source=gitlab", false, nil},
		{"commit=abcdef", false, nil},
		{"commit=abcdefg", false, nil},
		{"image=a&image=b", false, nil},
		{"access_token=x", false, nil},
		{"cursor=xyz", false, nil},
	}
	for _, tc := range cases {
		raw, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseListQuery(raw)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok=%v", tc.query, err, tc.ok)
			continue
		}
		if tc.ok && !tc.check(q) {
			t.Errorf("%q: parsed %+v", tc.query, q)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	want := job.Cursor{CreatedAt: time.Date(2026, 11, 28, 1, 2, 3, 456789000, time.UTC), ID: "01a21ff0-2f5c-76d3-ae14-6aa4060b943a"}
	got, err := decodeCursor(encodeCursor(want))
	if err != nil || !got.CreatedAt.Equal(want.CreatedAt) || got.ID != want.ID {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, want)
	}
}

func TestETagMatches(t *testing.T) {
	cases := []struct {
		header string
		want   bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abd"`, false},
		{``, false},
	}
	for _, tc := range cases {
		if got := etagMatches(tc.header, `"abc"`); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestScopeFor(t *testing.T) {
	cases := []struct {
		method, route string
		scope         job.Scope
		guarded       bool
	}{
		{"GET", "/api/v1/jobs", job.ScopeRead, true},
		{"POST", "/api/v1/jobs", job.ScopeAdmin, true},
		{"POST", "/api/v1/jobs/:id/cancel", job.ScopeAdmin, true},
		{"GET", "/api/v1/tokens", job.ScopeAdmin, true},
		{"POST", "/api/v1/hooks/jenkins", "", false},
		{"GET", "/api/v1/openapi.yaml", "", false},
		{"GET", "/healthz", "", false},
		{"GET", "/metrics", "", false},
		{"GET", "/", "", false},
	}
	for _, tc := range cases {
		scope, guarded := scopeFor(tc.method, tc.route)
		if scope != tc.scope || guarded != tc.guarded {
			t.Errorf("scopeFor(%s %s) = %q %v, want %q %v", tc.method, tc.route, scope, guarded, tc.scope, tc.guarded)
		}
	}
}

func seeds(f *testing.F, file string) {
	f.Helper()
	fh, err := os.Open(file)
	if err != nil {
		f.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f.Add(sc.Text())
	}
}

// FuzzListQuery: no query string makes the parser panic, and whatever it
// accepts is within bounds.
func FuzzListQuery(f *testing.F) {
	seeds(f, "testdata/list_queries.txt")
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseListQuery(raw)
		if err != nil {
			return
		}
		if q.Limit < 1 || q.Limit > maxListLimit {
			t.Errorf("limit %d accepted", q.Limit)
		}
		if q.Commit != "" && (len(q.Commit) < 7 || strings.Trim(q.Commit, "0123456789abcdef") != "") {
			t.Errorf("commit %q accepted", q.Commit)
		}
		for _, st := range q.States {
			if !st.Valid() {
				t.Errorf("state %q accepted", st)
			}
		}
	})
}

// FuzzLogQuery covers ?since=, ?follow= and Last-Event-ID.
func FuzzLogQuery(f *testing.F) {
	seeds(f, "testdata/log_queries.txt")
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		for _, last := range []string{"", s} {
			o, err := parseLogQuery(raw, last)
			if err == nil && o.since < 0 {
				t.Errorf("since %d accepted", o.since)
			}
		}
	})
}

func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(job.Cursor{CreatedAt: time.Unix(1764290400, 0), ID: "01a21ff0-2f5c-76d3-ae14-6aa4060b943a"}))
	f.Add("")
	f.Add("MTIzLg")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		again, err := decodeCursor(encodeCursor(c))
		if err != nil || again.ID != c.ID || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("cursor %q does not round-trip", s)
		}
	})
}
