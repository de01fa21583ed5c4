package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type     string           `json:"type"`
	Title    string           `json:"title"`
	Status   int              `json:"status"`
	Detail   string           `json:"detail,omitempty"`
	Instance string           `json:"instance,omitempty"`
	Errors   []job.FieldError `json:"errors,omitempty"`

	challenge  string // WWW-Authenticate of a refused credential
	retryAfter string // Retry-After, in seconds, of a temporary failure
}

const problemJSON = "application/problem+json"

// requestError is a client mistake found while reading a request, with the
// status it deserves.
type requestError struct {
	status int
	detail string
}

func (e *requestError) Error() string { return e.detail }

func badRequest(detail string) error {
	return &requestError{status: http.StatusBadRequest, detail: detail}
}

// problemFor maps an error onto the problem users see. This is the one place
// where domain errors meet HTTP statuses.
func problemFor(err error) Problem {
	var (
		verr *job.ValidationError
		rerr *requestError
		terr *tokenError
		herr *echo.HTTPError
		aerr *authError
	)
	switch {
	case errors.As(err, &terr):
		return Problem{Status: terr.status, Detail: terr.detail, challenge: terr.challenge}
	case errors.As(err, &verr):
		return Problem{Status: http.StatusUnprocessableEntity, Detail: "The request is not valid; see errors.", Errors: verr.Fields}
	case errors.As(err, &rerr):
		return Problem{Status: rerr.status, Detail: rerr.detail}
	case errors.As(err, &aerr):
		return Problem{Status: http.StatusUnauthorized, Detail: aerr.detail}
	case errors.Is(err, job.ErrUnavailable):
		return Problem{Status: http.StatusServiceUnavailable, Detail: "The database is unavailable; retry shortly.", retryAfter: "5"}
	case errors.Is(err, job.ErrIdempotencyMismatch):
		return Problem{Status: http.StatusUnprocessableEntity, Detail: "This delivery id was already used for a different request."}
	case errors.Is(err, job.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Detail: "No such resource."}
	case errors.Is(err, job.ErrFinished):
		return Problem{Status: http.StatusConflict, Detail: "The job has already finished."}
	case errors.Is(err, job.ErrAlreadyRetried):
		return Problem{Status: http.StatusConflict, Detail: "The job has already been retried; retry the newest job instead."}
	case errors.Is(err, job.ErrConflict):
		return Problem{Status: http.StatusConflict, Detail: "The request conflicts with the resource's current state."}
	case errors.As(err, &herr):
		p := Problem{Status: herr.Code}
		if msg, ok := herr.Message.(string); ok && herr.Code < 500 {
			p.Detail = msg
		}
		return p
	}
	return Problem{Status: http.StatusInternalServerError, Detail: "Internal error."}
}

// handleError writes every error as problem+json and logs only server faults:
// a client's mistake is the client's to read, not the operator's.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := problemFor(err)
	p.Type = "about:blank"
	p.Title = http.StatusText(p.Status)
	p.Instance = c.Request().URL.Path
	if p.Status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", "request_id", requestIDOf(c), "method", c.Request().Method,
			"route", c.Path(), "status", p.Status, "err", err)
	}
	body, _ := json.Marshal(p)
	if p.challenge != "" {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, p.challenge)
	}
	if p.retryAfter != "" {
		c.Response().Header().Set("Retry-After", p.retryAfter)
	}
	c.Response().Header().Set(echo.HeaderContentType, problemJSON)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	_ = c.Blob(p.Status, problemJSON, body)
}
