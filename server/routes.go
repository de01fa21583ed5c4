package server

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)

	api := s.echo.Group("/api/v1")
	api.POST("/jobs", s.createJob, s.hookAuth(s.cfg.Hooks.NativeSecrets))
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
	api.POST("/jobs/:id/cancel", s.cancelJob)
	api.POST("/jobs/:id/retry", s.retryJob)

	if s.intake != nil {
		api.POST("/hooks/jenkins", s.jenkinsHook, s.hookAuth(s.cfg.Hooks.JenkinsSecrets))
		api.POST("/hooks/bamboo", s.bambooHook, s.hookAuth(s.cfg.Hooks.BambooSecrets))
		api.GET("/projects", s.listProjects)
		api.GET("/projects/:name", s.getProject)
		// Changing a project changes what later deliveries build: it takes
		// the native endpoint's secret.
		api.PUT("/projects/:name", s.putProject, s.hookAuth(s.cfg.Hooks.NativeSecrets))
		api.DELETE("/projects/:name", s.deleteProject, s.hookAuth(s.cfg.Hooks.NativeSecrets))
	}
}
