package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// fakeTokens knows one read token.
type fakeTokens struct{}

const fakeReadToken = "slw_read-token-for-unit-tests"

func (fakeTokens) TokenByHash(_ context.Context, hash []byte) (*job.Token, error) {
	if bytes.Equal(hash, job.HashToken(fakeReadToken)) {
		return &job.Token{Name: "reader", Scope: job.ScopeRead}, nil
	}
	return nil, job.ErrNotFound
}
func (fakeTokens) Tokens(context.Context) ([]*job.Token, error) { return nil, nil }
func (fakeTokens) RevokeToken(context.Context, string) (*job.Token, error) {
	return nil, job.ErrNotFound
}

// TestTokenOrOtherCredential: a route with its own credential (as webhook
// secrets are) also takes an admin token; a read token gets 403, and
// anything else is the other credential's to judge.
func TestTokenOrOtherCredential(t *testing.T) {
	const admin = "unit-admin-token-0123456789abcdefghij"
	s := New(Config{AdminToken: admin}, nil, fakeTokens{}, slog.New(slog.DiscardHandler))
	secretOK := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("Authorization") == "Bearer hook-secret" {
				return next(c)
			}
			return &tokenError{status: http.StatusUnauthorized, challenge: realm, detail: "wrong secret"}
		}
	}
	s.addWithOwnAuth(s.echo.Group("/api/v1"), http.MethodPost, "/things", func(c echo.Context) error {
		return c.NoContent(http.StatusNoContent)
	}, job.ScopeAdmin, secretOK)

	cases := []struct {
		authz string
		want  int
	}{
		{"", 401},
		{"Bearer " + admin, 204},
		{"Bearer hook-secret", 204},
		{"Bearer " + fakeReadToken, 403},
		{"Bearer wrong", 401},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/things", nil)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%q: %d, want %d: %s", tc.authz, rec.Code, tc.want, rec.Body)
		}
	}
}
