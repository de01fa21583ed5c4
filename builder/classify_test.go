package builder

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slipwayci/slipway/job"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"registry 503 on push", &job.Failure{Code: job.CodePush, Message: "push r/x:1", Err: errors.New("received unexpected HTTP status: 503 Service Unavailable")}, true},
		{"registry 502", errors.New("received unexpected HTTP status: 502 Bad Gateway"), true},
		{"registry timeout", errors.New("Get \"http://r/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"), true},
		{"registry i/o timeout", errors.New("dial tcp 10.0.0.1:443: i/o timeout"), true},
		{"daemon unreachable", errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), true},
		{"daemon connection refused", fmt.Errorf("start build: %w", errors.New("dial unix /var/run/docker.sock: connect: connection refused")), true},
		{"git host unknown", &job.Failure{Code: job.CodeFetch, Err: errors.New("fatal: unable to access 'https://git.example.com/a.git/': Could not resolve host: git.example.com")}, true},
		{"git server 502", errors.New("fatal: unable to access 'https://g/a.git/': The requested URL returned error: 502"), true},
		{"git hung up", errors.New("fatal: the remote end hung up unexpectedly"), true},
		{"failing RUN", &job.Failure{Code: job.CodeBuild, Message: "build failed at Step 3/3 : RUN exit 3", Err: errors.New("The command '/bin/sh -c exit 3' returned a non-zero code: 3")}, false},
		{"Dockerfile error", errors.New("dockerfile parse error line 2: unknown instruction: FORM"), false},
		{"push denied", errors.New("denied: requested access to the resource is denied"), false},
		{"push unauthorized behind a 503-looking proxy", errors.New("unauthorized: authentication required (503 Service Unavailable upstream)"), false},
		{"bad reference", errors.New("invalid reference format"), false},
		{"git missing commit", errors.New("fatal: remote error: upload-pack: not our ref 0123"), false},
		{"git auth failed", errors.New("fatal: Authentication failed for 'https://g/a.git/'"), false},
		{"marked permanent", &job.Failure{Code: job.CodePush, Permanent: true, Err: errors.New("connection refused")}, false},
		{"context canceled", context.Canceled, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	w := &Worker{cfg: Config{RetryBackoff: 10 * time.Second, MaxBackoff: 60 * time.Second}}
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{4, 60 * time.Second},
		{10, 60 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if got := w.backoff(tt.attempt); got < tt.ceiling/2 || got > tt.ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.attempt, got, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}

func TestCacheRace(t *testing.T) {
	race := errors.New(`unable to find image "sha256:19a8ca5c9e617b6bb74cf4222f0fc3e592ec31f5192ccddd9a2213a269855419"`)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"cache lookup met a removed image", &job.Failure{Code: job.CodeBuild, Message: "build failed at Step 2/3 : COPY f /f", Err: race}, true},
		{"wrapped", fmt.Errorf("build: %w", &job.Failure{Code: job.CodeBuild, Message: "build failed", Err: race}), true},
		{"same words from a push", &job.Failure{Code: job.CodePush, Message: "push r/x:1", Err: race}, false},
		{"missing base image", &job.Failure{Code: job.CodeBuild, Message: "build failed at Step 1/2 : FROM nope", Err: errors.New("pull access denied for nope, repository does not exist")}, false},
		{"failing RUN", &job.Failure{Code: job.CodeBuild, Message: "build failed at Step 3/3 : RUN exit 3", Err: errors.New("The command '/bin/sh -c exit 3' returned a non-zero code: 3")}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cacheRace(tt.err); got != tt.want {
				t.Errorf("cacheRace(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
