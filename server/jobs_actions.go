package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// cancelJob cancels a queued job at once (200, state canceled) or asks the
// worker running it to stop (202, state running, cancel_requested true).
func (s *Server) cancelJob(c echo.Context) error {
	j, err := s.jobs.Cancel(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	s.jobViews.Changed(j.ID)
	if j.State == job.StateRunning {
		return c.JSON(http.StatusAccepted, j)
	}
	return c.JSON(http.StatusOK, j)
}

// retryJob queues a finished job's request again as a new job, linked to it.
func (s *Server) retryJob(c echo.Context) error {
	j, err := s.jobs.Retry(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	// The finished job now names its retry.
	if j.RetryOf != nil {
		s.jobViews.Changed(*j.RetryOf)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/jobs/"+j.ID)
	return c.JSON(http.StatusCreated, j)
}

// supersede cancels older queued jobs for j's ref and image when configured.
// The new job is already stored, so a failure here is logged, not returned.
func (s *Server) supersede(ctx context.Context, j *job.Job) {
	if !s.cfg.Supersede {
		return
	}
	n, err := s.jobs.Supersede(ctx, j)
	if err != nil {
		s.log.ErrorContext(ctx, "supersede older jobs", "job_id", j.ID, "err", err)
		return
	}
	if n > 0 {
		// Which jobs were canceled is not known here.
		s.jobViews.dropAll()
		s.log.InfoContext(ctx, "superseded older queued jobs", "job_id", j.ID, "count", n)
	}
}
