package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/slipwayci/slipway/job"
)

// fetch checks out exactly src.Commit of src.Repository into dir with the git
// CLI: unlike go-git it can fetch an arbitrary commit over protocol v2.
func (w *Worker) fetch(ctx context.Context, dir string, src job.Source, log *logSink) error {
	if err := w.cfg.Security.checkRepositoryHost(ctx, src.Repository); err != nil {
		return err
	}
	px, err := startGitProxy(w.cfg.Security.Egress, log)
	if err != nil {
		return &job.Failure{Code: job.CodeFetch, Message: "start egress proxy", Err: err}
	}
	defer px.Close()
	auth, err := w.cfg.GitAuth.setup(w.cfg.WorkDir)
	if err != nil {
		return &job.Failure{Code: job.CodeFetch, Message: "prepare git credentials", Err: err}
	}
	defer auth.close()
	// Only the configured protocols are allowed, for the fetch and for anything
	// it could redirect to; ext:: and friends never run.
	proto := append(append(px.gitArgs(), auth.args...), "-c", "protocol.allow=never")
	for _, s := range w.cfg.GitSchemes {
		proto = append(proto, "-c", "protocol."+s+".allow=always")
	}
	steps := [][]string{
		{"init", "--quiet"},
		append(append([]string{}, proto...), "fetch", "--depth", "1", "--no-tags", "--no-recurse-submodules",
			"--end-of-options", src.Repository, src.Commit),
		{"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"},
	}
	log.Printf("==> fetching %s at %s", src.Repository, src.Commit)
	gitCtx, size := ctx, (*checkoutLimit)(nil)
	if limit := w.cfg.Security.MaxCheckoutBytes; limit > 0 {
		gitCtx, size = limitCheckout(ctx, dir, limit)
	}
	for _, args := range steps {
		if err = w.git(gitCtx, dir, auth.env, log, args...); err != nil {
			break
		}
	}
	if size != nil {
		if f := size.Close(gitCtx); f != nil {
			return f
		}
	}
	if err != nil {
		if f := px.failure(); f != nil {
			return f
		}
		return &job.Failure{Code: job.CodeFetch, Message: "fetch " + src.Repository + " at " + src.Commit, Err: err}
	}
	return nil
}

func (w *Worker) git(ctx context.Context, dir string, env []string, log *logSink, args ...string) error {
	cmd := exec.CommandContext(ctx, w.cfg.GitPath, args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(os.Environ()),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_ALLOW_PROTOCOL="+strings.Join(w.cfg.GitSchemes, ":"),
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git %s: %w", args[len(args)-1], err)
	}
	last := copyLines(out, log)
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && last != "" {
			return errors.New(last)
		}
		return err
	}
	return nil
}

// copyLines sends each line of r to log and returns the last non-empty one,
// which is where git and the daemon put the reason for a failure.
func copyLines(r io.Reader, log *logSink) string {
	var last string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		log.Line(line)
		if t := strings.TrimSpace(line); t != "" {
			last = t
		}
	}
	return last
}
