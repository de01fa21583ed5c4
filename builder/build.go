package builder

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/docker/docker/api/types/build"

	"github.com/slipwayci/slipway/job"
)

// build sends the context to the daemon's classic builder and tags the result
// with the job-unique local name only: the requested names are tagged just
// for the push (push.go), so no job changes what another's FROM resolves to.
// The classic builder needs no BuildKit session and runs on every daemon
// Slipway supports (API 1.41 and up).
func (w *Worker) build(ctx context.Context, spec job.Spec, local string, bc *buildContext, log *logSink) (string, error) {
	args := make(map[string]*string, len(spec.Build.Args))
	for k, v := range spec.Build.Args {
		args[k] = &v
	}
	log.Printf("==> building %s as %s (dockerfile %s, context %s)", strings.Join(spec.References(), ", "), local, spec.Build.Dockerfile, spec.Build.Context)
	if spec.Build.Network != "" {
		log.Printf("==> RUN steps use network %s", spec.Build.Network)
	}
	tarball := limitContext(bc.tar, w.cfg.Security.MaxContextBytes, w.cfg.Security.MaxContextFiles)
	defer tarball.Close()
	resp, err := w.docker.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{local},
		Dockerfile:  bc.dockerfile,
		BuildArgs:   args,
		Labels:      bc.labels,
		Target:      spec.Build.Target,
		NoCache:     spec.Build.NoCache,
		Remove:      true,
		ForceRemove: true,
		NetworkMode: spec.Build.Network,
		Version:     build.BuilderV1,
	})
	if err != nil {
		if f := contextFailure(tarball); f != nil {
			return "", f
		}
		return "", &job.Failure{Code: job.CodeBuild, Message: "start build", Err: err}
	}
	defer resp.Body.Close()

	// The last "Step N/M : …" line names the step that broke, if one does.
	var imageID, lastStep string
	err = readStream(resp.Body, func(line string) {
		log.Line(line)
		if strings.HasPrefix(line, "Step ") {
			lastStep = strings.TrimSpace(line)
		}
	}, func(aux json.RawMessage) {
		var a struct{ ID string }
		if json.Unmarshal(aux, &a) == nil && a.ID != "" {
			imageID = a.ID
		}
	})
	if f := contextFailure(tarball); f != nil {
		return "", f
	}
	if err != nil {
		msg := "build failed"
		if lastStep != "" {
			msg = "build failed at " + lastStep
		}
		return "", &job.Failure{Code: job.CodeBuild, Message: msg, Err: err}
	}
	return imageID, nil
}
