package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/callback"
	"github.com/slipwayci/slipway/internal/webhooksig"
	"github.com/slipwayci/slipway/server"
)

// hookConfig holds the settings of webhook intake, projects and callbacks.
type hookConfig struct {
	NativeSecret      string
	JenkinsSecret     string
	BambooSecret      string
	Dedupe            bool
	JenkinsPhases     []string
	JenkinsStatuses   []string
	JenkinsPRs        string
	DeliveryRetention time.Duration
	DeliveryMaxRows   int
	ProjectsFile      string
	CallbackSecret    string
	CallbackMinDelay  time.Duration
	CallbackMaxDelay  time.Duration
	CallbackExpiry    time.Duration
	CallbackTimeout   time.Duration
	CallbackPollEvery time.Duration
}

func (c *hookConfig) register(s *settings) {
	// Secrets come from the environment only: a flag shows in ps and CI logs.
	s.Secret(&c.NativeSecret, "", "SLIPWAY_HOOK_SECRET", "secret for POST /api/v1/jobs and project changes (several separated by spaces during a rotation; unset: open)")
	s.Secret(&c.JenkinsSecret, "", "SLIPWAY_HOOK_SECRET_JENKINS", "secret for POST /api/v1/hooks/jenkins (unset: open)")
	s.Secret(&c.BambooSecret, "", "SLIPWAY_HOOK_SECRET_BAMBOO", "secret for POST /api/v1/hooks/bamboo (unset: open)")
	s.Bool(&c.Dedupe, "dedupe", "SLIPWAY_DEDUPE", true, "identical builds asked for while one is queued or running share that job")
	s.List(&c.JenkinsPhases, "jenkins-phases", "SLIPWAY_JENKINS_PHASES", "COMPLETED,FINALIZED", "Notification plugin phases that start a build")
	s.List(&c.JenkinsStatuses, "jenkins-statuses", "SLIPWAY_JENKINS_STATUSES", "SUCCESS", "Notification plugin build statuses that start a build")
	s.String(&c.JenkinsPRs, "jenkins-pull-requests", "SLIPWAY_JENKINS_PULL_REQUESTS", server.PullRequestsIgnore,
		"multibranch pull request builds (PR-42): ignore (Jenkins built a merge commit the repository does not have), or head (build the commit in build parameter SLIPWAY_COMMIT)")
	s.Duration(&c.DeliveryRetention, "delivery-retention", "SLIPWAY_DELIVERY_RETENTION", 7*24*time.Hour, "how long the deliveries log keeps a delivery (0: no age limit)")
	s.Int(&c.DeliveryMaxRows, "delivery-max-rows", "SLIPWAY_DELIVERY_MAX_ROWS", 10000, "most deliveries the deliveries log keeps (0: no row limit)")
	s.String(&c.ProjectsFile, "projects-file", "SLIPWAY_PROJECTS_FILE", "", "YAML file of projects loaded (created or replaced) at start")
	s.Secret(&c.CallbackSecret, "", "SLIPWAY_CALLBACK_SECRET", "Standard Webhooks secret (whsec_…) signing completion callbacks (unset: unsigned)")
	s.Duration(&c.CallbackMinDelay, "callback-min-backoff", "SLIPWAY_CALLBACK_MIN_BACKOFF", 5*time.Second, "wait after a failed callback; doubles each time")
	s.Duration(&c.CallbackMaxDelay, "callback-max-backoff", "SLIPWAY_CALLBACK_MAX_BACKOFF", 10*time.Minute, "longest wait between callback attempts")
	s.Duration(&c.CallbackExpiry, "callback-expiry", "SLIPWAY_CALLBACK_EXPIRY", 24*time.Hour, "how long after a job ends its callback is retried")
	s.Duration(&c.CallbackTimeout, "callback-timeout", "SLIPWAY_CALLBACK_TIMEOUT", 10*time.Second, "time limit of one callback attempt")
	s.Duration(&c.CallbackPollEvery, "callback-poll-interval", "SLIPWAY_CALLBACK_POLL_INTERVAL", time.Second, "how often due callbacks are looked for")
}

func (c *hookConfig) server() server.HookConfig {
	return server.HookConfig{
		NativeSecrets:   strings.Fields(c.NativeSecret),
		JenkinsSecrets:  strings.Fields(c.JenkinsSecret),
		BambooSecrets:   strings.Fields(c.BambooSecret),
		Dedupe:          c.Dedupe,
		JenkinsPhases:   c.JenkinsPhases,
		JenkinsStatuses: c.JenkinsStatuses,

		JenkinsPullRequests: c.JenkinsPRs,
	}
}

// validate refuses a whsec_ secret that is not base64 (it could never verify
// a Standard Webhooks signature, silently), callback timings of 0, and a pull
// request mode or deliveries retention it does not know.
func (c *hookConfig) validate() []error {
	var errs []error
	if c.JenkinsPRs != server.PullRequestsIgnore && c.JenkinsPRs != server.PullRequestsHead {
		errs = append(errs, fmt.Errorf("SLIPWAY_JENKINS_PULL_REQUESTS must be %s or %s", server.PullRequestsIgnore, server.PullRequestsHead))
	}
	if c.DeliveryRetention < 0 || c.DeliveryMaxRows < 0 {
		errs = append(errs, errors.New("SLIPWAY_DELIVERY_RETENTION and SLIPWAY_DELIVERY_MAX_ROWS must be 0 or more"))
	}
	for _, v := range []struct{ env, value string }{
		{"SLIPWAY_HOOK_SECRET", c.NativeSecret},
		{"SLIPWAY_HOOK_SECRET_JENKINS", c.JenkinsSecret},
		{"SLIPWAY_HOOK_SECRET_BAMBOO", c.BambooSecret},
		{"SLIPWAY_CALLBACK_SECRET", c.CallbackSecret},
	} {
		for _, secret := range strings.Fields(v.value) {
			if _, err := webhooksig.Key(secret); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", v.env, err))
			}
		}
	}
	for _, v := range []struct {
		env string
		d   time.Duration
	}{
		{"SLIPWAY_CALLBACK_MIN_BACKOFF", c.CallbackMinDelay},
		{"SLIPWAY_CALLBACK_MAX_BACKOFF", c.CallbackMaxDelay},
		{"SLIPWAY_CALLBACK_EXPIRY", c.CallbackExpiry},
		{"SLIPWAY_CALLBACK_TIMEOUT", c.CallbackTimeout},
		{"SLIPWAY_CALLBACK_POLL_INTERVAL", c.CallbackPollEvery},
	} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be longer than 0", v.env))
		}
	}
	return errs
}

func (c *hookConfig) deliverer(store callback.Outbox, m callback.Metrics, log *slog.Logger, transport http.RoundTripper) (*callback.Deliverer, error) {
	return callback.New(callback.Config{
		Secret:       c.CallbackSecret,
		PollInterval: c.CallbackPollEvery,
		MinBackoff:   c.CallbackMinDelay,
		MaxBackoff:   c.CallbackMaxDelay,
		Expiry:       c.CallbackExpiry,
		Timeout:      c.CallbackTimeout,
		Metrics:      m,
		Transport:    transport,
	}, store, log)
}
