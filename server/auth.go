package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// TokenStore is what authentication and the token endpoints need.
type TokenStore interface {
	TokenByHash(ctx context.Context, hash []byte) (*job.Token, error)
	Tokens(ctx context.Context) ([]*job.Token, error)
	RevokeToken(ctx context.Context, id string) (*job.Token, error)
}

// tokenError is a refused API token. It answers with an RFC 6750 challenge.
type tokenError struct {
	status int
	detail string
	// challenge is the WWW-Authenticate value.
	challenge string
}

func (e *tokenError) Error() string { return e.detail }

const realm = `Bearer realm="slipway"`

var (
	errNoToken = &tokenError{status: http.StatusUnauthorized, challenge: realm,
		detail: "This endpoint needs a bearer token: send Authorization: Bearer <token>."}
	errBadToken = &tokenError{status: http.StatusUnauthorized,
		challenge: realm + `, error="invalid_token", error_description="The token is malformed, unknown or revoked."`,
		detail:    "The bearer token is malformed, unknown or revoked."}
)

func errScope(need job.Scope) error {
	return &tokenError{status: http.StatusForbidden,
		challenge: realm + `, error="insufficient_scope", scope="` + string(need) + `"`,
		detail:    "This endpoint needs a token with scope " + string(need) + "."}
}

// principal is who a request acts as; handlers ask for it to shape answers.
type principal struct {
	Name   string    `json:"name"`
	Scope  job.Scope `json:"scope"`
	Public bool      `json:"public"`
}

// authorize checks that the request's bearer token grants need. It is the
// building block of requireAuth, and what a route with another way in (such
// as a webhook secret) calls to accept tokens as well.
func (s *Server) authorize(c echo.Context, need job.Scope) error {
	_, err := s.identify(c, need)
	return err
}

// identify returns who the request acts as, once its token is known to grant
// need. Handlers that shape answers by it ask again rather than find it in
// the context: storing it would cost every request a map.
func (s *Server) identify(c echo.Context, need job.Scope) (principal, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h == "" {
		if need == job.ScopeRead && s.cfg.PublicReads {
			return principal{Name: "anonymous", Scope: job.ScopeRead, Public: true}, nil
		}
		return principal{}, errNoToken
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return principal{}, errBadToken
	}
	hash := job.HashToken(secret)
	var p principal
	switch {
	case s.adminHash != nil && subtle.ConstantTimeCompare(hash, s.adminHash) == 1:
		p = principal{Name: "bootstrap admin (SLIPWAY_ADMIN_TOKEN)", Scope: job.ScopeAdmin}
	default:
		// The lookup is by hash: timing can reveal at most a hash prefix,
		// which says nothing about any token.
		t, err := s.tokens.TokenByHash(c.Request().Context(), hash)
		if errors.Is(err, job.ErrNotFound) {
			return principal{}, errBadToken
		}
		if err != nil {
			return principal{}, err
		}
		p = principal{Name: t.Name, Scope: t.Scope}
	}
	if !p.Scope.Allows(need) {
		return principal{}, errScope(need)
	}
	return p, nil
}

// requireAuth guards /api/v1: reads need scope read, everything else and all
// of /api/v1/tokens need admin. Webhooks carry their own per-source secrets
// and the OpenAPI document is public. Unknown /api/v1 routes need a token
// too, so the API's shape is not revealed to strangers.
func (s *Server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := s.routeOf(c)
		need, ok := scopeFor(c.Request().Method, route)
		if !ok || s.ownAuth[c.Request().Method+" "+route] {
			return next(c)
		}
		if err := s.limitedAuthorize(c, need); err != nil {
			return err
		}
		return next(c)
	}
}

// routeOf is the route a request is judged by: its pattern under /api/v1,
// its path elsewhere (an unmatched request has no pattern).
func (s *Server) routeOf(c echo.Context) string {
	route := c.Path()
	if !strings.HasPrefix(route, "/api/v1/") {
		route = c.Request().URL.Path
	}
	return route
}

// limitedAuthorize is authorize, charging the request to its principal's
// rate budget once the credential is verified (a wrong scope included), or
// to its address's unverified budget when the credential is refused.
func (s *Server) limitedAuthorize(c echo.Context, need job.Scope) error {
	err := s.authorize(c, need)
	var terr *tokenError
	switch {
	case err == nil:
		return s.limits.verified(c)
	case errors.As(err, &terr) && terr.status == http.StatusUnauthorized:
		return s.limits.refused(c, err)
	case errors.As(err, &terr):
		if lerr := s.limits.verified(c); lerr != nil {
			return lerr
		}
	}
	return err
}

// scopeFor returns the scope a route needs, or false when tokens do not
// guard it.
func scopeFor(method, route string) (job.Scope, bool) {
	switch {
	case !strings.HasPrefix(route, "/api/v1/"),
		strings.HasPrefix(route, "/api/v1/hooks/"), route == "/api/v1/openapi.yaml":
		return "", false
	case strings.HasPrefix(route, "/api/v1/tokens"):
		return job.ScopeAdmin, true
	case method == http.MethodGet || method == http.MethodHead:
		return job.ScopeRead, true
	}
	return job.ScopeAdmin, true
}

// whoami tells a client what its token may do, so the dashboard shows only
// the buttons that will work.
func (s *Server) whoami(c echo.Context) error {
	p, err := s.identify(c, job.ScopeRead)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// addWithOwnAuth adds a route under /api/v1 that accepts a token of scope
// need or whatever alt accepts (such as a webhook secret); the blanket token
// check leaves it to these two.
// outer middleware runs before either check.
func (s *Server) addWithOwnAuth(api *echo.Group, method, path string, h echo.HandlerFunc, need job.Scope, alt echo.MiddlewareFunc, outer ...echo.MiddlewareFunc) {
	s.ownAuth[method+" /api/v1"+path] = true
	api.Add(method, path, h, append(outer, s.tokenOr(need, alt))...)
}

// tokenOr passes a request whose bearer token grants need, refuses a valid
// token that lacks the scope, and hands anything else to alt.
func (s *Server) tokenOr(need job.Scope, alt echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		viaAlt := alt(next)
		return func(c echo.Context) error {
			err := s.authorize(c, need)
			var terr *tokenError
			switch {
			case err == nil:
				if err := s.limits.verified(c); err != nil {
					return err
				}
				return next(c)
			case errors.As(err, &terr) && terr.status == http.StatusForbidden:
				if lerr := s.limits.verified(c); lerr != nil {
					return lerr
				}
				return err
			}
			return viaAlt(c)
		}
	}
}
