package server

import (
	"net/http"

	"github.com/slipwayci/slipway/job"
)

// routes lists the whole API.
func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/readyz", s.readyz)
	if s.cfg.MetricsHandler != nil {
		s.echo.GET("/metrics", s.metricsHandler)
	}
	s.dashboardRoutes()

	api := s.echo.Group("/api/v1")
	api.GET("/openapi.yaml", s.openAPI)
	// Creating a job takes an admin token or the native endpoint's secret.
	s.addWithOwnAuth(api, http.MethodPost, "/jobs", s.createJob, job.ScopeAdmin,
		s.secretAuth(s.cfg.Hooks.NativeSecrets), s.countWebhook("api"), s.recordDeliveries(job.SystemAPI))
	api.GET("/jobs", s.listJobs)
	api.GET("/jobs/:id", s.getJob)
	api.GET("/jobs/:id/logs", s.getJobLogs)
	api.POST("/jobs/:id/cancel", s.cancelJob)
	api.POST("/jobs/:id/retry", s.retryJob)
	api.GET("/stats", s.getStats)
	if s.stats != nil {
		api.GET("/stats/history", s.getHistory)
		api.GET("/stats/images", s.getImageStats)
		api.GET("/jobs/:id/steps", s.getJobSteps)
	}
	api.GET("/whoami", s.whoami)
	api.GET("/tokens", s.listTokens)
	api.DELETE("/tokens/:id", s.revokeToken)

	// Each CI system has its own secret; an admin token works too.
	s.addWithOwnAuth(api, http.MethodPost, "/hooks/jenkins", s.jenkinsHook, job.ScopeAdmin,
		s.secretAuth(s.cfg.Hooks.JenkinsSecrets), s.countWebhook("jenkins"), s.recordDeliveries(job.SystemJenkins))
	s.addWithOwnAuth(api, http.MethodPost, "/hooks/bamboo", s.bambooHook, job.ScopeAdmin,
		s.secretAuth(s.cfg.Hooks.BambooSecrets), s.countWebhook("bamboo"), s.recordDeliveries(job.SystemBamboo))
	if s.deliveries != nil {
		api.GET("/deliveries", s.listDeliveries)
	}
	api.GET("/projects", s.listProjects)
	api.GET("/projects/:name", s.getProject)
	// Changing a project changes what later deliveries build: it takes an
	// admin token or the native endpoint's secret.
	s.addWithOwnAuth(api, http.MethodPut, "/projects/:name", s.putProject, job.ScopeAdmin,
		s.secretAuth(s.cfg.Hooks.NativeSecrets))
	s.addWithOwnAuth(api, http.MethodDelete, "/projects/:name", s.deleteProject, job.ScopeAdmin,
		s.secretAuth(s.cfg.Hooks.NativeSecrets))
}
