// Package app is the slipway command: it reads configuration, wires the
// adapters (db, builder, server) together and runs the subcommands.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayci/slipway/internal/cli"
)

// Build identifies the running binary.
type Build struct {
	Version string
	Commit  string
}

// exitError carries a process exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// ExitCode returns the process exit code for the error Run returned: 0 for
// none or --help, the code an error asks for (the client commands' and
// exitError), else 1.
func ExitCode(err error) int {
	var e interface{ ExitCode() int }
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &e):
		return e.ExitCode()
	}
	return 1
}

const usage = `Usage: slipway <command> [flags]

Commands:
  serve     run the API and build workers
  worker    run build workers only (no API)
  migrate   apply database migrations and exit
  dev       run a local instance with Postgres and a registry in Docker
  submit    queue a build from a CI step (--wait streams it; exit 0 ok, 1 failed, 2 error)
  status    print a job (slipway status JOB_ID)
  logs      print a job's log (slipway logs [-f] JOB_ID)
  cancel    cancel a job (slipway cancel JOB_ID)
  healthcheck  ask the local API's /healthz (the image's HEALTHCHECK)
  token     create an API token (token create --scope read|admin --name NAME) or print a secret (token generate)
  version   print the version

Run "slipway <command> --help" for a command's settings.
`

// Run runs the slipway command line given in args (args[0] is the program).
func Run(ctx context.Context, b Build, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("no command given")}
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return serve(ctx, b, rest, getenv, stderr)
	case "worker":
		return worker(ctx, b, rest, getenv, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stderr)
	case "dev":
		return dev(ctx, b, rest, getenv, stdout, stderr)
	case "submit":
		return cli.Submit(ctx, rest, getenv, stdout, stderr)
	case "status":
		return cli.Status(ctx, rest, getenv, stdout, stderr)
	case "logs":
		return cli.Logs(ctx, rest, getenv, stdout, stderr)
	case "cancel":
		return cli.Cancel(ctx, rest, getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, rest, getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString(b))
		return nil
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", cmd)}
}

func versionString(b Build) string {
	s := "slipway " + b.Version
	if b.Commit != "" {
		s += " (commit " + b.Commit + ")"
	}
	return s
}
