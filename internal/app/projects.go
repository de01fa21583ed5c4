package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/job"
)

// projectStore is what loading projects needs.
type projectStore interface {
	PutProject(ctx context.Context, p job.Project) (bool, error)
}

// projectsFile is the YAML file of SLIPWAY_PROJECTS_FILE.
type projectsFile struct {
	Projects []job.Project `yaml:"projects"`
}

// readProjects reads and checks every project in the file at path, so a typo
// fails the start before anything is stored.
func readProjects(path string) ([]job.Project, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("projects file: %w", err)
	}
	defer f.Close()
	var pf projectsFile
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		return nil, fmt.Errorf("projects file %s: %w", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, p := range pf.Projects {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("project %d (%q): %w", i+1, p.Name, err))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("project %d: %q is listed twice", i+1, p.Name))
		}
		seen[p.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("projects file %s: %w", path, err)
	}
	return pf.Projects, nil
}

// storeProjects creates or replaces the projects read from the file at path.
func storeProjects(ctx context.Context, path string, projects []job.Project, store projectStore, log *slog.Logger) error {
	for _, p := range projects {
		if _, err := store.PutProject(ctx, p); err != nil {
			return fmt.Errorf("projects file %s: %w", path, err)
		}
	}
	log.InfoContext(ctx, "projects loaded", "file", path, "count", len(projects))
	return nil
}
