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
	"github.com/docker/docker/errdefs"

	"github.com/slipwayci/slipway/job"
)

// push pushes the image built as local under every reference of the job and
// returns the manifest digest the registry reported. All tags of one build
// share one manifest, so one digest. Each reference exists on the daemon
// only while it is pushed: the daemon pushes local names only, and a name
// left behind would be what the next build's FROM of it finds.
func (w *Worker) push(ctx context.Context, spec job.Spec, local string, log *logSink) (string, error) {
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
		if err := w.docker.ImageTag(ctx, local, ref); err != nil {
			return "", &job.Failure{Code: job.CodePush, Message: "tag " + ref, Err: err}
		}
		err := w.pushRef(ctx, ref, auth, meter, log, func(d string) { digest = d })
		w.removeImage(context.WithoutCancel(ctx), ref, log)
		if err != nil {
			return "", &job.Failure{Code: job.CodePush, Message: "push " + ref, Err: err}
		}
	}
	if digest == "" {
		return "", &job.Failure{Code: job.CodePush, Message: "push finished without a digest from the registry"}
	}
	return digest, nil
}

func (w *Worker) pushRef(ctx context.Context, ref, auth string, meter io.Writer, log *logSink, onDigest func(string)) error {
	body, err := w.docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer body.Close()
	return readStream(io.TeeReader(body, meter), log.Line, func(aux json.RawMessage) {
		var r types.PushResult
		if json.Unmarshal(aux, &r) == nil && r.Digest != "" {
			onDigest(r.Digest)
		}
	})
}

// tagRequested gives the image built as local the job's own names and drops
// the local one: push: false on a host whose operator trusts every job
// (SLIPWAY_TRUSTED_LOCAL_TAGS), where later builds may use them in FROM.
func (w *Worker) tagRequested(ctx context.Context, local string, refs []string) error {
	for _, ref := range refs {
		if err := w.docker.ImageTag(ctx, local, ref); err != nil {
			return &job.Failure{Code: job.CodeBuild, Message: "tag " + ref, Err: err}
		}
	}
	return nil
}

// removeImage drops one name of an image from the daemon. The untagged
// parent layers stay: they are the classic builder's cache.
func (w *Worker) removeImage(ctx context.Context, ref string, log *logSink) {
	if _, err := w.docker.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: false}); err != nil && !errdefs.IsNotFound(err) {
		log.Printf("==> could not remove %s from the daemon: %v", ref, err)
		w.log.WarnContext(ctx, "remove image", "ref", ref, "err", err)
	}
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
