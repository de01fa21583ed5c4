package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// remoteJob is the part of a job the client reads.
type remoteJob struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Result *struct {
		Digest string   `json:"digest"`
		Images []string `json:"images"`
	} `json:"result"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (j *remoteJob) terminal() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "canceled"
}

func (c *apiClient) job(ctx context.Context, id string) (*remoteJob, []byte, error) {
	data, _, err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	var j remoteJob
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, nil, fmt.Errorf("job %s: unreadable answer: %w", id, err)
	}
	return &j, data, nil
}

// follow prints the job's log as it grows until the job ends, and returns
// the ended job. Lost answers are retried a few times before giving up.
func (c *apiClient) follow(ctx context.Context, id string, out io.Writer, every time.Duration) (*remoteJob, error) {
	since, failures := 0, 0
	for {
		j, _, err := c.job(ctx, id)
		if err == nil {
			var text []byte
			text, _, err = c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/jobs/%s/logs?since=%d", url.PathEscape(id), since), nil, nil)
			if err == nil {
				_, _ = out.Write(text)
				since += bytes.Count(text, []byte{'\n'})
				if j.terminal() {
					return j, nil
				}
			}
		}
		var aerr *apiError
		if err != nil {
			if errors.As(err, &aerr) && aerr.status < 500 {
				return nil, err
			}
			if failures++; failures > 5 {
				return nil, err
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %s: stopped waiting: %w", id, context.Cause(ctx))
		case <-time.After(every):
		}
	}
}
