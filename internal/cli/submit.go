package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/webhooksig"
	"github.com/slipwayci/slipway/job"
)

const submitUsage = `Usage: slipway submit [flags]

Queues a build on the Slipway server at $SLIPWAY_URL, authenticated with
$SLIPWAY_TOKEN. Repository, commit, branch and build come from the Jenkins or
Bamboo environment; flags override them. With --wait it streams the build log
and exits 0 when the build succeeded, 1 when it failed, 2 on any other error.

Flags:
`

// Submit runs `slipway submit`: it queues a build and, with --wait, follows
// it to its end.
func Submit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	req.Source.Ref = job.BranchRef(branch)
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
