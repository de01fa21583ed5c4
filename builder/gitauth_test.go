package builder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGitAuthCheck: bad credential settings stop the process at start with
// a message naming the setting, never quoting a secret.
func TestGitAuthCheck(t *testing.T) {
	key := writeFile(t, "id", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n", 0o600)
	known := writeFile(t, "known_hosts", "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n", 0o644)
	creds := writeFile(t, "creds", "https://jdoe:s3cret-value@git.example.com\n\nhttp://ci:other-secret@10.1.2.3:8080\n", 0o600)
	tests := []struct {
		name string
		auth GitAuth
		want string // "" for no error
	}{
		{"none", GitAuth{}, ""},
		{"all", GitAuth{CredentialsFile: creds, SSHKeyFile: key, KnownHostsFile: known}, ""},
		{"key without known hosts", GitAuth{SSHKeyFile: key}, "SLIPWAY_GIT_SSH_KEY_FILE needs SLIPWAY_GIT_KNOWN_HOSTS_FILE"},
		{"missing key", GitAuth{SSHKeyFile: key + ".nope", KnownHostsFile: known}, "SLIPWAY_GIT_SSH_KEY_FILE: open"},
		{"not a key", GitAuth{SSHKeyFile: known, KnownHostsFile: known}, "not a private key"},
		{"missing known hosts", GitAuth{KnownHostsFile: known + ".nope"}, "SLIPWAY_GIT_KNOWN_HOSTS_FILE: open"},
		{"missing credentials", GitAuth{CredentialsFile: creds + ".nope"}, "SLIPWAY_GIT_CREDENTIALS_FILE: open"},
		{"no password", GitAuth{CredentialsFile: writeFile(t, "c", "https://jdoe@git.example.com\n", 0o600)}, "line 1 has no password"},
		{"not a URL", GitAuth{CredentialsFile: writeFile(t, "c", "jdoe:leaked-secret\n", 0o600)}, "line 1 is not a scheme://user:password@host URL"},
	}
	for _, tc := range tests {
		err := tc.auth.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: error quotes the file: %v", tc.name, err)
		}
	}
	secrets := GitSecrets(GitAuth{CredentialsFile: creds, SSHKeyFile: key})
	for _, want := range []string{"s3cret-value", "other-secret", "b3BlbnNzaC1rZXktdjEAAAAA"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("GitSecrets lacks %q: %q", want, secrets)
		}
	}
}

// TestGitAuthSetup: a fetch uses only the configured credentials, checks
// host keys strictly, and reads the key from a private copy it removes.
func TestGitAuthSetup(t *testing.T) {
	key := writeFile(t, "id", "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n", 0o644)
	work := t.TempDir()
	s, err := GitAuth{CredentialsFile: "/etc/it's here", SSHKeyFile: key, KnownHostsFile: "/k h"}.setup(work)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(s.args, " ")
	if !strings.Contains(args, "credential.helper= ") || !strings.Contains(args, `credential.helper=store --file='/etc/it'\''s here'`) {
		t.Errorf("git args %q: want the helpers reset, then the store on the quoted file", args)
	}
	env := strings.Join(s.env, "\n")
	for _, want := range []string{"StrictHostKeyChecking=yes", "UserKnownHostsFile='/k h'", "BatchMode=yes", "-F /dev/null", "IdentitiesOnly=yes", "-i '" + s.dir + "/id'"} {
		if !strings.Contains(env, want) {
			t.Errorf("ssh command lacks %q: %s", want, env)
		}
	}
	fi, err := os.Stat(filepath.Join(s.dir, "id"))
	if err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(s.dir, work) {
		t.Errorf("key copy: %v, mode %v, in %s; want 0600 under %s", err, fi.Mode(), s.dir, work)
	}
	s.close()
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("key copy left behind: %v", err)
	}
}
