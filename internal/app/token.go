package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/job"
)

const tokenUsage = `Usage:
  slipway token create --scope read|admin --name NAME   create an API token in the database
  slipway token generate                                print a random secret (touches nothing)

List and revoke tokens through GET and DELETE /api/v1/tokens.
`

// tokenCmd creates an API token and prints it once (only its hash is kept),
// or generates a secret for the settings that need one.
func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "generate":
		return tokenGenerate(args[1:], stdout, stderr)
	case len(args) == 0 || args[0] != "create":
		fmt.Fprint(stderr, tokenUsage)
		return &exitError{code: 2, err: errors.New("token: want the create or generate subcommand")}
	}
	var dbURL, scope, name, format, level string
	s := newSettings("token create", getenv, stderr)
	s.Secret(&dbURL, "database-url", "SLIPWAY_DATABASE_URL", "Postgres connection URL")
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

// tokenGenerate prints a fresh random secret for SLIPWAY_ADMIN_TOKEN, the
// webhook secrets or a database password. It is base64url (letters, digits,
// '-' and '_'), so it works unescaped everywhere a secret goes: a bearer
// header, a URL's user info (the Jenkins Notification plugin takes Basic
// auth raw from its endpoint URL, where + / = @ : would break it), a
// Postgres URL, a shell or env file.
func tokenGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("token generate takes no arguments, got %q", fs.Args())}
	}
	fmt.Fprintln(stdout, job.NewTokenSecret())
	return nil
}
