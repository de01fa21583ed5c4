package job

import (
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Builders a job can ask for in build.engine.
const (
	// EngineClassic is the Docker daemon's classic builder.
	EngineClassic = "classic"
	// EngineBuildKit is BuildKit, reached through the Docker daemon.
	EngineBuildKit = "buildkit"
	// EngineAuto picks BuildKit when the Dockerfile or the request needs
	// it, and the classic builder otherwise.
	EngineAuto = "auto"
)

// Engines lists every value build.engine may take.
var Engines = []string{EngineAuto, EngineClassic, EngineBuildKit}

// NeedsBuildKit names the first field of b that only BuildKit can honour,
// or "" when the classic builder can build it.
func (b Build) NeedsBuildKit() string {
	switch {
	case len(b.Secrets) > 0:
		return "build.secrets"
	case len(b.SSH) > 0:
		return "build.ssh"
	case b.Cache != nil && len(b.Cache.From) > 0:
		return "build.cache.from"
	}
	return ""
}

// secretIDRE keeps secret ids to names that are plain file names.
var secretIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// maxCacheFrom bounds build.cache.from.
const maxCacheFrom = 8

// validateEngine checks the BuildKit fields of a build request and fills in
// the server's default engine.
func (s *Spec) validateEngine(v *ValidationError, p Policy) {
	b := &s.Build
	if b.Engine == "" {
		b.Engine = p.Engine
	}
	if b.Engine == "" {
		b.Engine = EngineAuto
	}
	if !slices.Contains(Engines, b.Engine) {
		v.add("build.engine", "must be one of "+strings.Join(Engines, ", "))
	}
	if need := b.NeedsBuildKit(); need != "" && b.Engine == EngineClassic {
		v.add("build.engine", need+" needs BuildKit: use engine buildkit or auto")
	}
	if n := b.Network; n != "" && n != "none" && n != "host" && (b.Engine == EngineBuildKit || b.NeedsBuildKit() != "") {
		v.add("build.network", "BuildKit runs RUN steps only on the default network, none or host; network "+quote(n)+" needs the classic builder")
	}
	validateSecretIDs(v, "build.secrets", b.Secrets, p.KnownSecret)
	validateSecretIDs(v, "build.ssh", b.SSH, p.KnownSecret)
	if b.Cache != nil {
		if len(b.Cache.From) > maxCacheFrom {
			v.add("build.cache.from", "at most 8 images")
		}
		for i, ref := range b.Cache.From {
			named, err := reference.ParseNormalizedNamed(ref)
			if err != nil {
				v.add("build.cache.from", quote(ref)+" is not a valid image reference")
				continue
			}
			if len(p.RegistryHosts) > 0 && !HostListed(p.RegistryHosts, reference.Domain(named)) {
				v.add("build.cache.from", "registry "+quote(reference.Domain(named))+" is not allowed (allowed: "+strings.Join(p.RegistryHosts, ", ")+")")
			}
			b.Cache.From[i] = reference.TagNameOnly(named).String()
		}
		if len(b.Cache.From) == 0 {
			b.Cache = nil
		}
	}
}

// validateSecretIDs checks that every id is named once and exists on the
// server; the message names the unknown id, never a value.
func validateSecretIDs(v *ValidationError, field string, ids []string, known func(string) bool) {
	seen := map[string]bool{}
	for _, id := range ids {
		switch {
		case !secretIDRE.MatchString(id):
			v.add(field, quote(id)+" is not a valid id (letters, digits, '_', '.', '-'; at most 128)")
		case seen[id]:
			v.add(field, quote(id)+" is listed twice")
		case known == nil || !known(id):
			v.add(field, "unknown id "+quote(id)+": the server has no such file in SLIPWAY_SECRETS_DIR")
		}
		seen[id] = true
	}
}
