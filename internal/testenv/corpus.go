package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// BadRequest is one entry of a corpus of hostile requests, such as
// server/testdata/bad_requests.json. Exactly one of Body, BodyJSON,
// BodyBase64 and Repeat gives the body (or none, for no body); the string
// {{CANARY}} in the path or body stands for a file that must never appear.
type BadRequest struct {
	Name       string            `json:"name"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"`        // the body as text
	BodyJSON   json.RawMessage   `json:"body_json,omitempty"`   // a JSON value sent as the body
	BodyBase64 string            `json:"body_base64,omitempty"` // raw bytes, for invalid UTF-8
	Repeat     *struct {
		Prefix string `json:"prefix"`
		Unit   string `json:"unit"`
		Times  int    `json:"times"`
		Suffix string `json:"suffix"`
	} `json:"repeat,omitempty"` // a generated body: prefix, unit repeated, suffix
	// Anonymous sends the request without the test's admin token; entries
	// with their own Authorization header keep it.
	Anonymous bool  `json:"anonymous,omitempty"`
	Status    int   `json:"status,omitempty"`   // the expected status
	Statuses  []int `json:"statuses,omitempty"` // acceptable statuses, for cases a later feature changes
}

// Canary is the placeholder for the canary file in a corpus entry.
const Canary = "{{CANARY}}"

// LoadBadRequests reads a corpus and checks every entry is well formed.
func LoadBadRequests(tb testing.TB, path string) []BadRequest {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var corpus []BadRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&corpus); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	names := map[string]bool{}
	for i, b := range corpus {
		bodies := 0
		for _, set := range []bool{b.Body != "", len(b.BodyJSON) > 0, b.BodyBase64 != "", b.Repeat != nil} {
			if set {
				bodies++
			}
		}
		want := append([]int{b.Status}, b.Statuses...)
		ok := b.Name != "" && !names[b.Name] && b.Method != "" && strings.HasPrefix(b.Path, "/") && bodies <= 1 &&
			(b.Status == 0) != (len(b.Statuses) == 0)
		for _, s := range want {
			ok = ok && (s == 0 || s >= 400 && s < 500)
		}
		if !ok {
			tb.Fatalf("%s: entry %d (%q) is malformed: it needs a unique name, a method, a path, at most one body and 4xx status or statuses", path, i, b.Name)
		}
		names[b.Name] = true
	}
	return corpus
}

// Request builds the entry's request against base ("" for a handler test),
// with canary in place of {{CANARY}}, authenticated with token unless the
// entry is anonymous or brings its own Authorization header.
func (b BadRequest) Request(tb testing.TB, base, canary, token string) *http.Request {
	tb.Helper()
	var body []byte
	switch {
	case b.Body != "":
		body = []byte(b.Body)
	case len(b.BodyJSON) > 0:
		body = b.BodyJSON
	case b.BodyBase64 != "":
		var err error
		if body, err = base64.StdEncoding.DecodeString(b.BodyBase64); err != nil {
			tb.Fatalf("%s: body_base64: %v", b.Name, err)
		}
	case b.Repeat != nil:
		body = []byte(b.Repeat.Prefix + strings.Repeat(b.Repeat.Unit, b.Repeat.Times) + b.Repeat.Suffix)
	}
	body = bytes.ReplaceAll(body, []byte(Canary), []byte(canary))
	target := base + strings.ReplaceAll(b.Path, Canary, canary)
	req, err := http.NewRequest(b.Method, target, bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("%s: %v", b.Name, err)
	}
	if base == "" {
		req.RequestURI = target
	}
	for k, v := range b.Headers {
		req.Header.Set(k, v)
	}
	if !b.Anonymous && req.Header.Get("Authorization") == "" && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// Expects reports whether status is an answer the entry accepts.
func (b BadRequest) Expects(status int) bool {
	return status == b.Status || slices.Contains(b.Statuses, status)
}
