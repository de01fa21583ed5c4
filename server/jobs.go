package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

func (s *Server) createJob(c echo.Context) error {
	data, err := readJSONBody(c, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	d, err := parseNative(data, job.SystemAPI, &deliveryOf(c).summary)
	if err != nil {
		return err
	}
	return s.submit(c, d)
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
	cbs, err := s.jobs.Callbacks(ctx, j.ID)
	if err != nil {
		return "", etagged{}, err
	}
	for i := range cbs {
		cbs[i].URL = redactURL(cbs[i].URL)
	}
	e, err := render(jobWithCallbacks{Job: j, Callbacks: cbs})
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
		release, ok := s.callerFollows.take(followerKey(c.Request()))
		if !ok {
			c.Response().Header().Set("Retry-After", "5")
			return &requestError{status: http.StatusTooManyRequests,
				detail: fmt.Sprintf("This caller already follows %d logs, the most one caller may; close one or read the log without follow.", s.cfg.MaxLogFollowersPerCaller)}
		}
		defer release()
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
