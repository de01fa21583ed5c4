package app

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipwayci/slipway/builder"
	"github.com/slipwayci/slipway/internal/egress"
	"github.com/slipwayci/slipway/job"
)

// config holds every setting of a process that serves the API or builds:
// `slipway serve`, `slipway worker` and `slipway dev`. loadConfig reads and
// checks it completely before the process touches anything outside itself.
type config struct {
	DatabaseURL  string
	Listen       string
	Workers      int
	Migrate      bool
	DockerHost   string
	DockerConfig string
	GitProtocols []string
	GitPath      string
	GitAuth      builder.GitAuth
	PollInterval time.Duration
	Lease        time.Duration
	WorkDir      string
	MaxBodyBytes int
	LogFormat    string
	LogLevel     string
	// BuildNetworks are the networks jobs may ask RUN steps to use besides
	// the default bridge.
	BuildNetworks []string
	// Builder is the engine of jobs that name none; SecretsDir holds build
	// secrets and ssh keys, one file per id.
	Builder    string
	SecretsDir string
	queueConfig
	Hooks hookConfig
	apiConfig
	securityConfig

	// Derived by validate.
	api      bool          // the process serves the HTTP API
	projects []job.Project // the projects file, read and checked
	egress   egress.Policy // where git and callbacks may connect
	owners   []job.ImageOwner
}

func (c *config) register(s *settings, getenv func(string) string, listen string) {
	// A secret: the URL usually carries the password, which --help must not echo.
	s.Secret(&c.DatabaseURL, "database-url", "SLIPWAY_DATABASE_URL", "Postgres connection URL (postgres://user:pass@host:5432/db)")
	s.String(&c.Listen, "listen", "SLIPWAY_LISTEN", listen, "address the HTTP API listens on")
	s.Int(&c.Workers, "workers", "SLIPWAY_WORKERS", 2, "builds run at once by this process (0: API only)")
	s.Bool(&c.Migrate, "migrate", "SLIPWAY_MIGRATE", true, "apply database migrations on start")
	s.String(&c.DockerHost, "docker-host", "DOCKER_HOST", "", "Docker daemon address (default: the local socket)")
	s.String(&c.DockerConfig, "docker-config", "SLIPWAY_DOCKER_CONFIG", defaultDockerConfig(getenv), "Docker config.json with registry credentials (anonymous when absent)")
	s.List(&c.GitProtocols, "git-protocols", "SLIPWAY_GIT_PROTOCOLS", "https", "URL schemes git may fetch from (https, http, ssh, file)")
	s.String(&c.GitPath, "git", "SLIPWAY_GIT", "git", "the git executable")
	s.String(&c.GitAuth.CredentialsFile, "git-credentials-file", "SLIPWAY_GIT_CREDENTIALS_FILE", "", "git credential-store file (https://user:password@host per line) for private https repositories")
	s.String(&c.GitAuth.SSHKeyFile, "git-ssh-key-file", "SLIPWAY_GIT_SSH_KEY_FILE", "", "private key for ssh repositories (needs SLIPWAY_GIT_KNOWN_HOSTS_FILE)")
	s.String(&c.GitAuth.KnownHostsFile, "git-known-hosts-file", "SLIPWAY_GIT_KNOWN_HOSTS_FILE", "", "known_hosts file of the ssh git servers; host keys are checked strictly")
	s.Duration(&c.PollInterval, "poll-interval", "SLIPWAY_POLL_INTERVAL", time.Second, "how often idle workers look for jobs")
	s.Duration(&c.Lease, "lease", "SLIPWAY_LEASE", 30*time.Second, "how long a worker's claim on a job lasts without renewal")
	s.String(&c.WorkDir, "work-dir", "SLIPWAY_WORK_DIR", "", "directory for checkouts (default: the system temp directory)")
	s.Int(&c.MaxBodyBytes, "max-body-bytes", "SLIPWAY_MAX_BODY_BYTES", 1<<20, "largest accepted request body")
	s.String(&c.LogFormat, "log-format", "SLIPWAY_LOG_FORMAT", "auto", "log format: json, text, or auto (text on a terminal)")
	s.String(&c.LogLevel, "log-level", "SLIPWAY_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	s.List(&c.BuildNetworks, "build-networks", "SLIPWAY_BUILD_NETWORKS", "", "networks a job may ask its RUN steps to use besides the default bridge (host, or a Docker network name)")
	s.String(&c.Builder, "builder", "SLIPWAY_BUILDER", job.EngineAuto, "engine of jobs that name none (build.engine): auto (BuildKit when the Dockerfile or the job needs it), classic or buildkit")
	s.String(&c.SecretsDir, "secrets-dir", "SLIPWAY_SECRETS_DIR", "", "directory of build secrets and ssh keys, one file per id, that jobs name in build.secrets and build.ssh (BuildKit)")
	c.queueConfig.register(s)
	c.Hooks.register(s)
	c.apiConfig.register(s)
	c.securityConfig.register(s)
}

func defaultDockerConfig(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".docker", "config.json")
	}
	return ""
}

