package app

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// setting is one line of a command's --help.
type setting struct {
	cmd, flag, env, def string
	secret              bool
}

// commands returns the command names the top-level usage lists.
func commands(t *testing.T) []string {
	t.Helper()
	var cmds []string
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case line == "Commands:":
			in = true
		case in && strings.HasPrefix(line, "  "):
			cmds = append(cmds, strings.Fields(line)[0])
		case in:
			in = false
		}
	}
	if len(cmds) == 0 {
		t.Fatal("no commands in usage")
	}
	return cmds
}

var helpLine = regexp.MustCompile(`^  (--(\S+)|\(env only\))\s+(\S*)\s+default (.*)$`)

// registeredSettings is the settings registry as users see it: every
// command's --help, parsed.
func registeredSettings(t *testing.T) []setting {
	t.Helper()
	var all []setting
	for _, cmd := range commands(t) {
		var help strings.Builder
		args := []string{"slipway", cmd, "--help"}
		if cmd == "token" {
			args = []string{"slipway", "token", "create", "--help"}
		}
		err := Run(context.Background(), Build{}, args, func(string) string { return "" }, io.Discard, &help)
		if ExitCode(err) != 0 {
			continue // a command without settings (version) has no --help
		}
		for _, line := range strings.Split(help.String(), "\n") {
			if m := helpLine.FindStringSubmatch(line); m != nil {
				all = append(all, setting{cmd: cmd, flag: m[2], env: m[3], def: m[4], secret: m[4] == "(secret)"})
			}
		}
	}
	if len(all) == 0 {
		t.Fatal("no settings found in --help")
	}
	return all
}

// settingEnvs returns every environment variable Slipway reads, with the flag
// that goes with it.
func settingEnvs(t *testing.T) map[string]string {
	t.Helper()
	envs := map[string]string{}
	for _, s := range registeredSettings(t) {
		if s.env != "" {
			envs[s.env] = s.flag
		}
	}
	return envs
}

// TestConfigurationTable: docs/configuration.md documents every setting,
// with its flag, and lists no variable Slipway does not read.
func TestConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| (?:`--([a-z0-9-]+)`|—|-) \\|")
	documented := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
		}
	}
	if len(documented) == 0 {
		t.Fatal("no configuration table found in docs/configuration.md")
	}
	envs := settingEnvs(t)
	for env, flag := range envs {
		doc, ok := documented[env]
		switch {
		case !ok:
			t.Errorf("%s (--%s) is not in docs/configuration.md", env, flag)
		case doc != flag:
			t.Errorf("docs/configuration.md gives %s the flag --%s; the code has --%s", env, doc, flag)
		}
	}
	for env := range documented {
		if _, ok := envs[env]; !ok {
			t.Errorf("docs/configuration.md documents %s, which no command reads", env)
		}
	}
}

// TestHelpListsDefaults: every setting in --help shows a default, and a
// secret's value never shows even when it is set.
func TestHelpListsDefaults(t *testing.T) {
	for _, s := range registeredSettings(t) {
		if s.def == "" {
			t.Errorf("%s --%s: no default shown", s.cmd, s.flag)
		}
	}
	var help strings.Builder
	canary := func(env string) string { return "canary-" + env }
	_ = Run(context.Background(), Build{}, []string{"slipway", "serve", "--help"}, canary, io.Discard, &help)
	for _, s := range registeredSettings(t) {
		if s.secret && strings.Contains(help.String(), canary(s.env)) {
			t.Errorf("serve --help shows the value of secret %s", s.env)
		}
	}
}
