package app

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/slipwayci/slipway/server"
)

const repoRoot = "../.."

// dockerfile is what the deployments must agree with.
type dockerfile struct {
	port   int    // EXPOSE
	uid    int    // USER
	image  string // repository the image is published as, from its source label
	health string // HEALTHCHECK command
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines so each instruction is one line.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	var d dockerfile
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "EXPOSE":
			d.port, _ = strconv.Atoi(strings.TrimSuffix(f[1], "/tcp"))
		case "USER":
			d.uid, _ = strconv.Atoi(strings.SplitN(f[1], ":", 2)[0])
		case "HEALTHCHECK":
			d.health = line
		case "LABEL":
			if m := regexp.MustCompile(`org\.opencontainers\.image\.source="https://github\.com/([^"]+)"`).FindStringSubmatch(line); m != nil {
				d.image = "ghcr.io/" + m[1]
			}
		}
	}
	if d.port == 0 || d.uid == 0 || d.image == "" || !strings.Contains(d.health, "slipway") {
		t.Fatalf("Dockerfile lacks EXPOSE, a non-root USER, the source label or the HEALTHCHECK: %+v", d)
	}
	return d
}

// yamlDocs parses every document of a YAML file into generic values.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// TestDeployYAMLParses: every YAML file under deploy/ is valid YAML.
func TestDeployYAMLParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(filepath.Join(repoRoot, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			yamlDocs(t, p)
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no YAML under deploy/")
	}
}

// routeExists asks a real server whether GET path is a route.
func routeExists(t *testing.T, path string) bool {
	t.Helper()
	srv := server.New(server.Config{MetricsHandler: http.NotFoundHandler()}, nil, nil, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed
}

func get(m any, path ...string) any {
	for _, k := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func list(v any) []any { l, _ := v.([]any); return l }

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// isSlipway reports whether image is Slipway's own, at any tag.
func isSlipway(image, repo string) bool {
	return strings.HasPrefix(image, repo+":") || image == repo || strings.Contains(image, "${SLIPWAY_IMAGE:-"+repo+":")
}

func checkEnvNames(t *testing.T, where string, names []string) {
	t.Helper()
	envs := settingEnvs(t)
	for _, n := range names {
		if _, ok := envs[n]; !ok {
			t.Errorf("%s sets %s, which Slipway does not read", where, n)
		}
	}
}

// TestKubernetes: the manifests run Slipway's image as the Dockerfile
// builds it: its port, its user, probes on real routes, real settings, and
// resources on every container.
func TestKubernetes(t *testing.T) {
	d := readDockerfile(t)
	dir := filepath.Join(repoRoot, "deploy", "kubernetes")
	kust := yamlDocs(t, filepath.Join(dir, "kustomization.yaml"))[0]
	var resources []string
	for _, r := range list(kust["resources"]) {
		resources = append(resources, str(r))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(resources, b) {
			t.Errorf("%s is not listed in kustomization.yaml", b)
		}
	}
	if len(list(kust["images"])) == 0 || str(get(list(kust["images"])[0], "name")) != d.image {
		t.Errorf("kustomization images[0].name = %v, want %s", get(list(kust["images"])[0], "name"), d.image)
	}

	kinds := map[string]int{}
	ports := map[string]int{} // named container ports of Slipway
	var configKeys []string
	for _, r := range resources {
		for _, doc := range yamlDocs(t, filepath.Join(dir, r)) {
			kind := str(doc["kind"])
			kinds[kind]++
			switch kind {
			case "ConfigMap":
				for k := range get(doc, "data").(map[string]any) {
					configKeys = append(configKeys, k)
				}
			case "Deployment":
				checkDeployment(t, r, doc, d, ports)
			case "Service":
				for _, p := range list(get(doc, "spec", "ports")) {
					target := str(get(p, "targetPort"))
					if n, ok := ports[target]; !ok && target != strconv.Itoa(d.port) || ok && n != d.port {
						t.Errorf("%s: Service targetPort %s is not Slipway's port %d", r, target, d.port)
					}
				}
			}
		}
	}
	configKeys = append(configKeys, envFileNames(t, filepath.Join(dir, "secret.env.example"))...)
	checkEnvNames(t, "kubernetes ConfigMap/secret.env.example", configKeys)
	if gen := list(kust["secretGenerator"]); len(gen) == 0 || str(get(gen[0], "env")) != "secret.env" {
		t.Errorf("kustomization.yaml: want a secretGenerator reading secret.env, have %v", kust["secretGenerator"])
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in deploy/kubernetes", k)
		}
	}
	if kinds["Deployment"] < 2 {
		t.Errorf("want an API and a worker Deployment, have %d", kinds["Deployment"])
	}
}

func checkDeployment(t *testing.T, file string, doc map[string]any, d dockerfile, ports map[string]int) {
	t.Helper()
	pod := get(doc, "spec", "template", "spec")
	for _, c := range list(get(pod, "containers")) {
		name := file + "/" + str(get(c, "name"))
		if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s: want resource requests and a memory limit", name)
		}
		if !isSlipway(str(get(c, "image")), d.image) {
			continue
		}
		for _, p := range list(get(c, "ports")) {
			port, _ := get(p, "containerPort").(int)
			if port != d.port {
				t.Errorf("%s: containerPort %d, the Dockerfile EXPOSEs %d", name, port, d.port)
			}
			ports[str(get(p, "name"))] = port
		}
		uid, _ := get(c, "securityContext", "runAsUser").(int)
		if uid == 0 {
			uid, _ = get(pod, "securityContext", "runAsUser").(int)
		}
		if uid != d.uid {
			t.Errorf("%s: runs as uid %d, the image's user is %d", name, uid, d.uid)
		}
		for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			path := str(get(c, probe, "httpGet", "path"))
			if path != want || !routeExists(t, path) {
				t.Errorf("%s: %s on %q, want %s (a real route)", name, probe, path, want)
			}
			port := str(get(c, probe, "httpGet", "port"))
			if n, ok := ports[port]; !ok && port != strconv.Itoa(d.port) || ok && n != d.port {
				t.Errorf("%s: %s port %s is not Slipway's port", name, probe, port)
			}
		}
		var envNames []string
		for _, e := range list(get(c, "env")) {
			envNames = append(envNames, str(get(e, "name")))
		}
		checkEnvNames(t, name, envNames)
	}
}

