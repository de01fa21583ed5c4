package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

func oneID(name string, fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", otherError(err)
	}
	if fs.NArg() != 1 {
		return "", otherError(fmt.Errorf("usage: slipway %s [flags] JOB_ID", name))
	}
	return fs.Arg(0), nil
}

// Status runs `slipway status`: it prints a job as JSON.
func Status(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id, err := oneID("status", fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(getenv)
	if err != nil {
		return err
	}
	_, data, err := c.job(ctx, id)
	if err != nil {
		return otherError(err)
	}
	var out bytes.Buffer
	if json.Indent(&out, data, "", "  ") != nil {
		out.Reset()
		out.Write(data)
	}
	out.WriteByte('\n')
	_, _ = stdout.Write(out.Bytes())
	return nil
}

// Logs runs `slipway logs`: it prints a job's log; with -f it follows until
// the job ends.
func Logs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("f", false, "follow the log until the job ends")
	every := fs.Duration("poll-interval", time.Second, "with -f, how often to look for news")
	id, err := oneID("logs", fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(getenv)
	if err != nil {
		return err
	}
	if *follow {
		if _, err := c.follow(ctx, id, stdout, *every); err != nil {
			return otherError(err)
		}
		return nil
	}
	text, _, err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id)+"/logs", nil, nil)
	if err != nil {
		return otherError(err)
	}
	_, _ = stdout.Write(text)
	return nil
}

// Cancel runs `slipway cancel`: it asks the server to cancel a job.
func Cancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id, err := oneID("cancel", fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(getenv)
	if err != nil {
		return err
	}
	data, _, err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, nil)
	if err != nil {
		return otherError(err)
	}
	var j remoteJob
	if json.Unmarshal(data, &j) == nil && j.State != "" {
		fmt.Fprintf(stdout, "%s %s\n", j.ID, j.State)
	}
	return nil
}
