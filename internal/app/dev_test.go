package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/devservices"
	"github.com/slipwayci/slipway/internal/testenv"
)

// syncBuffer is a bytes.Buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devContainers lists the containers `slipway dev` started in this process.
func devContainers(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+devservices.Label+"="+strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// TestDev: `slipway dev` with only the documented image overrides starts
// Postgres and a registry, builds and pushes the demo image from the request
// it prints, and removes its containers when it stops.
func TestDev(t *testing.T) {
	testenv.Docker(t)
	env := map[string]string{
		"SLIPWAY_DEV_POSTGRES_IMAGE": os.Getenv("SLIPWAY_TEST_POSTGRES_IMAGE"),
		"SLIPWAY_DEV_REGISTRY_IMAGE": os.Getenv("SLIPWAY_TEST_REGISTRY_IMAGE"),
		"SLIPWAY_LISTEN":             "127.0.0.1:0",
		"SLIPWAY_LOG_FORMAT":         "text",
		"PATH":                       os.Getenv("PATH"),
		"HOME":                       t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Build{}, []string{"slipway", "dev"}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("slipway dev: %v\n%s", err, stderr.String())
		}
	}
	defer stop()

	running := regexp.MustCompile(`Slipway is running at (http://\S+) \(registry (\S+)\)\.`)
	var m []string
	for deadline := time.Now().Add(4 * time.Minute); m == nil; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("slipway dev ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slipway dev did not come up:\n%s\n%s", stdout.String(), stderr.String())
		}
		m = running.FindStringSubmatch(stdout.String())
	}
	base, registry := m[1], m[2]
	if n := len(devContainers(t)); n != 2 {
		t.Fatalf("slipway dev runs %d labelled containers, want Postgres and the registry", n)
	}
	printed := stdout.String()
	token := regexp.MustCompile(`export SLIPWAY_TOKEN=(\S+)`).FindStringSubmatch(printed)
	body := regexp.MustCompile(`(?s)-d '(\{.*?\})'`).FindStringSubmatch(printed)
	if token == nil || body == nil {
		t.Fatalf("no token or request body in:\n%s", printed)
	}

	call := func(method, url string, in []byte) []byte {
		t.Helper()
		req, err := http.NewRequest(method, url, bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token[1])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, out)
		}
		if d := resp.Header.Get("Docker-Content-Digest"); d != "" {
			return []byte(d)
		}
		return out
	}
	var j struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Result *struct {
			Digest string `json:"digest"`
		} `json:"result"`
	}
	if err := json.Unmarshal(call(http.MethodPost, base+"/api/v1/jobs", []byte(body[1])), &j); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); j.State != "succeeded"; time.Sleep(200 * time.Millisecond) {
		if j.State == "failed" || j.State == "canceled" || time.Now().After(deadline) {
			t.Fatalf("demo job %s: %s\n%s", j.ID, j.State, stderr.String())
		}
		if err := json.Unmarshal(call(http.MethodGet, base+"/api/v1/jobs/"+j.ID, nil), &j); err != nil {
			t.Fatal(err)
		}
	}
	if got := string(call(http.MethodHead, "http://"+registry+"/v2/demo/hello/manifests/latest", nil)); j.Result == nil || got != j.Result.Digest {
		t.Errorf("registry holds %q, the job says %+v", got, j.Result)
	}

	stop()
	if left := devContainers(t); len(left) > 0 {
		t.Errorf("slipway dev left containers %v behind", left)
	}
}
