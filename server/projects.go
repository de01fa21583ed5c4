package server

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/job"
)

func (s *Server) listProjects(c echo.Context) error {
	ps, err := s.jobs.Projects(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"projects": ps})
}

func (s *Server) getProject(c echo.Context) error {
	p, err := s.jobs.Project(c.Request().Context(), projectName(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// putProject creates or replaces a project; the name in the path wins over
// any name in the body.
func (s *Server) putProject(c echo.Context) error {
	var p job.Project
	if err := decodeJSON(c, s.cfg.MaxBodyBytes, &p); err != nil {
		return err
	}
	p.Name = projectName(c)
	if err := p.Validate(); err != nil {
		return err
	}
	created, err := s.jobs.PutProject(c.Request().Context(), p)
	if err != nil {
		return err
	}
	if created {
		return c.JSON(http.StatusCreated, p)
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) deleteProject(c echo.Context) error {
	if err := s.jobs.DeleteProject(c.Request().Context(), projectName(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// projectName reads the name from the path; Jenkins folder names hold '/',
// which arrives escaped as %2F.
func projectName(c echo.Context) string {
	n, err := url.PathUnescape(c.Param("name"))
	if err != nil {
		return c.Param("name")
	}
	return n
}
