package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// DeliveryLog is what the deliveries log needs of the store. Record must not
// block: a delivery never waits for its record.
type DeliveryLog interface {
	Record(d job.DeliveryRecord)
	Deliveries(ctx context.Context, q job.DeliveryQuery) ([]job.DeliveryRecord, error)
}

// WithDeliveries records every webhook delivery in log and serves
// GET /api/v1/deliveries from it.
func WithDeliveries(log DeliveryLog) Option {
	return func(s *Server) { s.deliveries = log }
}

// deliverySummary is what the deliveries log shows of a delivery's content.
type deliverySummary struct {
	deliveryID, job, buildNumber, commit string
}

// deliveryRecord gathers, while a delivery is handled, what its record says.
type deliveryRecord struct {
	summary deliverySummary
	outcome job.DeliveryOutcome // set by the handler for ignored deliveries
	reason  string
	jobID   string
}

func (r *deliveryRecord) ignore(reason string) {
	r.outcome, r.reason = job.DeliveryIgnored, reason
}

// deliveryKey holds a delivery's record in its echo.Context, for the
// handlers to fill in.
const deliveryKey = "slipway.delivery"

// deliveryOf returns the request's record; outside a recorded route, one
// that nobody reads.
func deliveryOf(c echo.Context) *deliveryRecord {
	if r, ok := c.Get(deliveryKey).(*deliveryRecord); ok {
		return r
	}
	return &deliveryRecord{}
}

// Lengths a record keeps of what a sender chose.
const (
	maxDeliveryField  = 255
	maxDeliveryReason = 2000
)

// recordDeliveries records what became of each delivery to a route, after
// it is answered. It sits outside authentication, so a refused credential is
// recorded too.
func (s *Server) recordDeliveries(system string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if s.deliveries == nil {
			return next
		}
		return func(c echo.Context) error {
			rec := &deliveryRecord{}
			c.Set(deliveryKey, rec)
			received := time.Now()
			err := next(c)
			s.deliveries.Record(deliveryFor(c, system, received, rec, err))
			return err
		}
	}
}

// deliveryFor turns what is known after the answer into the record.
func deliveryFor(c echo.Context, system string, received time.Time, rec *deliveryRecord, err error) job.DeliveryRecord {
	d := job.DeliveryRecord{
		ReceivedAt:  received,
		Endpoint:    c.Path(),
		System:      system,
		DeliveryID:  rec.summary.deliveryID,
		Job:         clip(rec.summary.job, maxDeliveryField),
		BuildNumber: clip(rec.summary.buildNumber, maxDeliveryField),
		Commit:      clip(rec.summary.commit, maxDeliveryField),
		JobID:       rec.jobID,
		Status:      c.Response().Status,
		Outcome:     rec.outcome,
		Reason:      rec.reason,
	}
	if d.DeliveryID == "" {
		d.DeliveryID, _ = deliveryHeader(c.Request().Header)
	}
	switch {
	case err != nil:
		p := problemFor(err)
		d.Status, d.Outcome, d.Reason = p.Status, job.DeliveryRefused, problemReason(p)
	case d.Outcome != "":
	case d.Status == 202:
		d.Outcome = job.DeliveryCreated
	default:
		d.Outcome = job.DeliveryShared
	}
	d.Reason = clip(d.Reason, maxDeliveryReason)
	return d
}

// problemReason says why a delivery was refused: the problem's title and the
// details Slipway wrote, which name fields, never their values.
func problemReason(p Problem) string {
	parts := []string{strconv.Itoa(p.Status) + " " + http.StatusText(p.Status)}
	if p.Detail != "" {
		parts = append(parts, p.Detail)
	}
	for _, f := range p.Errors {
		parts = append(parts, f.Field+" "+f.Message)
	}
	return strings.Join(parts, " — ")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

const (
	defaultDeliveryLimit = 50
	maxDeliveryLimit     = 200
)

// deliveryList is one page of deliveries; Next is the URL of the following page.
type deliveryList struct {
	Deliveries []job.DeliveryRecord `json:"deliveries"`
	Next       *string              `json:"next"`
}

func (s *Server) listDeliveries(c echo.Context) error {
	raw, err := query(c)
	if err != nil {
		return err
	}
	q, err := parseDeliveryQuery(raw)
	if err != nil {
		return err
	}
	want := q.Limit
	q.Limit++ // one more tells whether another page follows
	list, err := s.deliveries.Deliveries(c.Request().Context(), q)
	if err != nil {
		return err
	}
	page := deliveryList{Deliveries: list}
	if len(list) > want {
		page.Deliveries = list[:want]
		next := url.Values{}
		for k, v := range raw {
			if k != "cursor" {
				next[k] = v
			}
		}
		next.Set("cursor", strconv.FormatInt(page.Deliveries[want-1].ID, 10))
		link := "/api/v1/deliveries?" + next.Encode()
		page.Next = &link
		c.Response().Header().Set("Link", "<"+link+`>; rel="next"`)
	}
	return writeCached(c, page)
}

// parseDeliveryQuery reads the filters strictly, as the job list does.
func parseDeliveryQuery(raw url.Values) (job.DeliveryQuery, error) {
	q := job.DeliveryQuery{Limit: defaultDeliveryLimit}
	for k, vs := range raw {
		if len(vs) != 1 {
			return q, badRequest(k + " may be given once.")
		}
		v := vs[0]
		switch k {
		case "system":
			if v != job.SystemAPI && v != job.SystemJenkins && v != job.SystemBamboo {
				return q, badRequest("system must be api, jenkins or bamboo.")
			}
			q.System = v
		case "outcome":
			if o := job.DeliveryOutcome(v); !o.Valid() {
				return q, badRequest("outcome must be one of created, shared, ignored, refused.")
			}
			q.Outcome = job.DeliveryOutcome(v)
		case "job":
			q.Job = v
		case "job_id":
			id, err := uuid.Parse(v)
			if err != nil {
				return q, badRequest("job_id must be a job id.")
			}
			q.JobID = id.String()
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxDeliveryLimit {
				return q, badRequest("limit must be a whole number from 1 to 200.")
			}
			q.Limit = n
		case "cursor":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return q, badRequest("cursor is not one this server issued; use the next link of a previous page.")
			}
			q.Before = n
		default:
			return q, badRequest("Unknown query parameter " + strconv.Quote(k) + ".")
		}
	}
	return q, nil
}
