// Package apitest checks HTTP answers against Slipway's OpenAPI document.
// Any test that talks to the API can use Client and have every answer it
// receives validated, so the document and the code cannot drift apart.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/slipwayci/slipway/server/openapi"
)

// Validator validates answers against the OpenAPI document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	checked int
}

var registerDecoders sync.Once

// NewValidator loads and validates the OpenAPI document.
func NewValidator(tb testing.TB) *Validator {
	tb.Helper()
	// Text bodies are checked as strings; the YAML document too, since the
	// schema says what it is, not what it holds.
	registerDecoders.Do(func() {
		for _, ct := range []string{"text/html", "text/css", "text/javascript", "text/event-stream", "application/yaml"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document)
	if err != nil {
		tb.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	// Match paths whatever host and port the test server has.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatalf("openapi router: %v", err)
	}
	return &Validator{doc: doc, router: r}
}

var shared struct {
	mu sync.Mutex
	v  *Validator
}

// Shared returns one Validator for the whole test binary, so helpers that
// make many requests load the document once.
func Shared(tb testing.TB) *Validator {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.v == nil {
		shared.v = NewValidator(tb)
	}
	return shared.v
}

// Checked returns how many answers were validated.
func (v *Validator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}

// Check validates one answer to req. An answer to a route the document does
// not describe must be a 404 or 405 problem.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	v.mu.Lock()
	v.checked++
	v.mu.Unlock()
	route, params, err := v.router.FindRoute(escapedPath(req))
	if err != nil {
		var rerr *routers.RouteError
		if !errors.As(err, &rerr) {
			return err
		}
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return errors.New(req.Method + " " + req.URL.Path + " is not in openapi.yaml but answered " + http.StatusText(status))
		}
		return v.checkProblem(header, body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return err
	}
	if status >= 400 && !declaresOtherBody(route, status) {
		return v.checkProblem(header, body)
	}
	return nil
}

// escapedPath returns req with its path as sent, so an escaped slash inside
// a path parameter (a Jenkins folder job's name) stays inside it when the
// router matches the path.
func escapedPath(req *http.Request) *http.Request {
	if req.URL.RawPath == "" {
		return req
	}
	u := *req.URL
	u.Path, u.RawPath = u.RawPath, ""
	r := req.Clone(req.Context())
	r.URL = &u
	return r
}

// declaresOtherBody reports whether the document gives the answer a body
// other than a problem, as /readyz's 503 is plain JSON for probes.
func declaresOtherBody(route *routers.Route, status int) bool {
	r := route.Operation.Responses.Status(status)
	if r == nil || r.Value == nil || len(r.Value.Content) == 0 {
		return false
	}
	return r.Value.Content.Get("application/problem+json") == nil
}

func (v *Validator) checkProblem(header http.Header, body []byte) error {
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "application/problem+json" {
		return errors.New("error answer has Content-Type " + header.Get("Content-Type") + ", want application/problem+json")
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	return v.doc.Components.Schemas["Problem"].Value.VisitJSON(doc)
}

// Client returns an HTTP client that validates every answer it receives and
// fails tb on a mismatch. Event streams are checked by status and headers
// only, since their bodies never end while the job runs.
func (v *Validator) Client(tb testing.TB) *http.Client {
	return &http.Client{Transport: &checkingTransport{v: v, tb: tb, next: http.DefaultTransport}}
}

type checkingTransport struct {
	v    *Validator
	tb   testing.TB
	next http.RoundTripper
}

func (t *checkingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		if err := t.v.Check(req, resp.StatusCode, resp.Header, nil); err != nil {
			t.tb.Errorf("%s %s: answer does not match openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if req.Method == http.MethodHead {
		return resp, nil
	}
	if err := t.v.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.tb.Errorf("%s %s: answer %d does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}
