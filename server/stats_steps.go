package server

import (
	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

// stepList is a job's build steps, first to last.
type stepList struct {
	Steps []job.TimelineStep `json:"steps"`
}

// getJobSteps serves the job page's step timeline, read from the classic
// builder's step markers in the log; the page polls it with its ETag.
func (s *Server) getJobSteps(c echo.Context) error {
	steps, err := s.stats.Steps(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return writeCached(c, stepList{Steps: steps})
}
