package builder

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// GitAuth is how git authenticates to private repositories. The files are
// the operator's; requests can name a user (ssh://git@…, https://user@…)
// but never carry a secret.
type GitAuth struct {
	// CredentialsFile is in git's credential-store format, one
	// https://user:password@host line per server; git's store helper reads
	// it for http(s) fetches.
	CredentialsFile string
	// SSHKeyFile is the private key ssh fetches authenticate with.
	SSHKeyFile string
	// KnownHostsFile holds the host keys ssh accepts; ssh checks strictly, so
	// a server missing from it is refused.
	KnownHostsFile string
}

// Check reads the files as a fetch would, so a bad setting stops the
// process at start instead of failing every job. Errors never quote the
// files' contents.
func (a GitAuth) Check() error {
	var errs []error
	if a.CredentialsFile != "" {
		if _, err := readGitCredentials(a.CredentialsFile); err != nil {
			errs = append(errs, fmt.Errorf("SLIPWAY_GIT_CREDENTIALS_FILE: %w", err))
		}
	}
	if a.SSHKeyFile != "" {
		if a.KnownHostsFile == "" {
			errs = append(errs, errors.New("SLIPWAY_GIT_SSH_KEY_FILE needs SLIPWAY_GIT_KNOWN_HOSTS_FILE: ssh checks every server's host key"))
		}
		if data, err := os.ReadFile(a.SSHKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("SLIPWAY_GIT_SSH_KEY_FILE: %w", err))
		} else if !bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			errs = append(errs, errors.New("SLIPWAY_GIT_SSH_KEY_FILE: not a private key in PEM or OpenSSH format"))
		}
	}
	if a.KnownHostsFile != "" {
		if _, err := os.ReadFile(a.KnownHostsFile); err != nil {
			errs = append(errs, fmt.Errorf("SLIPWAY_GIT_KNOWN_HOSTS_FILE: %w", err))
		}
	}
	return errors.Join(errs...)
}

// readGitCredentials returns the user:password pairs of a credential-store
// file, checking each line has the form git's store helper reads.
func readGitCredentials(path string) ([]*url.Userinfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*url.Userinfo
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		u, err := url.Parse(line)
		if err != nil || u.Host == "" || u.User == nil {
			return nil, fmt.Errorf("line %d is not a scheme://user:password@host URL", n)
		}
		if _, ok := u.User.Password(); !ok {
			return nil, fmt.Errorf("line %d has no password", n)
		}
		out = append(out, u.User)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// GitSecrets returns the passwords of a credential-store file and the
// private key's lines, to be masked wherever Slipway writes.
func GitSecrets(a GitAuth) []string {
	var out []string
	if a.CredentialsFile != "" {
		users, _ := readGitCredentials(a.CredentialsFile)
		for _, u := range users {
			p, _ := u.Password()
			out = append(out, p)
		}
	}
	if a.SSHKeyFile != "" {
		if data, err := os.ReadFile(a.SSHKeyFile); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "-----") {
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// shellQuote quotes s for the shell git runs credential helpers and
// GIT_SSH_COMMAND through.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// gitAuthSetup is one fetch's view of GitAuth: git options, environment,
// and the key copy to remove afterwards.
type gitAuthSetup struct {
	args []string
	env  []string
	dir  string // holds the key copy; removed by close
}

// setup prepares a fetch. Credentials come only from the configured files:
// the system's and user's credential helpers and ssh config are not used.
// ssh refuses a key file others can read, and mounted secrets often are
// (0644), so the key is copied to a private 0600 file outside the checkout.
func (a GitAuth) setup(workDir string) (*gitAuthSetup, error) {
	s := &gitAuthSetup{args: []string{"-c", "credential.helper="}}
	if a.CredentialsFile != "" {
		s.args = append(s.args, "-c", "credential.helper=store --file="+shellQuote(a.CredentialsFile))
	}
	ssh := []string{"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"}
	if a.KnownHostsFile != "" {
		ssh = append(ssh, "-o", "UserKnownHostsFile="+shellQuote(a.KnownHostsFile))
	}
	if a.SSHKeyFile != "" {
		key, err := os.ReadFile(a.SSHKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read SLIPWAY_GIT_SSH_KEY_FILE: %w", err)
		}
		s.dir, err = os.MkdirTemp(workDir, "slipway-ssh-")
		if err != nil {
			return nil, err
		}
		copyPath := filepath.Join(s.dir, "id")
		if err := os.WriteFile(copyPath, key, 0o600); err != nil {
			s.close()
			return nil, err
		}
		ssh = append(ssh, "-i", shellQuote(copyPath))
	}
	s.env = []string{"GIT_SSH_COMMAND=" + strings.Join(ssh, " "), "GIT_SSH=", "GIT_SSH_VARIANT=ssh"}
	return s, nil
}

func (s *gitAuthSetup) close() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
