package devservices

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func imageFrom(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// labelled lists the ids of the containers this process started.
func labelled(t *testing.T, docker *client.Client) []string {
	t.Helper()
	list, err := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", Label+"="+strconv.Itoa(os.Getpid())))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestServices: Postgres answers queries and the registry its API at the
// addresses returned, and Stop removes both containers.
func TestServices(t *testing.T) {
	docker := testenv.Docker(t)
	ctx := context.Background()
	pg, err := StartPostgres(ctx, docker, imageFrom("SLIPWAY_TEST_POSTGRES_IMAGE", DefaultPostgresImage), "demo", "demo", "secret-pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(ctx) })
	reg, err := StartRegistry(ctx, docker, imageFrom("SLIPWAY_TEST_REGISTRY_IMAGE", DefaultRegistryImage))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Stop(ctx) })

	conn, err := pgx.Connect(ctx, pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	err = conn.QueryRow(ctx, "SELECT current_database()").Scan(&db)
	conn.Close(ctx)
	if err != nil || db != "demo" {
		t.Fatalf("current_database() = %q, %v", db, err)
	}
	resp, err := http.Get("http://" + reg.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry /v2/: %d", resp.StatusCode)
	}

	for _, c := range []*Container{pg, reg} {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(labelled(t, docker), c.id) {
			t.Errorf("container %.12s is still there after Stop", c.id)
		}
	}
}

// TestCanceledStartRemovesTheContainer: Ctrl-C while Postgres starts leaves
// no container behind.
func TestCanceledStartRemovesTheContainer(t *testing.T) {
	docker := testenv.Docker(t)
	before := labelled(t, docker)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := StartPostgres(ctx, docker, imageFrom("SLIPWAY_TEST_POSTGRES_IMAGE", DefaultPostgresImage), "demo", "demo", "pw"); err == nil {
		t.Fatal("Postgres answered within 1.5s; the test needs a start to cut short")
	}
	for _, id := range labelled(t, docker) {
		if !slices.Contains(before, id) {
			t.Errorf("container %.12s left behind by a canceled start", id)
		}
	}
}
