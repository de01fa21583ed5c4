// Command slipway receives build requests from Jenkins, Bamboo and scripts,
// queues them in Postgres and builds and pushes container images with Docker.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/slipwayci/slipway/internal/app"
)

// Set at link time: -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slipway:", err)
	}
	os.Exit(app.ExitCode(err))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return app.Run(ctx, app.Build{Version: version, Commit: commit}, args, getenv, stdout, stderr)
}
