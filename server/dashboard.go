package server

import (
	"embed"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/slipwayci/slipway/server/openapi"
)

// The dashboard is plain HTML, CSS and JavaScript written for Slipway: no
// build step, nothing fetched from elsewhere, so it works offline.
//
//go:embed dashboard
var dashboardFS embed.FS

var dashboardTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

func (s *Server) dashboardRoutes() {
	s.echo.GET("/", func(c echo.Context) error { return serveAsset(c, "index.html") })
	s.echo.GET("/ui/:file", func(c echo.Context) error { return serveAsset(c, c.Param("file")) })
}

func serveAsset(c echo.Context, name string) error {
	ct, ok := dashboardTypes[path.Ext(name)]
	if !ok {
		return echo.ErrNotFound
	}
	b, err := dashboardFS.ReadFile("dashboard/" + name)
	if err != nil {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, ct, b)
}

func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/yaml", openapi.Document)
}
