package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.tokens.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Server) revokeToken(c echo.Context) error {
	t, err := s.tokens.RevokeToken(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}
