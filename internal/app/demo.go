package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// makeDemoRepo creates a git repository whose image needs no base image, so
// the demo works on a machine that cannot pull.
func makeDemoRepo(ctx context.Context, gitPath, dir string) (string, error) {
	files := map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.opencontainers.image.title=slipway-demo\n",
		"hello.txt":     "Hello from Slipway.\n",
		".dockerignore": "notes.md\n",
		"notes.md":      "This file stays out of the image: .dockerignore lists it.\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, gitPath, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Slipway", "GIT_AUTHOR_EMAIL=dev@slipway.invalid",
			"GIT_COMMITTER_NAME=Slipway", "GIT_COMMITTER_EMAIL=dev@slipway.invalid", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "demo"}} {
		if _, err := git(args...); err != nil {
			return "", err
		}
	}
	sha, err := git("rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if len(sha) != 40 {
		return "", errors.New("unexpected commit id " + sha)
	}
	return sha, nil
}
