package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// healthz answers while the process can serve requests at all.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
