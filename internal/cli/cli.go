// Package cli is Slipway's client commands: submit, status, logs and cancel
// talk to a Slipway server over its HTTP API, as a CI step does.
package cli

import "strings"

// Exit codes of the client commands: a pipeline step tells a failed build
// from a Slipway it could not use.
const (
	exitBuildFailed = 1
	exitOther       = 2
)

// exitError carries the process exit code for err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process exit code the command asks for.
func (e *exitError) ExitCode() int { return e.code }

func otherError(err error) error { return &exitError{code: exitOther, err: err} }

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
