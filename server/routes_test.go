package server

import (
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/slipwayci/slipway/server/openapi"
)

// everyRoute stands in for the stores that add optional routes; the test
// only lists routes, it never calls one.
type everyRoute struct {
	StatsStore
	DeliveryLog
}

// TestRoutesMatchOpenAPI: every operation the router serves is in
// openapi.yaml, and every operation there is served.
func TestRoutesMatchOpenAPI(t *testing.T) {
	s := New(Config{MetricsHandler: http.NotFoundHandler()}, nil, nil, slog.New(slog.DiscardHandler), WithStats(everyRoute{}), WithDeliveries(everyRoute{}))
	served := map[string]bool{}
	for _, r := range s.echo.Routes() {
		served[r.Method+" "+r.Path] = true
	}
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{(\w+)\}`)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+param.ReplaceAllString(path, ":$1")] = true
		}
	}
	for _, op := range slices.Sorted(maps.Keys(served)) {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.yaml", op)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(documented)) {
		if !served[op] {
			t.Errorf("%s is in openapi.yaml but not served", op)
		}
	}
	if len(served) < 20 {
		t.Errorf("only %d routes listed; the test sees too little to compare", len(served))
	}
}
