package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cpuguy83/dockercfg"
	"github.com/docker/cli/cli/config/types"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"

	"github.com/slipwayci/slipway/job"
)

// maxSecretBytes bounds one secret file; BuildKit's own limit is 500 KiB.
const maxSecretBytes = 500 * 1024

// sessionAttachables are what the build's session serves besides the
// context: registry credentials for FROM and cache imports, the secrets and
// ssh keys the job names (read from the secrets directory now, held in
// memory, never written anywhere).
func (w *Worker) sessionAttachables(b job.Build) ([]session.Attachable, error) {
	out := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: w.buildKitAuth,
	})}
	if len(b.Secrets) > 0 {
		values := make(map[string][]byte, len(b.Secrets))
		for _, id := range b.Secrets {
			v, err := w.readSecret(id)
			if err != nil {
				return nil, err
			}
			values[id] = v
		}
		out = append(out, secretsprovider.FromMap(values))
	}
	if len(b.SSH) > 0 {
		confs := make([]sshprovider.AgentConfig, len(b.SSH))
		for i, id := range b.SSH {
			if _, err := w.readSecret(id); err != nil {
				return nil, err
			}
			confs[i] = sshprovider.AgentConfig{ID: id, Paths: []string{filepath.Join(w.cfg.SecretsDir, id)}}
		}
		p, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			// The provider's error names the file, never its content.
			return nil, &job.Failure{Code: job.CodeSecretUnavailable, Message: "load ssh key", Permanent: true, Err: err}
		}
		out = append(out, p)
	}
	return out, nil
}

// readSecret reads the secret with the given id from the secrets directory.
// Ids were checked when the job was accepted; the file may have gone since.
func (w *Worker) readSecret(id string) ([]byte, error) {
	fail := func(msg string) error {
		return &job.Failure{Code: job.CodeSecretUnavailable, Permanent: true, Message: msg}
	}
	if w.cfg.SecretsDir == "" {
		return nil, fail(fmt.Sprintf("secret %q: no SLIPWAY_SECRETS_DIR is configured on this worker", id))
	}
	root, err := os.OpenRoot(w.cfg.SecretsDir)
	if err != nil {
		return nil, fail(fmt.Sprintf("secret %q: open SLIPWAY_SECRETS_DIR: %v", id, err))
	}
	defer root.Close()
	fi, err := root.Stat(id)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(fmt.Sprintf("secret %q is not in SLIPWAY_SECRETS_DIR on this worker", id))
	case err != nil:
		return nil, fail(fmt.Sprintf("secret %q: %v", id, err))
	case !fi.Mode().IsRegular() || fi.Size() > maxSecretBytes:
		return nil, fail(fmt.Sprintf("secret %q must be a regular file of at most %d bytes", id, maxSecretBytes))
	}
	v, err := root.ReadFile(id)
	if err != nil {
		return nil, fail(fmt.Sprintf("secret %q: %v", id, err))
	}
	return v, nil
}

// secretsDirValues returns every value in the secrets directory, to be
// masked in build logs: a build may print a secret it mounted. A value with
// a final newline is also masked without it.
func secretsDirValues(dir string) []string {
	if dir == "" {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() > maxSecretBytes {
			continue
		}
		b, err := root.ReadFile(e.Name())
		if err != nil {
			continue
		}
		v := string(b)
		out = append(out, v, strings.TrimRight(v, "\r\n"))
		// A multi-line value (a key) is masked line by line too.
		for _, line := range strings.Split(v, "\n") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// SecretIDs lists the ids in the secrets directory: the names of its
// regular files.
func SecretIDs(dir string) []string {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}

// buildKitAuth hands BuildKit the credentials of the Docker config for a
// registry it pulls from, as the push path uses them.
func (w *Worker) buildKitAuth(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
	var cfg dockercfg.Config
	if err := dockercfg.FromFile(w.cfg.DockerConfig, &cfg); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return types.AuthConfig{}, nil
		}
		return types.AuthConfig{}, fmt.Errorf("load %s: %w", w.cfg.DockerConfig, err)
	}
	if host == authprovider.DockerHubRegistryHost {
		host = authprovider.DockerHubConfigfileKey
	}
	user, secret, err := cfg.GetRegistryCredentials(dockercfg.ResolveRegistryHost(host))
	if err != nil {
		return types.AuthConfig{}, fmt.Errorf("credentials for %s: %w", host, err)
	}
	if user == "" {
		return types.AuthConfig{ServerAddress: host, IdentityToken: secret}, nil
	}
	return types.AuthConfig{ServerAddress: host, Username: user, Password: secret}, nil
}
