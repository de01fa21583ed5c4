package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/webhooksig"
)

// Exit codes of the client commands: a pipeline step tells a failed build
// from a Slipway it could not use.
const (
	exitBuildFailed = 1
	exitOther       = 2
)

func otherError(err error) error { return &exitError{code: exitOther, err: err} }

// apiClient talks to a Slipway server as its CLI commands do. The URL and token
// come from the environment only, so they never show in a CI log.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newClient(getenv func(string) string) (*apiClient, error) {
	base := strings.TrimRight(getenv("SLIPWAY_URL"), "/")
	if base == "" {
		return nil, otherError(errors.New("SLIPWAY_URL is not set"))
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, otherError(errors.New("SLIPWAY_URL must be an http(s) URL such as https://slipway.example.com"))
	}
	return &apiClient{base: base, token: getenv("SLIPWAY_TOKEN"), http: &http.Client{Timeout: time.Minute}}, nil
}

// apiError is a non-2xx answer, described by its problem document.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("server answered %d: %s", e.status, e.detail) }

func (c *apiClient) do(ctx context.Context, method, path string, body []byte, header http.Header) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the URL; the method and path say enough.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var p struct {
			Detail string `json:"detail"`
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		detail := http.StatusText(resp.StatusCode)
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			detail = p.Detail
			for _, e := range p.Errors {
				detail += "; " + e.Field + ": " + e.Message
			}
		}
		return data, resp.StatusCode, &apiError{status: resp.StatusCode, detail: detail}
	}
	return data, resp.StatusCode, nil
}

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

type kvFlag map[string]string

func (m kvFlag) String() string { return "" }
func (m kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want NAME=VALUE", v)
	}
	m[k] = val
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// ciBuild is what the CI environment says about the running build.
type ciBuild struct {
	system, repository, commit, branch, job, number, url string
}

// detectCI reads Jenkins' or Bamboo's environment.
func detectCI(getenv func(string) string) ciBuild {
	switch {
	case getenv("bamboo_buildResultKey") != "":
		key := getenv("bamboo_buildResultKey")
		plan, number := key, getenv("bamboo_buildNumber")
		if i := strings.LastIndexByte(key, '-'); i > 0 {
			plan, number = key[:i], key[i+1:]
		}
		return ciBuild{
			system:     "bamboo",
			repository: getenv("bamboo_planRepository_repositoryUrl"),
			commit:     getenv("bamboo_planRepository_revision"),
			branch:     getenv("bamboo_planRepository_branchName"),
			job:        plan,
			number:     number,
			url:        getenv("bamboo_buildResultsUrl"),
		}
	case getenv("JENKINS_URL") != "" || getenv("BUILD_URL") != "":
		return ciBuild{
			system:     "jenkins",
			repository: getenv("GIT_URL"),
			commit:     getenv("GIT_COMMIT"),
			branch:     getenv("GIT_BRANCH"),
			job:        getenv("JOB_NAME"),
			number:     getenv("BUILD_NUMBER"),
			url:        getenv("BUILD_URL"),
		}
	}
	return ciBuild{system: "api"}
}

func branchToRef(branch string) string {
	if branch == "" || strings.HasPrefix(branch, "refs/") {
		return branch
	}
	return "refs/heads/" + strings.TrimPrefix(branch, "origin/")
}

const submitUsage = `Usage: slipway submit [flags]

Queues a build on the Slipway server at $SLIPWAY_URL, authenticated with
$SLIPWAY_TOKEN. Repository, commit, branch and build come from the Jenkins or
Bamboo environment; flags override them. With --wait it streams the build log
and exits 0 when the build succeeded, 1 when it failed, 2 on any other error.

Flags:
`

