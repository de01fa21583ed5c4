package server

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/readyz", s.readyz)
	if s.cfg.MetricsHandler != nil {
		s.echo.GET("/metrics", s.metricsHandler)
	}

	api := s.echo.Group("/api/v1")
	api.POST("/jobs", s.createJob, s.countWebhook("api"))
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
}
