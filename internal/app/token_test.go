package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestServeNeedsAWayToAuthenticate: serve refuses to start with no bootstrap
// token and no stored token; `slipway token create` fixes that, and prints
// the token once while storing only its hash.
func TestServeNeedsAWayToAuthenticate(t *testing.T) {
	dbURL := testenv.Postgres(t)
	env := map[string]string{
		"SLIPWAY_DATABASE_URL": dbURL,
		"SLIPWAY_LISTEN":       "127.0.0.1:0",
		"SLIPWAY_WORKERS":      "0",
		"SLIPWAY_LOG_FORMAT":   "text",
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	err := Run(ctx, Build{}, []string{"slipway", "serve"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no way to authenticate") {
		t.Fatalf("serve without tokens: %v, want a refusal", err)
	}
	env["SLIPWAY_ADMIN_TOKEN"] = "short"
	if err := Run(ctx, Build{}, []string{"slipway", "serve"}, getenv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("serve with a short admin token: %v, want a refusal", err)
	}
	delete(env, "SLIPWAY_ADMIN_TOKEN")

	if err := Run(ctx, Build{}, []string{"slipway", "token", "create", "--scope", "owner", "--name", "x"}, getenv, io.Discard, io.Discard); ExitCode(err) != 2 {
		t.Errorf("bad scope: %v (exit %d), want exit 2", err, ExitCode(err))
	}
	var out, errOut bytes.Buffer
	if err := Run(ctx, Build{}, []string{"slipway", "token", "create", "--scope", "admin", "--name", "ci"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut.String())
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, job.TokenPrefix) || len(secret) < 40 || strings.Contains(errOut.String(), secret) {
		t.Fatalf("token create printed %q (stderr %q)", secret, errOut.String())
	}
	store, err := db.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tok, err := store.TokenByHash(ctx, job.HashToken(secret))
	if err != nil || tok.Scope != job.ScopeAdmin || tok.Name != "ci" {
		t.Fatalf("stored token = %+v, %v", tok, err)
	}

	// Now serve starts, and accepts the token.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["SLIPWAY_LISTEN"] = ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Build{}, []string{"slipway", "serve"}, getenv, io.Discard, io.Discard) }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+env["SLIPWAY_LISTEN"]+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("whoami with the new token: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve with a stored token: %v", err)
	}
}
