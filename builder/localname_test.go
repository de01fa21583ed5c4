package builder

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/slipwayci/slipway/internal/redact"
	"github.com/slipwayci/slipway/internal/testenv"
	"github.com/slipwayci/slipway/job"
)

// TestNoJobChangesAnothersFrom runs, on the real daemon, a job whose image is
// named like another repository's base image, then that repository's build:
// its FROM must still find the base, whatever the first job asked for.
func TestNoJobChangesAnothersFrom(t *testing.T) {
	docker := testenv.Docker(t)
	base := testenv.BaseImage(t)
	registry := testenv.Registry(t)
	tests := []struct {
		name    string
		push    bool
		trusted bool // SLIPWAY_TRUSTED_LOCAL_TAGS
		// poisoned: the base's name is the first job's image afterwards.
		poisoned bool
	}{
		{name: "PushFalse"},
		{name: "Pushed", push: true},
		{name: "PushFalseTrustedHost", trusted: true, poisoned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// The other repository's base: the company's mirror of busybox.
			mirror := registry + "/mirror-" + testenv.RandomHex(4) + "/busybox"
			mirrorRef := mirror + ":1"
			if err := docker.ImageTag(ctx, base, mirrorRef); err != nil {
				t.Fatal(err)
			}
			removeRefs(t, mirrorRef)
			want, err := docker.ImageInspect(ctx, mirrorRef)
			if err != nil {
				t.Fatal(err)
			}

			w := New(Config{GitPath: "git", GitSchemes: []string{"file"}, DockerConfig: filepath.Join(t.TempDir(), "config.json"),
				Security: Security{TrustedLocalTags: tt.trusted}}, nil, docker, slog.New(slog.NewTextHandler(io.Discard, nil)))

			attacker := testJob(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo poisoned > /marker\n"},
				job.Image{Name: mirror, Tags: []string{"1"}}, tt.push)
			removeRefs(t, attacker.LocalImage())
			res, log, err := runExecute(ctx, w, attacker)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			local := attacker.LocalImage()
			_, localErr := docker.ImageInspect(ctx, local)
			switch {
			case tt.push || tt.trusted:
				if !errdefs.IsNotFound(localErr) {
					t.Errorf("%s is still on the daemon after the job (%v)", local, localErr)
				}
				if !slices.Equal(res.Images, []string{mirrorRef}) {
					t.Errorf("result images %v, want %v", res.Images, []string{mirrorRef})
				}
			default:
				if localErr != nil {
					t.Errorf("push: false image not kept as %s: %v", local, localErr)
				}
				if !slices.Equal(res.Images, []string{local}) {
					t.Errorf("result images %v, want the job's own name %s", res.Images, local)
				}
			}

			got, err := docker.ImageInspect(ctx, mirrorRef)
			if tt.push {
				// Tagged only while pushed: FROM now pulls what the registry
				// holds, which only who may push there decides.
				if !errdefs.IsNotFound(err) {
					t.Errorf("%s is still on the daemon after its push (%v)", mirrorRef, err)
				}
				return
			}
			switch {
			case err != nil:
				t.Fatal(err)
			case tt.poisoned && got.ID == want.ID:
				t.Errorf("trusted host: %s was not tagged by the job", mirrorRef)
			case !tt.poisoned && got.ID != want.ID:
				t.Errorf("%s is now %s (the first job's image), was %s", mirrorRef, got.ID, want.ID)
			}

			victim := testJob(t, map[string]string{"Dockerfile": "FROM " + mirrorRef + "\nRUN cat /marker 2>/dev/null || echo marker-absent\n"},
				job.Image{Name: registry + "/victim", Tags: []string{testenv.RandomHex(4)}}, false)
			removeRefs(t, victim.LocalImage())
			_, log, err = runExecute(ctx, w, victim)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			if poisoned := strings.Contains(log, "\npoisoned\n"); poisoned != tt.poisoned {
				t.Errorf("the second build's FROM found the first job's image: %v, want %v\n%s", poisoned, tt.poisoned, log)
			}
		})
	}
}

// testJob makes a job building files committed to a new git repository.
func testJob(t *testing.T, files map[string]string, img job.Image, push bool) *job.Job {
	t.Helper()
	repo, commit := testenv.GitRepo(t, files)
	return &job.Job{ID: "0190a0b4-0000-7000-8000-" + testenv.RandomHex(6), Spec: job.Spec{
		Source: job.Source{Repository: repo, Commit: commit},
		Build:  job.Build{Context: ".", Dockerfile: "Dockerfile", NoCache: true},
		Image:  img, Push: push,
	}}
}

// runExecute fetches, builds and pushes j as a worker does and returns the
// result and the build log.
func runExecute(ctx context.Context, w *Worker, j *job.Job) (job.Result, string, error) {
	store := &memLog{}
	sink := newLogSink(ctx, j.ID, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sink.guard = logGuard{masker: redact.New()}
	res, err := w.execute(ctx, j, sink)
	sink.Close()
	return res, "\n" + store.text() + "\n", err
}

// removeRefs removes image names from the shared daemon when the test ends.
func removeRefs(t *testing.T, refs ...string) {
	t.Helper()
	docker := testenv.Docker(t)
	t.Cleanup(func() {
		for _, ref := range refs {
			_, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
		}
	})
}
