package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/job"
)

// minAdminTokenLen keeps a guessable bootstrap token out: 32 characters of a
// random string are well beyond guessing.
const minAdminTokenLen = 32

func (c *serveConfig) registerAPI(s *settings) {
	s.Secret(&c.AdminToken, "", "SLIPWAY_ADMIN_TOKEN", "bootstrap admin API token (at least 32 characters; environment only, so it stays out of process listings)")
	s.Bool(&c.PublicReads, "public-reads", "SLIPWAY_PUBLIC_READS", false, "serve job, log and stats reads without a token")
	s.List(&c.CORSOrigins, "cors-origins", "SLIPWAY_CORS_ORIGINS", "", "browser origins allowed to call the API, exactly as sent (https://ci.example.com)")
	s.Duration(&c.LogPollInterval, "log-poll-interval", "SLIPWAY_LOG_POLL_INTERVAL", 500*time.Millisecond, "how often live log streams look for new lines")
	s.Int(&c.MaxHookBodyBytes, "max-hook-body-bytes", "SLIPWAY_MAX_HOOK_BODY_BYTES", 4<<20, "largest accepted webhook body (Jenkins and Bamboo payloads)")
	s.Int(&c.MaxLogFollowers, "max-log-followers", "SLIPWAY_MAX_LOG_FOLLOWERS", 200, "live log streams served at once; more get 429 (0: no cap)")
	s.Int(&c.JobCacheSize, "job-cache-size", "SLIPWAY_JOB_CACHE_SIZE", 1000, "job views kept in memory for GET /api/v1/jobs/{id}, refreshed by database notifications (0: read every time)")
}

// checkAuthConfig refuses to serve an API nobody could use: without a
// bootstrap token or a stored one, every guarded endpoint would answer 401.
func checkAuthConfig(ctx context.Context, cfg serveConfig, store *db.DB) error {
	if cfg.AdminToken != "" && len(cfg.AdminToken) < minAdminTokenLen {
		return fmt.Errorf("SLIPWAY_ADMIN_TOKEN is too short: use at least %d random characters", minAdminTokenLen)
	}
	for _, o := range cfg.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return fmt.Errorf("SLIPWAY_CORS_ORIGINS: %q is not an origin such as https://ci.example.com", o)
		}
	}
	if cfg.AdminToken != "" {
		return nil
	}
	ok, err := store.HasActiveTokens(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("no way to authenticate: set SLIPWAY_ADMIN_TOKEN or create a token with `slipway token create --scope admin`")
	}
	return nil
}

// tokenCmd creates an API token and prints it once; only its hash is kept.
func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "Usage: slipway token create --scope read|admin --name NAME\n\nList and revoke tokens through GET and DELETE /api/v1/tokens.\n")
		return &exitError{code: 2, err: errors.New("token: want the create subcommand")}
	}
	var dbURL, scope, name, format, level string
	s := newSettings("token create", getenv, stderr)
	s.String(&dbURL, "database-url", "SLIPWAY_DATABASE_URL", "", "Postgres connection URL")
	s.String(&scope, "scope", "SLIPWAY_TOKEN_SCOPE", "read", "read (status, logs) or admin (also create, cancel, retry, projects, tokens)")
	s.String(&name, "name", "SLIPWAY_TOKEN_NAME", "", "what the token is for, shown in the token list")
	s.String(&format, "log-format", "SLIPWAY_LOG_FORMAT", "auto", "log format: json, text, or auto")
	s.String(&level, "log-level", "SLIPWAY_LOG_LEVEL", "warn", "log level")
	if err := s.Parse(args[1:]); err != nil {
		return err
	}
	if dbURL == "" {
		return errors.New("no database: set SLIPWAY_DATABASE_URL or --database-url")
	}
	if !job.Scope(scope).Valid() {
		return &exitError{code: 2, err: fmt.Errorf("--scope %q: want read or admin", scope)}
	}
	if name == "" {
		return &exitError{code: 2, err: errors.New("--name is required: say what the token is for")}
	}
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	store, err := db.Open(ctx, dbURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	secret := job.NewTokenSecret()
	t, err := store.CreateToken(ctx, name, job.Scope(scope), job.HashToken(secret), secret[:len(job.TokenPrefix)+4])
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Created %s token %q (id %s). It is shown once; store it now.\n", t.Scope, t.Name, t.ID)
	fmt.Fprintln(stdout, secret)
	return nil
}