func submit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ci := detectCI(getenv)
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, submitUsage); fs.PrintDefaults() }
	var (
		req = struct {
			Source struct {
				Repository string `json:"repository,omitempty"`
				Commit     string `json:"commit,omitempty"`
				Ref        string `json:"ref,omitempty"`
			} `json:"source"`
			Build struct {
				Context    string            `json:"context,omitempty"`
				Dockerfile string            `json:"dockerfile,omitempty"`
				Target     string            `json:"target,omitempty"`
				Args       map[string]string `json:"args,omitempty"`
				Labels     map[string]string `json:"labels,omitempty"`
			} `json:"build"`
			Image struct {
				Name string   `json:"name,omitempty"`
				Tags []string `json:"tags,omitempty"`
			} `json:"image"`
			Push    *bool `json:"push,omitempty"`
			Trigger struct {
				System      string `json:"system"`
				Job         string `json:"job,omitempty"`
				BuildNumber string `json:"build_number,omitempty"`
				URL         string `json:"url,omitempty"`
			} `json:"trigger"`
			CallbackURL string `json:"callback_url,omitempty"`
			Project     string `json:"project,omitempty"`
		}{}
		tags               listFlag
		buildArgs, labels  = kvFlag{}, kvFlag{}
		noPush, wait       bool
		key, digestFile    string
		timeout, pollEvery time.Duration
		branch             = ci.branch
	)
	fs.StringVar(&req.Source.Repository, "repository", ci.repository, "git repository URL (default from GIT_URL / bamboo_planRepository_repositoryUrl)")
	fs.StringVar(&req.Source.Commit, "commit", ci.commit, "full commit id (default from GIT_COMMIT / bamboo_planRepository_revision)")
	fs.StringVar(&branch, "branch", ci.branch, "branch (default from GIT_BRANCH / bamboo_planRepository_branchName)")
	fs.StringVar(&req.Image.Name, "image", "", "image name without tag (default: from the server's project)")
	fs.Var(&tags, "tag", "image tag; repeat or separate with commas")
	fs.StringVar(&req.Build.Context, "context", "", "build context directory in the repository")
	fs.StringVar(&req.Build.Dockerfile, "dockerfile", "", "Dockerfile path in the repository")
	fs.StringVar(&req.Build.Target, "target", "", "build stage to stop at")
	fs.Var(buildArgs, "build-arg", "NAME=VALUE build argument; repeatable")
	fs.Var(labels, "label", "NAME=VALUE image label; repeatable")
	fs.StringVar(&req.Project, "project", "", "project supplying the settings not given")
	fs.StringVar(&req.CallbackURL, "callback-url", "", "URL told the outcome when the job ends")
	fs.BoolVar(&noPush, "no-push", false, "build without pushing")
	fs.StringVar(&key, "idempotency-key", "", "delivery id (default derived from the CI build, so a retried step never queues twice)")
	fs.BoolVar(&wait, "wait", false, "stream the log and wait for the build to end")
	fs.DurationVar(&timeout, "timeout", time.Hour, "with --wait, how long to wait")
	fs.DurationVar(&pollEvery, "poll-interval", time.Second, "with --wait, how often to look for news")
	fs.StringVar(&digestFile, "digest-file", "", "with --wait, write the pushed digest to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return otherError(err)
	}
	if fs.NArg() > 0 {
		return otherError(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	c, err := newClient(getenv)
	if err != nil {
		return err
	}
	req.Source.Ref = branchToRef(branch)
	req.Image.Tags = tags
	if len(buildArgs) > 0 {
		req.Build.Args = buildArgs
	}
	if len(labels) > 0 {
		req.Build.Labels = labels
	}
	if noPush {
		f := false
		req.Push = &f
	}
	req.Trigger.System, req.Trigger.Job, req.Trigger.BuildNumber, req.Trigger.URL = ci.system, ci.job, ci.number, ci.url
	body, err := json.Marshal(req)
	if err != nil {
		return otherError(err)
	}
	if key == "" && ci.job != "" && ci.number != "" {
		// One CI build may ship several images, each once.
		sum := sha256.Sum256([]byte(strings.Join([]string{ci.system, ci.job, ci.number, req.Image.Name, req.Build.Context, req.Build.Dockerfile, req.Build.Target, req.Project}, "\x00")))
		key = ci.system + "-" + hex.EncodeToString(sum[:16])
	}
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	if c.token != "" {
		sigKey, err := webhooksig.Key(c.token)
		if err != nil {
			return otherError(fmt.Errorf("SLIPWAY_TOKEN: %w", err))
		}
		id := key
		if id == "" {
			id = "submit-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
		now := time.Now()
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set("webhook-signature", webhooksig.Sign(sigKey, id, now, body))
	}
	data, status, err := c.do(ctx, http.MethodPost, "/api/v1/jobs", body, h)
	if err != nil {
		return otherError(err)
	}
	var j remoteJob
	if err := json.Unmarshal(data, &j); err != nil || j.ID == "" {
		return otherError(errors.New("unreadable answer to the build request"))
	}
	if status == http.StatusAccepted {
		fmt.Fprintf(stderr, "slipway: queued job %s\n", j.ID)
	} else {
		fmt.Fprintf(stderr, "slipway: job %s was already queued for this build\n", j.ID)
	}
	if !wait {
		fmt.Fprintln(stdout, j.ID)
		return nil
	}
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no outcome within %s", timeout))
	defer cancel()
	end, err := c.follow(wctx, j.ID, stdout, pollEvery)
	if err != nil {
		return otherError(err)
	}
	return outcome(end, stdout, digestFile)
}

// outcome turns an ended job into the step's exit code.
func outcome(j *remoteJob, stdout io.Writer, digestFile string) error {
	switch j.State {
	case "succeeded":
		if j.Result != nil && j.Result.Digest != "" {
			fmt.Fprintln(stdout, j.Result.Digest)
			if digestFile != "" {
				if err := os.WriteFile(digestFile, []byte(j.Result.Digest+"\n"), 0o644); err != nil {
					return otherError(fmt.Errorf("digest file: %w", err))
				}
			}
		}
		return nil
	case "failed":
		msg := "build failed"
		if j.Error != nil {
			msg = fmt.Sprintf("build failed (%s): %s", j.Error.Code, j.Error.Message)
		}
		return &exitError{code: exitBuildFailed, err: errors.New(msg)}
	}
	return otherError(fmt.Errorf("job %s ended %s", j.ID, j.State))
}

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

// status prints a job as JSON.
func status(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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

// logs prints a job's log; with -f it follows until the job ends.
func logs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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

// cancel asks the server to cancel a job.
func cancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
