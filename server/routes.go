package server

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)

	api := s.echo.Group("/api/v1")
	api.POST("/jobs", s.createJob)
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
	api.POST("/jobs/:id/cancel", s.cancelJob)
	api.POST("/jobs/:id/retry", s.retryJob)
}