// TestCompose: the Compose file builds this Dockerfile, publishes its port,
// mounts the Docker socket and sets only settings Slipway reads.
func TestCompose(t *testing.T) {
	d := readDockerfile(t)
	doc := yamlDocs(t, filepath.Join(repoRoot, "deploy", "compose.yaml"))[0]
	svc := get(doc, "services", "slipway")
	if svc == nil {
		t.Fatal("no slipway service")
	}
	if !isSlipway(str(get(svc, "image")), d.image) {
		t.Errorf("slipway image %q, want %s", get(svc, "image"), d.image)
	}
	if ctx, df := str(get(svc, "build", "context")), str(get(svc, "build", "dockerfile")); ctx != ".." || df != "Dockerfile" {
		t.Errorf("build %s/%s, want the repository's Dockerfile", ctx, df)
	}
	published := false
	for _, p := range list(get(svc, "ports")) {
		if strings.HasSuffix(str(p), ":"+strconv.Itoa(d.port)) {
			published = true
		}
	}
	if !published {
		t.Errorf("ports %v do not publish container port %d", get(svc, "ports"), d.port)
	}
	socket := false
	for _, v := range list(get(svc, "volumes")) {
		if strings.HasPrefix(str(v), "/var/run/docker.sock:") {
			socket = true
		}
	}
	if !socket {
		t.Error("the Docker socket is not mounted")
	}
	env, _ := get(svc, "environment").(map[string]any)
	var names []string
	for k := range env {
		names = append(names, k)
	}
	checkEnvNames(t, "compose slipway service", names)
	if listen := str(env["SLIPWAY_LISTEN"]); listen != ":"+strconv.Itoa(d.port) {
		t.Errorf("SLIPWAY_LISTEN %q, want :%d", listen, d.port)
	}
	for _, s := range []string{"postgres", "registry"} {
		if get(doc, "services", s) == nil {
			t.Errorf("no %s service", s)
		}
	}
}

// TestSystemd: the unit runs `slipway serve` with the example environment
// file, whose variables are all settings.
func TestSystemd(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "systemd", "slipway.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/slipway serve", "EnvironmentFile=/etc/slipway/slipway.env", "User=slipway"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("slipway.service lacks %q", want)
		}
	}
	checkEnvNames(t, "slipway.env.example", envFileNames(t, filepath.Join(repoRoot, "deploy", "systemd", "slipway.env.example")))
}

// envFileNames returns the variables an environment file sets or shows
// commented out.
func envFileNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "#")
		if k, _, ok := strings.Cut(line, "="); ok && regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no variables in %s", path)
	}
	return names
}
