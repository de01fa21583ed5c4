package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/cpuguy83/dockercfg"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/slipwayci/slipway/job"
)

// push pushes every reference of the job and returns the manifest digest the
// registry reported. All tags of one build share one manifest, so one digest.
func (w *Worker) push(ctx context.Context, spec job.Spec, log *logSink) (string, error) {
	if err := w.cfg.Security.checkRegistry(spec.Image.Name); err != nil {
		return "", err
	}
	named, err := reference.ParseNormalizedNamed(spec.Image.Name)
	if err != nil {
		return "", &job.Failure{Code: job.CodePush, Message: "parse image name", Permanent: true, Err: err}
	}
	auth, err := w.registryAuth(reference.Domain(named))
	if err != nil {
		return "", &job.Failure{Code: job.CodePush, Message: "read registry credentials", Permanent: true, Err: err}
	}
	var digest string
	meter := &pushMeter{}
	defer func() { w.metrics().PushedBytes(meter.Bytes()) }()
	for _, ref := range spec.References() {
		log.Printf("==> pushing %s", ref)
		body, err := w.docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
		if err != nil {
			return "", &job.Failure{Code: job.CodePush, Message: "push " + ref, Err: err}
		}
		err = readStream(io.TeeReader(body, meter), log.Line, func(aux json.RawMessage) {
			var r types.PushResult
			if json.Unmarshal(aux, &r) == nil && r.Digest != "" {
				digest = r.Digest
			}
		})
		body.Close()
		if err != nil {
			return "", &job.Failure{Code: job.CodePush, Message: "push " + ref, Err: err}
		}
	}
	if digest == "" {
		return "", &job.Failure{Code: job.CodePush, Message: "push finished without a digest from the registry"}
	}
	return digest, nil
}

// registryAuth returns the encoded credentials for host from the Docker
// config file (credential helpers included), or anonymous ones.
func (w *Worker) registryAuth(host string) (string, error) {
	var cfg dockercfg.Config
	if err := dockercfg.FromFile(w.cfg.DockerConfig, &cfg); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return registry.EncodeAuthConfig(registry.AuthConfig{})
		}
		return "", fmt.Errorf("load %s: %w", w.cfg.DockerConfig, err)
	}
	user, secret, err := cfg.GetRegistryCredentials(dockercfg.ResolveRegistryHost(host))
	if err != nil {
		return "", fmt.Errorf("credentials for %s: %w", host, err)
	}
	ac := registry.AuthConfig{ServerAddress: host, Username: user, Password: secret}
	if user == "" {
		// An empty user name means the secret is an identity token.
		ac = registry.AuthConfig{ServerAddress: host, IdentityToken: secret}
	}
	return registry.EncodeAuthConfig(ac)
}
