package server

import (
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
