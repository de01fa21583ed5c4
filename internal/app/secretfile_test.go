package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeSecret writes value to a fresh file, with the trailing newline an
// editor or `echo` leaves, and returns its path.
func writeSecret(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretFiles: every secret setting of every command can come from the
// file its _FILE variable names, the newline dropped; both at once, or a
// file that cannot be read, is a configuration error naming the variable.
func TestSecretFiles(t *testing.T) {
	n := 0
	for _, set := range registeredSettings(t) {
		if !set.secret {
			continue
		}
		n++
		want := "from-a-file-" + strings.ToLower(set.env) + "-0123456789abcdefghijklmnop"
		file := writeSecret(t, want)
		cases := map[string]struct {
			env     map[string]string
			wantErr string
		}{
			"file":    {env: map[string]string{set.env + "_FILE": file}},
			"both":    {env: map[string]string{set.env + "_FILE": file, set.env: "x"}, wantErr: set.env + " and " + set.env + "_FILE are both set"},
			"missing": {env: map[string]string{set.env + "_FILE": file + ".nope"}, wantErr: set.env + "_FILE: open"},
		}
		for name, c := range cases {
			s := newSettings(set.cmd, func(k string) string { return c.env[k] }, io.Discard)
			var got string
			s.Secret(&got, "", set.env, "")
			err := s.Parse(nil)
			switch {
			case c.wantErr == "" && (err != nil || got != want):
				t.Errorf("%s %s from a file: got %q, %v; want %q", set.cmd, set.env, got, err, want)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("%s %s %s: error %v, want one containing %q", set.cmd, set.env, name, err, c.wantErr)
			}
		}
	}
	if n == 0 {
		t.Fatal("no secret settings found in --help")
	}

	// Wired through: serve takes its admin token, hook secret and database
	// URL from files.
	env := map[string]string{
		"SLIPWAY_ADMIN_TOKEN_FILE":         writeSecret(t, "admin-token-from-a-file-0123456789abcdef"),
		"SLIPWAY_HOOK_SECRET_JENKINS_FILE": writeSecret(t, "jenkins-secret-from-a-file"),
		"SLIPWAY_DATABASE_URL_FILE":        writeSecret(t, "postgres://u:p@127.0.0.1:1/db"),
	}
	c, err := loadConfig(roleServe, nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != "admin-token-from-a-file-0123456789abcdef" || c.Hooks.JenkinsSecret != "jenkins-secret-from-a-file" || c.DatabaseURL != "postgres://u:p@127.0.0.1:1/db" {
		t.Errorf("serve did not read its secrets from files: admin %q, jenkins %q, database %q", c.AdminToken, c.Hooks.JenkinsSecret, c.DatabaseURL)
	}
}

// TestTokenGenerate: `slipway token generate` prints a fresh secret of 256
// random bits that needs no escaping in any auth form: a bearer header, the
// user info of a URL (the Jenkins Notification plugin's Basic auth), a
// Postgres URL, a shell or env file.
func TestTokenGenerate(t *testing.T) {
	safe := regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)
	seen := map[string]bool{}
	for range 50 {
		var out, errOut strings.Builder
		if err := Run(context.Background(), Build{}, []string{"slipway", "token", "generate"}, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("token generate: %v %s", err, errOut.String())
		}
		secret := strings.TrimSuffix(out.String(), "\n")
		if !safe.MatchString(secret) || strings.ContainsAny(secret, "+/=@:") {
			t.Fatalf("token generate printed %q: want at least 43 characters of A-Z a-z 0-9 - _", secret)
		}
		if len(secret) < minAdminTokenLen {
			t.Fatalf("%q is too short for SLIPWAY_ADMIN_TOKEN", secret)
		}
		if seen[secret] {
			t.Fatalf("token generate repeated %q", secret)
		}
		seen[secret] = true
	}
	err := Run(context.Background(), Build{}, []string{"slipway", "token", "generate", "extra"}, func(string) string { return "" }, io.Discard, io.Discard)
	if ExitCode(err) != 2 {
		t.Errorf("token generate extra: exit %d, want 2", ExitCode(err))
	}
}
