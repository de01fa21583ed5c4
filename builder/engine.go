package builder

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/slipwayci/slipway/job"
)

// buildImage builds the checkout in dir with the engine the job asks for,
// or, for auto, the one its Dockerfile and request need. It returns the
// engine that ran and BuildKit's steps. Either engine names the image local
// only (push.go tags the requested names while it pushes).
func (w *Worker) buildImage(ctx context.Context, dir string, spec job.Spec, local string, log *logSink) (string, []job.Step, error) {
	engine := spec.Build.Engine
	if engine == "" || engine == job.EngineAuto {
		why, err := w.autoEngine(dir, spec.Build)
		if err != nil {
			return "", nil, err
		}
		engine = job.EngineClassic
		if why != "" {
			engine = job.EngineBuildKit
			log.Printf("==> engine auto: BuildKit, because %s", why)
		}
	}
	if engine == job.EngineClassic {
		return engine, nil, w.buildCheckout(ctx, dir, spec, local, log)
	}
	if n := spec.Build.Network; n != "" && n != "none" && n != "host" {
		return engine, nil, &job.Failure{Code: job.CodeBuild, Permanent: true,
			Message: fmt.Sprintf("BuildKit runs RUN steps only on the default network, none or host; network %q needs the classic builder (build.engine classic), which cannot build this Dockerfile", n)}
	}
	steps, err := w.buildKit(ctx, dir, spec, local, log)
	return engine, steps, err
}

// autoEngine says why a build needs BuildKit, or "" when the classic builder
// builds it exactly as before.
func (w *Worker) autoEngine(dir string, b job.Build) (string, error) {
	if need := b.NeedsBuildKit(); need != "" {
		return "the request sets " + need, nil
	}
	paths, err := resolvePaths(dir, b)
	if err != nil {
		return "", err
	}
	content, err := readLimited(paths.dockerfile, maxDockerfileBytes)
	if err != nil {
		return "", &job.Failure{Code: job.CodeContext, Message: "read dockerfile", Permanent: true, Err: err}
	}
	return dockerfileNeedsBuildKit(content), nil
}

// classicFlags are the instruction flags the classic builder of Docker
// Engine 20.10 and later understands; any other flag is BuildKit's.
var classicFlags = map[string][]string{
	"from":        {"platform"},
	"copy":        {"from", "chown"},
	"add":         {"chown"},
	"healthcheck": {"interval", "timeout", "start-period", "retries"},
}

// platformArgRE finds the arguments BuildKit alone sets automatically
// (declared with ARG or used as $X / ${X}): under the classic builder they
// are empty.
var platformArgRE = regexp.MustCompile(`(?:\bARG\s+|\$\{?)((?:TARGET|BUILD)(?:PLATFORM|OS|ARCH|VARIANT))\b`)

// dockerfileNeedsBuildKit parses a Dockerfile with BuildKit's own parser and
// names the first thing in it only BuildKit builds: a # syntax= frontend, a
// heredoc, a flag the classic builder does not know (--mount, --link,
// --chmod, --network, --security, …) or an automatic platform ARG. A
// Dockerfile the parser refuses is left to the classic builder, which
// reports its error as before.
func dockerfileNeedsBuildKit(dockerfile []byte) string {
	if syntax, _, _, ok := parser.DetectSyntax(dockerfile); ok {
		return "the Dockerfile names a frontend (# syntax=" + syntax + ")"
	}
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return ""
	}
	for _, n := range res.AST.Children {
		cmd := strings.ToLower(n.Value)
		if len(n.Heredocs) > 0 {
			return fmt.Sprintf("line %d uses a heredoc", n.StartLine)
		}
		for _, f := range n.Flags {
			name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
			if !slices.Contains(classicFlags[cmd], strings.ToLower(name)) {
				return fmt.Sprintf("line %d uses %s --%s", n.StartLine, strings.ToUpper(cmd), name)
			}
		}
		if m := platformArgRE.FindStringSubmatch(n.Original); m != nil {
			return fmt.Sprintf("line %d uses the automatic platform argument %s", n.StartLine, m[1])
		}
	}
	return ""
}
