package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := map[string]string{"SLIPWAY_LISTEN": ":" + port}
	check := func() error {
		return Run(context.Background(), Build{}, []string{"slipway", "healthcheck"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}

	if err := check(); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := check(); err == nil || ExitCode(err) == 0 {
		t.Error("503 answer: want a failing exit")
	}
	srv.Close()
	if err := check(); err == nil || ExitCode(err) == 0 {
		t.Error("nothing listening: want a failing exit")
	}
}
