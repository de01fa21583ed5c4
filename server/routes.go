package server

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/readyz", s.readyz)
	if s.cfg.MetricsHandler != nil {
		s.echo.GET("/metrics", s.metricsHandler)
	}

	api := s.echo.Group("/api/v1")
	api.POST("/jobs", s.createJob, s.countWebhook("api"), s.hookAuth(s.cfg.Hooks.NativeSecrets))
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
	api.POST("/jobs/:id/cancel", s.cancelJob)
	api.POST("/jobs/:id/retry", s.retryJob)

	if s.intake != nil {
		api.POST("/hooks/jenkins", s.jenkinsHook, s.countWebhook("jenkins"), s.hookAuth(s.cfg.Hooks.JenkinsSecrets))
		api.POST("/hooks/bamboo", s.bambooHook, s.countWebhook("bamboo"), s.hookAuth(s.cfg.Hooks.BambooSecrets))
		api.GET("/projects", s.listProjects)
		api.GET("/projects/:name", s.getProject)
		// Changing a project changes what later deliveries build: it takes
		// the native endpoint's secret.
		api.PUT("/projects/:name", s.putProject, s.hookAuth(s.cfg.Hooks.NativeSecrets))
		api.DELETE("/projects/:name", s.deleteProject, s.hookAuth(s.cfg.Hooks.NativeSecrets))
	}
}
