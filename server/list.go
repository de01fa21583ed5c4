package server

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

const (
	defaultListLimit = 50
	maxListLimit     = 200
)

// jobList is one page of jobs; Next is the URL of the following page.
type jobList struct {
	Jobs []*job.Job `json:"jobs"`
	Next *string    `json:"next"`
}

func (s *Server) listJobs(c echo.Context) error {
	raw, err := query(c)
	if err != nil {
		return err
	}
	q, err := parseListQuery(raw)
	if err != nil {
		return err
	}
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	jobs, err := s.jobs.ListJobs(c.Request().Context(), q)
	if err != nil {
		return err
	}
	page := jobList{Jobs: jobs}
	if page.Jobs == nil {
		page.Jobs = []*job.Job{}
	}
	if len(jobs) > want {
		page.Jobs = jobs[:want]
		last := page.Jobs[want-1]
		next := url.Values{}
		for k, v := range raw {
			if k != "cursor" {
				next[k] = v
			}
		}
		next.Set("cursor", encodeCursor(job.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
		link := "/api/v1/jobs?" + next.Encode()
		page.Next = &link
		c.Response().Header().Set("Link", "<"+link+`>; rel="next"`)
	}
	return writeCached(c, page)
}

// parseListQuery reads the list filters strictly: an unknown parameter, a
// repeated single-valued one or a bad value is a 400, never ignored.
func parseListQuery(raw url.Values) (job.ListQuery, error) {
	q := job.ListQuery{Limit: defaultListLimit}
	for k, vs := range raw {
		if k == "state" {
			for _, v := range vs {
				st := job.State(v)
				if !st.Valid() {
					return q, badRequest("state must be one of queued, running, succeeded, failed, canceled.")
				}
				q.States = append(q.States, st)
			}
			continue
		}
		if len(vs) != 1 {
			return q, badRequest(k + " may be given once.")
		}
		v := vs[0]
		switch k {
		case "source":
			if v != job.SystemAPI && v != job.SystemJenkins && v != job.SystemBamboo {
				return q, badRequest("source must be api, jenkins or bamboo.")
			}
			q.Source = v
		case "repository":
			q.Repository = v
		case "image":
			q.Image = v
		case "project":
			q.Project = v
		case "commit":
			v = strings.ToLower(v)
			if len(v) < 7 || len(v) > 64 || strings.Trim(v, "0123456789abcdef") != "" {
				return q, badRequest("commit must be a full commit id or a prefix of at least 7 hex digits.")
			}
			q.Commit = v
		case "created_after", "created_before":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return q, badRequest(k + " must be an RFC 3339 time such as 2026-01-02T15:04:05Z.")
			}
			if k == "created_after" {
				q.CreatedAfter = t
			} else {
				q.CreatedBefore = t
			}
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxListLimit {
				return q, badRequest("limit must be a whole number from 1 to 200.")
			}
			q.Limit = n
		case "cursor":
			cur, err := decodeCursor(v)
			if err != nil {
				return q, err
			}
			q.After = &cur
		default:
			return q, badRequest("Unknown query parameter " + strconv.Quote(k) + ".")
		}
	}
	return q, nil
}

// A cursor is opaque to clients; inside it is the last job's creation time
// in microseconds (Postgres's precision) and its id.
func encodeCursor(cur job.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(cur.CreatedAt.UnixMicro(), 10) + "." + cur.ID))
}

func decodeCursor(s string) (job.Cursor, error) {
	bad := badRequest("cursor is not one this server issued; use the next link of a previous page.")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return job.Cursor{}, bad
	}
	ts, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return job.Cursor{}, bad
	}
	micro, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return job.Cursor{}, bad
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return job.Cursor{}, bad
	}
	return job.Cursor{CreatedAt: time.UnixMicro(micro).UTC(), ID: uid.String()}, nil
}

func (s *Server) getStats(c echo.Context) error {
	st, err := s.jobs.Stats(c.Request().Context())
	if err != nil {
		return err
	}
	return writeCached(c, st)
}
