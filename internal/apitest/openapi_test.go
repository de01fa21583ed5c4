package apitest

import "testing"

func TestDocumentLoads(t *testing.T) {
	v := NewValidator(t)
	for _, p := range []string{"/api/v1/jobs", "/api/v1/hooks/jenkins", "/api/v1/hooks/bamboo", "/api/v1/projects",
		"/api/v1/jobs/{id}/cancel", "/api/v1/jobs/{id}/retry", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.yaml"} {
		if v.doc.Paths.Find(p) == nil {
			t.Errorf("openapi.yaml lacks %s", p)
		}
	}
}
