package job

import (
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// ImageOwner binds an image-name prefix to the projects whose deliveries may
// build images under it (SLIPWAY_IMAGE_OWNERS).
type ImageOwner struct {
	Prefix   string   // a normalized name ("registry.example.com/team-a") or a path below one ending in "/"
	Projects []string // project names
}

// ParseImageOwners reads SLIPWAY_IMAGE_OWNERS entries such as
// "registry.example.com/team-a/=team-a-app|team-a-lib".
func ParseImageOwners(entries []string) ([]ImageOwner, error) {
	var out []ImageOwner
	for _, e := range entries {
		prefix, projects, ok := strings.Cut(e, "=")
		prefix = strings.TrimSpace(prefix)
		var names []string
		for _, p := range strings.Split(projects, "|") {
			if p = strings.TrimSpace(p); p != "" {
				names = append(names, p)
			}
		}
		if !ok || prefix == "" || len(names) == 0 {
			return nil, fmt.Errorf("%q is not prefix=project|project", e)
		}
		var p string
		if host, ok := strings.CutSuffix(prefix, "/"); ok && !strings.Contains(host, "/") {
			// A whole registry: "registry.example.com/".
			named, err := reference.ParseNormalizedNamed(prefix + "x")
			if err != nil || reference.Domain(named) != host {
				return nil, fmt.Errorf("%q is not a registry host or image-name prefix", prefix)
			}
			p = prefix
		} else {
			named, err := reference.ParseNormalizedNamed(strings.TrimSuffix(prefix, "/"))
			if err != nil {
				return nil, fmt.Errorf("%q: %w", prefix, err)
			}
			p = named.Name()
			if ok {
				p += "/"
			}
		}
		out = append(out, ImageOwner{Prefix: p, Projects: names})
	}
	return out, nil
}

// owns reports whether the normalized image name falls under o's prefix:
// the name itself, or any name below it.
func (o ImageOwner) owns(name string) bool {
	p := strings.TrimSuffix(o.Prefix, "/")
	return name == p || strings.HasPrefix(name, p+"/")
}

// checkImageOwner refuses an image under a prefix bound to projects that
// the delivery's project is not one of. The longest matching prefix decides.
func checkImageOwner(owners []ImageOwner, name, project string) error {
	var best *ImageOwner
	for i := range owners {
		if owners[i].owns(name) && (best == nil || len(owners[i].Prefix) > len(best.Prefix)) {
			best = &owners[i]
		}
	}
	if best == nil || slices.Contains(best.Projects, project) {
		return nil
	}
	under := "under no project"
	if project != "" {
		under = "under project " + quote(project)
	}
	return fieldError("image.name", fmt.Sprintf("%s belongs to project %s (SLIPWAY_IMAGE_OWNERS); this delivery is %s",
		quote(best.Prefix), strings.Join(best.Projects, ", "), under))
}

// imageNamespace is where a project's deliveries may name images: the
// repository path of the project's image, up to its last "/".
func imageNamespace(projectImage string) string {
	named, err := reference.ParseNormalizedNamed(projectImage)
	if err != nil {
		return ""
	}
	name := named.Name()
	return name[:strings.LastIndex(name, "/")+1]
}

// checkNamespace refuses an image a CI system's parameter chose outside
// its project's namespace: the project, not whoever sets a build
// parameter, decides where its images go.
func checkNamespace(name string, p *Project) error {
	if p == nil || p.Image == "" {
		return nil
	}
	ns := imageNamespace(p.Image)
	if ns == "" || strings.HasPrefix(name, ns) {
		return nil
	}
	return fieldError("image.name", fmt.Sprintf("must be under %s, the namespace of project %s's image", quote(ns), quote(p.Name)))
}
