package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/internal/webhooksig"
	"github.com/slipwayci/slipway/job"
)

// authError is a missing or wrong credential; it becomes a 401.
type authError struct{ detail string }

func (e *authError) Error() string { return e.detail }

// queryCredentials are query parameters that look like a secret. A secret in
// a URL ends up in proxy and CI logs, so such requests are refused outright.
var queryCredentials = []string{"token", "secret", "signature", "key", "api_key", "apikey", "access_token", "auth", "password"}

// verifyHookRequest accepts a request that proves knowledge of one of
// secrets (several during a rotation) in any of these ways: Authorization:
// Bearer <secret>, X-Hub-Signature-256 over the raw body, or a Standard
// Webhooks signature; and Basic with the secret as password, the only way
// the Jenkins Notification plugin can authenticate (user:secret@ in its URL).
// Any valid credential suffices; every comparison is constant-time.
func verifyHookRequest(secrets []string, h http.Header, rawQuery string, body []byte, now time.Time) error {
	// Malformed pairs are dropped by ParseQuery; the rest are still checked.
	q, _ := url.ParseQuery(rawQuery)
	for _, name := range queryCredentials {
		if q.Has(name) {
			return &authError{detail: "Credentials in the query string are refused: send Authorization: Bearer <secret> or sign the body."}
		}
	}
	authz := h.Get(echo.HeaderAuthorization)
	bearer, hasBearer := strings.CutPrefix(authz, "Bearer ")
	if _, password, ok := (&http.Request{Header: h}).BasicAuth(); ok {
		bearer, hasBearer = password, true
	}
	hub := h.Get("X-Hub-Signature-256")
	sig := h.Get("webhook-signature")
	if !hasBearer && hub == "" && sig == "" {
		return &authError{detail: "Missing credential: send Authorization: Bearer <secret> (or Basic with the secret as password), X-Hub-Signature-256 or a Standard Webhooks signature."}
	}
	raw := make([][]byte, len(secrets))
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		raw[i] = []byte(s)
		if k, err := webhooksig.Key(s); err == nil {
			keys = append(keys, k)
		}
	}
	var failure error = &authError{detail: "The credential is not valid."}
	if hasBearer && bearerMatches(secrets, strings.TrimSpace(bearer)) {
		return nil
	}
	if hub != "" && webhooksig.HubVerify(raw, hub, body) == nil {
		return nil
	}
	if sig != "" {
		err := webhooksig.Verify(keys, h.Get("webhook-id"), h.Get("webhook-timestamp"), sig, body, now)
		if err == nil {
			return nil
		}
		if !errors.Is(err, webhooksig.ErrMismatch) {
			failure = &authError{detail: "The Standard Webhooks signature is not valid: " + err.Error() + "."}
		}
	}
	return failure
}

// bearerMatches compares digests, so neither the content nor the length of a
// secret leaks through timing.
func bearerMatches(secrets []string, got string) bool {
	g := sha256.Sum256([]byte(got))
	ok := 0
	for _, s := range secrets {
		w := sha256.Sum256([]byte(s))
		ok |= subtle.ConstantTimeCompare(g[:], w[:])
	}
	return ok == 1
}

// secretAuth guards a route with verifyHookRequest: it is the way in for
// callers that hold a webhook secret instead of an API token. With no secret
// configured it refuses, leaving the route to admin tokens. A signed request
// has its body read once, bounded, and handed on unchanged; any other is
// judged on its headers before the body is read.
func (s *Server) secretAuth(secrets []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if len(secrets) == 0 {
				// No secret configured: only an admin token gets in, and the
				// answer is the token check's own.
				if err := s.limitedAuthorize(c, job.ScopeAdmin); err != nil {
					return err
				}
				return next(c)
			}
			req := c.Request()
			if req.Header.Get("X-Hub-Signature-256") == "" && req.Header.Get("webhook-signature") == "" {
				// The credential, if any, is a header: judge it before the
				// body is read, so a stranger cannot make Slipway take in
				// megabytes first. The handler reads the body, bounded.
				if err := verifyHookRequest(secrets, req.Header, req.URL.RawQuery, nil, time.Now()); err != nil {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="slipway"`)
					return s.limits.refused(c, err)
				}
				if err := s.limits.verified(c); err != nil {
					return err
				}
				return next(c)
			}
			body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, s.bodyLimit(c)))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					return &requestError{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("The body exceeds %d bytes.", s.bodyLimit(c))}
				}
				return badRequest("The body could not be read.")
			}
			if err := verifyHookRequest(secrets, req.Header, req.URL.RawQuery, body, time.Now()); err != nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="slipway"`)
				return s.limits.refused(c, err)
			}
			if err := s.limits.verified(c); err != nil {
				return err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			return next(c)
		}
	}
}
