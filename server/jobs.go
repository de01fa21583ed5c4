package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// jobRequest is the native build request as it arrives on the wire.
type jobRequest struct {
	Source         job.Source  `json:"source"`
	Build          job.Build   `json:"build"`
	Image          job.Image   `json:"image"`
	Push           *bool       `json:"push"`
	Trigger        job.Trigger `json:"trigger"`
	Priority       int         `json:"priority"`
	TimeoutSeconds int         `json:"timeout_seconds"`

	CallbackURL string `json:"callback_url"` // told the outcome when the job ends
	Project     string `json:"project"`      // supplies what the request leaves out
}

// spec turns the request into a validated Spec; push defaults to true.
func (r *jobRequest) spec(p job.Policy) (job.Spec, error) {
	s := job.Spec{Source: r.Source, Build: r.Build, Image: r.Image, Push: r.Push == nil || *r.Push, Trigger: r.Trigger,
		Priority: r.Priority, TimeoutSeconds: r.TimeoutSeconds}
	if err := s.Normalize(p); err != nil {
		return job.Spec{}, err
	}
	return s, nil
}

func (s *Server) createJob(c echo.Context) error {
	if s.intake != nil {
		data, err := readJSONBody(c, s.cfg.MaxBodyBytes)
		if err != nil {
			return err
		}
		in, err := parseNative(data, job.SystemAPI)
		if err != nil {
			return err
		}
		return s.submit(c, in)
	}
	var req jobRequest
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	spec, err := req.spec(s.cfg.Policy)
	if err != nil {
		return err
	}
	j, err := s.jobs.CreateJob(c.Request().Context(), spec)
	if err != nil {
		return err
	}
	s.supersede(c.Request().Context(), j)
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+j.ID)
	return c.JSON(http.StatusAccepted, j)
}

func (s *Server) getJob(c echo.Context) error {
	if v, ok := s.jobViews.get(c.Param("id")); ok {
		return v.write(c)
	}
	gen := s.jobViews.generation()
	id, v, err := s.renderJob(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	// Under the job's own id: the path may spell it another way.
	s.jobViews.put(id, gen, v)
	return v.write(c)
}

// renderJob reads the job with the given id and renders what GET shows of it.
func (s *Server) renderJob(ctx context.Context, id string) (string, etagged, error) {
	j, err := s.jobs.Job(ctx, id)
	if err != nil {
		return "", etagged{}, err
	}
	var v any = j
	if s.intake != nil {
		cbs, err := s.intake.Callbacks(ctx, j.ID)
		if err != nil {
			return "", etagged{}, err
		}
		for i := range cbs {
			cbs[i].URL = redactURL(cbs[i].URL)
		}
		v = jobWithCallbacks{Job: j, Callbacks: cbs}
	}
	e, err := render(v)
	return j.ID, e, err
}

func (s *Server) getJobLogs(c echo.Context) error {
	q, err := query(c)
	if err != nil {
		return err
	}
	opts, err := parseLogQuery(q, c.Request().Header.Get("Last-Event-ID"))
	if err != nil {
		return err
	}
	if opts.follow {
		if s.followers != nil {
			select {
			case s.followers <- struct{}{}:
				defer func() { <-s.followers }()
			default:
				c.Response().Header().Set("Retry-After", "5")
				return &requestError{status: http.StatusTooManyRequests,
					detail: "Too many clients are following logs right now; try again shortly or read the log without follow."}
			}
		}
		return s.followLog(c, c.Param("id"), opts.since)
	}
	text, err := s.jobs.Log(c.Request().Context(), c.Param("id"), opts.since)
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, text)
}

// jobWithCallbacks shows a job with the delivery state of its callbacks.
type jobWithCallbacks struct {
	*job.Job
	Callbacks []job.CallbackDelivery `json:"callbacks,omitempty"`
}
