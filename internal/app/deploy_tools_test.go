package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// tool returns the path of a command the deploy checks run. Without it the
// test skips, except in CI (SLIPWAY_REQUIRE_DOCKER set by .ci/run), where
// .ci/services.sh installs it and its absence is a failure.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_DOCKER") != "" {
			t.Fatalf("%s is not installed; .ci/services.sh installs it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// run runs a command with only the given environment and returns its
// combined output.
func run(t *testing.T, env []string, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestKustomizeBuild: `kubectl kustomize` renders deploy/kubernetes once
// secret.env exists, every Deployment takes its required secrets from the
// generated Secret by key, and without secret.env it fails naming the file.
func TestKustomizeBuild(t *testing.T) {
	kubectl := tool(t, "kubectl")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "deploy", "kubernetes"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	kdir := filepath.Join(dir, "kubernetes")
	_ = os.Remove(filepath.Join(kdir, "secret.env")) // a developer's own copy

	out, err := run(t, nil, dir, kubectl, "kustomize", kdir)
	if err == nil || !strings.Contains(out, "secret.env") {
		t.Errorf("kustomize without secret.env: err %v, output %q; want a failure naming secret.env", err, out)
	}

	example, err := os.ReadFile(filepath.Join(kdir, "secret.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment and fill every variable, as the example tells the reader.
	filled := regexp.MustCompile(`(?m)^#([A-Z][A-Z0-9_]*)=.*$`).ReplaceAllString(string(example), "$1=value-of-$1")
	if err := os.WriteFile(filepath.Join(kdir, "secret.env"), []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, nil, dir, kubectl, "kustomize", kdir)
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	var secretName string
	secretKeys := map[string]bool{}
	var deployments []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var doc map[string]any
		if dec.Decode(&doc) != nil {
			break
		}
		switch str(doc["kind"]) {
		case "Secret":
			secretName = str(get(doc, "metadata", "name"))
			for k := range get(doc, "data").(map[string]any) {
				secretKeys[k] = true
			}
		case "Deployment":
			deployments = append(deployments, doc)
		}
	}
	for _, k := range []string{"SLIPWAY_DATABASE_URL", "SLIPWAY_ADMIN_TOKEN"} {
		if !secretKeys[k] {
			t.Errorf("generated Secret lacks %s (has %v)", k, secretKeys)
		}
	}
	if len(deployments) < 2 {
		t.Fatalf("rendered %d Deployments, want the API and the workers", len(deployments))
	}
	for _, d := range deployments {
		name := str(get(d, "metadata", "name"))
		required := map[string]bool{}
		for _, c := range list(get(d, "spec", "template", "spec", "containers")) {
			for _, e := range list(get(c, "env")) {
				ref := get(e, "valueFrom", "secretKeyRef")
				if ref == nil {
					continue
				}
				if got := str(get(ref, "name")); got != secretName {
					t.Errorf("%s: %s from Secret %q, the generated one is %q", name, str(get(e, "name")), got, secretName)
				}
				if get(ref, "optional") == true {
					t.Errorf("%s: required %s is optional", name, str(get(e, "name")))
				}
				required[str(get(e, "name"))] = true
			}
		}
		if !required["SLIPWAY_DATABASE_URL"] {
			t.Errorf("%s does not require SLIPWAY_DATABASE_URL by key", name)
		}
		if name == "slipway-api" && !required["SLIPWAY_ADMIN_TOKEN"] {
			t.Errorf("%s does not require SLIPWAY_ADMIN_TOKEN by key", name)
		}
	}
}

// composeEnv is a complete deploy/.env for the Compose file.
var composeEnv = map[string]string{
	"POSTGRES_PASSWORD":   "pgpassword0123456789",
	"SLIPWAY_ADMIN_TOKEN": "admintoken0123456789abcdefghijklmnopqrstuv",
	"DOCKER_GID":          "0",
}

// TestComposeRequiresSecrets: Debian's docker-compose accepts the Compose
// file, and refuses to start it without each required value, naming it.
func TestComposeRequiresSecrets(t *testing.T) {
	compose := tool(t, "docker-compose")
	deploy := filepath.Join(repoRoot, "deploy")
	// An empty env file, so a developer's deploy/.env does not count.
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "compose.yaml", "--env-file", envFile, "config"}
	var all []string
	for k, v := range composeEnv {
		all = append(all, k+"="+v)
	}
	out, err := run(t, all, deploy, compose, args...)
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for missing := range composeEnv {
		t.Run(missing, func(t *testing.T) {
			t.Parallel()
			var env []string
			for k, v := range composeEnv {
				if k != missing {
					env = append(env, k+"="+v)
				}
			}
			out, err := run(t, env, deploy, compose, args...)
			if err == nil || !strings.Contains(out, "set "+missing+" in deploy/.env") {
				t.Errorf("without %s: err %v, output %q; want a refusal naming it", missing, err, out)
			}
		})
	}
}

// TestSystemdUnit: systemd-analyze finds nothing to say about the unit, and
// rates its exposure below 3 (of 10).
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "systemd", "slipway.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's program exists: point it at one that does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slipway.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/slipway"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "", analyze, "verify", "--man=no", path)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = run(t, nil, "", analyze, "security", "--offline=true", path)
	m := regexp.MustCompile(`Overall exposure level for slipway\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score >= 3 {
		t.Errorf("exposure %s, want below 3:\n%s", m[1], out)
	}
}