// role is what a command makes of the process.
type role struct {
	cmd, listen string
	api         bool // serve the HTTP API
	needsDB     bool // a database URL must be given (dev starts one otherwise)
}

var (
	roleServe  = role{cmd: "serve", listen: ":8080", api: true, needsDB: true}
	roleWorker = role{cmd: "worker", needsDB: true}
	roleDev    = role{cmd: "dev", listen: "127.0.0.1:8080", api: true}
)

// loadConfig parses and checks the settings of a process in role r. extra
// registers the command's own settings (dev has some).
func loadConfig(r role, args []string, getenv func(string) string, stderr io.Writer, extra func(*settings)) (*config, error) {
	c := &config{api: r.api}
	s := newSettings(r.cmd, getenv, stderr)
	c.register(s, getenv, r.listen)
	if extra != nil {
		extra(s)
	}
	if err := s.Parse(args); err != nil {
		return nil, err
	}
	if r.needsDB && c.DatabaseURL == "" {
		return nil, errors.New("no database: set SLIPWAY_DATABASE_URL or --database-url")
	}
	if !c.api && c.Workers == 0 {
		return nil, errors.New("slipway worker needs SLIPWAY_WORKERS > 0")
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks every setting and derives what the process needs from
// them; it reads the projects file but touches no service.
func (c *config) validate() error {
	var errs []error
	if _, err := newLogger(io.Discard, c.LogFormat, c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("SLIPWAY_LOG_FORMAT, SLIPWAY_LOG_LEVEL: %w", err))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("SLIPWAY_WORKERS must be 0 or more"))
	}
	if !slices.Contains(job.Engines, c.Builder) {
		errs = append(errs, fmt.Errorf("SLIPWAY_BUILDER=%q must be one of %s", c.Builder, strings.Join(job.Engines, ", ")))
	}
	errs = append(errs, c.queueConfig.validate(c.Lease)...)
	errs = append(errs, c.apiConfig.validate()...)
	errs = append(errs, c.Hooks.validate()...)
	errs = append(errs, c.securityConfig.validate()...)
	if err := c.GitAuth.Check(); err != nil {
		errs = append(errs, err)
	}
	if p, err := c.securityConfig.egressPolicy(); err != nil {
		errs = append(errs, err)
	} else {
		c.egress = p
	}
	if o, err := job.ParseImageOwners(c.ImageOwners); err != nil {
		errs = append(errs, fmt.Errorf("SLIPWAY_IMAGE_OWNERS: %w", err))
	} else {
		c.owners = o
	}
	if c.Hooks.ProjectsFile != "" {
		p, err := readProjects(c.Hooks.ProjectsFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("SLIPWAY_PROJECTS_FILE: %w", err))
		}
		c.projects = p
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bad configuration: %w", err)
	}
	return nil
}

func (c *config) policy() job.Policy {
	return job.Policy{GitSchemes: c.GitProtocols, DefaultTimeout: c.BuildTimeout, MaxTimeout: c.MaxBuildTimeout,
		BuildNetworks: c.BuildNetworks, RegistryHosts: c.RegistryHosts, ImageOwners: c.owners, Engine: c.Builder, KnownSecret: c.knownSecret}
}
