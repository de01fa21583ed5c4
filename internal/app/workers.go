package app

import (
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/redact"
)

// notifyInterval is the most often a process wakes workers: one NOTIFY
// covers every job queued or taken back within it.
const notifyInterval = 10 * time.Millisecond

// queueConfig holds the settings of the build queue: leases, retries,
// timeouts, limits and shutdown.
type queueConfig struct {
	ImageConcurrency int
	BuildTimeout     time.Duration
	MaxBuildTimeout  time.Duration
	RetryBackoff     time.Duration
	MaxBackoff       time.Duration
	QueueTTL         time.Duration
	LogRetention     time.Duration
	ShutdownGrace    time.Duration
	DockerCheck      time.Duration
	Supersede        bool
}

func (c *queueConfig) register(s *settings) {
	s.Int(&c.ImageConcurrency, "image-concurrency", "SLIPWAY_IMAGE_CONCURRENCY", 0, "builds of one image run at once over all workers (0: no limit)")
	s.Duration(&c.BuildTimeout, "build-timeout", "SLIPWAY_BUILD_TIMEOUT", 30*time.Minute, "a build's timeout when the request names none")
	s.Duration(&c.MaxBuildTimeout, "max-build-timeout", "SLIPWAY_MAX_BUILD_TIMEOUT", 2*time.Hour, "the longest timeout_seconds a request may ask for")
	s.Duration(&c.RetryBackoff, "retry-backoff", "SLIPWAY_RETRY_BACKOFF", 10*time.Second, "delay before the first retry of a transient failure; doubles for each further one, with jitter")
	s.Duration(&c.MaxBackoff, "max-backoff", "SLIPWAY_MAX_BACKOFF", 5*time.Minute, "longest delay between retries")
	s.Duration(&c.QueueTTL, "queue-ttl", "SLIPWAY_QUEUE_TTL", 24*time.Hour, "queued jobs no worker took within this fail with queue_expired (0: never)")
	s.Duration(&c.LogRetention, "log-retention", "SLIPWAY_LOG_RETENTION", 0, "delete the build logs of jobs finished longer ago than this; the job records stay and say so (0: keep logs)")
	s.Duration(&c.ShutdownGrace, "shutdown-grace", "SLIPWAY_SHUTDOWN_GRACE", time.Minute, "on SIGTERM, how long running builds may finish before they are handed back to the queue")
	s.Duration(&c.DockerCheck, "docker-check-interval", "SLIPWAY_DOCKER_CHECK_INTERVAL", 2*time.Second, "how often workers ping the Docker daemon; they claim nothing while it does not answer")
	s.Bool(&c.Supersede, "supersede", "SLIPWAY_SUPERSEDE", false, "cancel older queued jobs for the same ref and image when a newer one arrives")
}

// knownSecret reports whether the secrets directory holds a file named id;
// it is read on every request, so secrets added at run time count at once.
func (c *config) knownSecret(id string) bool {
	return slices.Contains(builder.SecretIDs(c.SecretsDir), id)
}

func (c *queueConfig) validate(lease time.Duration) []error {
	var errs []error
	if lease < 300*time.Millisecond {
		errs = append(errs, errors.New("SLIPWAY_LEASE must be at least 300ms"))
	}
	if c.BuildTimeout <= 0 || c.MaxBuildTimeout < c.BuildTimeout {
		errs = append(errs, errors.New("SLIPWAY_BUILD_TIMEOUT must be positive and at most SLIPWAY_MAX_BUILD_TIMEOUT"))
	}
	if c.ImageConcurrency < 0 {
		errs = append(errs, errors.New("SLIPWAY_IMAGE_CONCURRENCY must be 0 or more"))
	}
	if c.DockerCheck <= 0 {
		errs = append(errs, errors.New("SLIPWAY_DOCKER_CHECK_INTERVAL must be longer than 0"))
	}
	return errs
}

func newWorker(cfg *config, store builder.Queue, docker builder.DockerAPI, m builder.Metrics, secrets *redact.Masker, log *slog.Logger) *builder.Worker {
	return builder.New(builder.Config{
		Owner:            ownerName(),
		Concurrency:      cfg.Workers,
		Lease:            cfg.Lease,
		PollInterval:     cfg.PollInterval,
		ImageConcurrency: cfg.ImageConcurrency,
		DefaultTimeout:   cfg.BuildTimeout,
		RetryBackoff:     cfg.RetryBackoff,
		MaxBackoff:       cfg.MaxBackoff,
		ShutdownGrace:    cfg.ShutdownGrace,
		DockerCheck:      cfg.DockerCheck,
		GitPath:          cfg.GitPath,
		GitSchemes:       cfg.GitProtocols,
		GitAuth:          cfg.GitAuth,
		DockerConfig:     cfg.DockerConfig,
		WorkDir:          cfg.WorkDir,
		SecretsDir:       cfg.SecretsDir,
		Metrics:          m,
		Security:         cfg.builderSecurity(cfg.egress, secrets),
	}, store, docker, log)
}
