package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestBambooSpecs checks bamboo-specs/bamboo.yml against what Bamboo's YAML
// specs (version 2) require: plan keys, stages that list jobs, and each job
// defined with tasks.
func TestBambooSpecs(t *testing.T) {
	data, err := os.ReadFile("bamboo-specs/bamboo.yml")
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatalf("bamboo.yml is not YAML: %v", err)
	}
	if v, ok := spec["version"].(int); !ok || v != 2 {
		t.Errorf("version = %v, want 2", spec["version"])
	}
	plan, _ := spec["plan"].(map[string]any)
	keyRE := regexp.MustCompile(`^[A-Z][A-Z0-9]*$`)
	for _, k := range []string{"project-key", "key", "name"} {
		v, _ := plan[k].(string)
		if v == "" || (k != "name" && !keyRE.MatchString(v)) {
			t.Errorf("plan.%s = %q: required (keys upper-case letters and digits)", k, v)
		}
	}
	stages, _ := spec["stages"].([]any)
	if len(stages) == 0 {
		t.Fatal("no stages")
	}
	var jobs []string
	for _, s := range stages {
		m, _ := s.(map[string]any)
		if len(m) != 1 {
			t.Fatalf("stage %v: want one name mapping to its jobs", s)
		}
		for name, body := range m {
			b, _ := body.(map[string]any)
			list, _ := b["jobs"].([]any)
			if len(list) == 0 {
				t.Errorf("stage %s lists no jobs", name)
			}
			for _, j := range list {
				jobs = append(jobs, j.(string))
			}
		}
	}
	for _, name := range jobs {
		def, ok := spec[name].(map[string]any)
		if !ok {
			t.Errorf("job %s is listed in a stage but not defined", name)
			continue
		}
		tasks, _ := def["tasks"].([]any)
		if len(tasks) == 0 {
			t.Errorf("job %s has no tasks", name)
		}
		for _, task := range tasks {
			tm, _ := task.(map[string]any)
			if sc, ok := tm["script"].(map[string]any); ok {
				if lines, _ := sc["scripts"].([]any); len(lines) == 0 {
					t.Errorf("job %s: a script task without scripts", name)
				}
			}
		}
	}
	if !strings.Contains(string(data), "slipway submit --wait") {
		t.Error("the plan does not ship through slipway submit --wait")
	}
	checkBambooScripts(t, spec, jobs)
}

// bambooMasked is Bamboo's rule for hiding a variable's value in build logs:
// its name contains one of these words.
var bambooMasked = regexp.MustCompile(`(?i)password|passphrase|secret|sshkey`)

// checkBambooScripts: every script stops at the first failing command (Bamboo
// judges a script by its last command only), parses as shell, and takes
// credentials only from variables Bamboo masks.
func checkBambooScripts(t *testing.T, spec map[string]any, jobs []string) {
	t.Helper()
	credential := regexp.MustCompile(`(?m)^\s*(?:export\s+)?[A-Z_]*(?:TOKEN|SECRET|PASSWORD)[A-Z_]*=.*\$\{(bamboo_[a-z0-9_]+)\}`)
	scripts := 0
	for _, name := range jobs {
		def, _ := spec[name].(map[string]any)
		tasks, _ := def["tasks"].([]any)
		for _, task := range tasks {
			sc, ok := task.(map[string]any)["script"].(map[string]any)
			if !ok {
				continue
			}
			scripts++
			var lines []string
			for _, l := range sc["scripts"].([]any) {
				lines = append(lines, l.(string))
			}
			if strings.TrimSpace(lines[0]) != "set -e" {
				t.Errorf("job %s: a script does not start with set -e", name)
			}
			body := strings.Join(lines, "\n")
			if out, err := exec.Command("bash", "-n", "-c", body).CombinedOutput(); err != nil {
				t.Errorf("job %s: script does not parse: %v %s", name, err, out)
			}
			for _, m := range credential.FindAllStringSubmatch(body, -1) {
				if !bambooMasked.MatchString(m[1]) {
					t.Errorf("job %s: credential from %s, which Bamboo does not mask", name, m[1])
				}
			}
		}
	}
	if scripts == 0 {
		t.Error("no script tasks")
	}
	vars, _ := spec["variables"].(map[string]any)
	for k := range vars {
		if bambooMasked.MatchString(k) {
			t.Errorf("variables: %s is a secret; set it in Bamboo, not in the specs", k)
		}
	}
}

// TestJenkinsfile checks the declarative pipeline's outline: Jenkins itself
// is not available to parse it here.
func TestJenkinsfile(t *testing.T) {
	data, err := os.ReadFile("Jenkinsfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{"pipeline {", "agent ", "stages {", "stage('Test')", "go test ./...", "stage('Ship')",
		"credentials('slipway-token')", "slipway submit --wait", "--digest-file"} {
		if !strings.Contains(s, want) {
			t.Errorf("Jenkinsfile lacks %q", want)
		}
	}
	// `when { branch … }` is false in a plain (non-multibranch) Pipeline job.
	if regexp.MustCompile(`when\s*\{\s*branch`).MatchString(s) || !strings.Contains(s, "env.BRANCH_NAME") || !strings.Contains(s, "env.GIT_BRANCH") {
		t.Error("Jenkinsfile's Ship stage must test env.BRANCH_NAME and env.GIT_BRANCH, not `when { branch }`")
	}
	if strings.Count(s, "{") != strings.Count(s, "}") {
		t.Error("Jenkinsfile braces do not balance")
	}
}
