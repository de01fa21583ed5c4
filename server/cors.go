package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// cors lets the configured browser origins call the API. Origins match
// exactly and are echoed back as given; Echo's own matching would also accept
// wildcard patterns and subdomains, which this configuration must not.
func (s *Server) cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) {
			return slices.Contains(s.cfg.CORSOrigins, origin), nil
		},
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete},
		AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "If-None-Match", "Last-Event-ID", "Idempotency-Key"},
		ExposeHeaders: []string{"ETag", "Link", echo.HeaderLocation, echo.HeaderWWWAuthenticate},
		MaxAge:        600,
	})
}
