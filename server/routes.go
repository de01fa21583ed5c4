package server

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.dashboardRoutes()

	api := s.echo.Group("/api/v1")
	api.GET("/openapi.yaml", s.openAPI)
	api.POST("/jobs", s.createJob)
	api.GET("/jobs", s.listJobs)
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
	api.GET("/stats", s.getStats)
	api.GET("/whoami", s.whoami)
	api.GET("/tokens", s.listTokens)
	api.DELETE("/tokens/:id", s.revokeToken)
}
