package main

import (
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/e2e"
	"github.com/slipwayci/slipway/internal/testenv"
)

// needTool returns a program the test needs: missing, the test skips, but
// fails in CI (SLIPWAY_REQUIRE_DOCKER), where .ci/services.sh installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("SLIPWAY_REQUIRE_DOCKER") != "" {
		t.Fatalf("%s is not installed; .ci/services.sh installs it", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// startSSHD runs a real OpenSSH server on addr in the foreground, with its
// own host key, that lets in the holder of clientPub as the current user.
// It returns the known_hosts line for it.
func startSSHD(t *testing.T, addr, clientPub string) string {
	t.Helper()
	sshd := needTool(t, "sshd")
	dir := t.TempDir()
	runCmd(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(clientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	config := strings.Join([]string{
		"ListenAddress " + addr,
		"HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"StrictModes no", // the temporary directories are not the user's home
		"UsePAM no",
		"PidFile none",
		"AcceptEnv GIT_PROTOCOL",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll("/run/sshd", 0o755) // its privilege separation directory
	var logs strings.Builder
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	f := strings.Fields(string(pub))
	return name + " " + f[0] + " " + f[1] + "\n"
}

func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startGitHTTPS serves the bare repositories under root over https with
// git http-backend, for user and password only.
func startGitHTTPS(t *testing.T, root, user, password string) *httptest.Server {
	t.Helper()
	exe := strings.TrimSpace(runCmd(t, "git", "--exec-path"))
	backend := &cgi.Handler{
		Path: filepath.Join(exe, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPrivateRepositories: private repositories fetched through
// POST /api/v1/jobs over ssh, named the scp-like way, with the key and
// known_hosts files, and over https with a user name in the URL and the
// password from the credential-store file; neither secret reaches the job,
// its log or Slipway's log.
func TestPrivateRepositories(t *testing.T) {
	testenv.Docker(t)
	registry := testenv.Registry(t)
	base := testenv.BaseImage(t)
	needTool(t, "ssh")

	src, commit := testenv.GitRepo(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY hello.txt /hello.txt\n",
		"hello.txt":  "hello from a private repository\n",
	})
	root := t.TempDir()
	testenv.Git(t, root, "clone", "-q", "--bare", strings.TrimPrefix(src, "file://"), filepath.Join(root, "app.git"))

	secrets := t.TempDir()
	key := filepath.Join(secrets, "id_ed25519")
	runCmd(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slipway-test", "-f", key)
	// Mounted secrets are often world-readable, which ssh refuses for a key.
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	clientPub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	keyData, _ := os.ReadFile(key)
	keyLine := strings.Split(string(keyData), "\n")[1]

	// The scp-like syntax has no port: sshd listens on port 22 of its own
	// loopback address (needs root, as in CI); otherwise the ssh:// form
	// with a port stands in.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	addr, sshRepo := "", ""
	if os.Geteuid() == 0 {
		var b [3]byte
		_, _ = rand.Read(b[:])
		ip := fmt.Sprintf("127.%d.%d.%d", 1+b[0]%250, b[1], 1+b[2]%250)
		addr = ip + ":22"
		sshRepo = me.Username + "@" + ip + ":" + filepath.Join(root, "app.git")
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
		sshRepo = "ssh://" + me.Username + "@" + addr + filepath.Join(root, "app.git")
	}
	knownHosts := filepath.Join(secrets, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(startSSHD(t, addr, string(clientPub))), 0o644); err != nil {
		t.Fatal(err)
	}

	password := "pw-" + testenv.RandomHex(12)
	srv := startGitHTTPS(t, root, "jdoe", password)
	resp, err := srv.Client().Get(srv.URL + "/app.git/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the https repository answers %d without credentials, want 401", resp.StatusCode)
	}
	ca := filepath.Join(secrets, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_SSL_CAINFO", ca) // git, run by the worker, trusts the test server
	credentials := filepath.Join(secrets, "git-credentials")
	if err := os.WriteFile(credentials, []byte(strings.Replace(srv.URL, "https://", "https://jdoe:"+password+"@", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpsRepo := strings.Replace(srv.URL, "https://", "https://jdoe@", 1) + "/app.git"

	slip := e2e.Start(t, map[string]string{
		"SLIPWAY_GIT_PROTOCOLS":        "https,ssh",
		"SLIPWAY_ALLOWED_NETWORKS":     "127.0.0.0/8",
		"SLIPWAY_GIT_CREDENTIALS_FILE": credentials,
		"SLIPWAY_GIT_SSH_KEY_FILE":     key,
		"SLIPWAY_GIT_KNOWN_HOSTS_FILE": knownHosts,
		"SLIPWAY_LOG_LEVEL":            "debug",
	})
	for _, tc := range []struct{ name, repo, stored string }{
		{"ssh", sshRepo, "ssh://" + strings.Replace(strings.TrimPrefix(sshRepo, "ssh://"), ":/", "/", 1)},
		{"https", httpsRepo, httpsRepo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "private/" + tc.name + "-" + testenv.RandomHex(4)
			id := slip.Post(t, "/api/v1/jobs", map[string]any{
				"source": map[string]any{"repository": tc.repo, "commit": commit},
				"build":  map[string]any{"args": map[string]string{"BASE": base}},
				"image":  map[string]any{"name": registry + "/" + name, "tags": []string{"1"}},
			}).Want(t, http.StatusAccepted).JobID(t)
			j := slip.Wait(t, id)
			logText := slip.Log(t, j.ID)
			if j.State != "succeeded" {
				t.Fatalf("job ended %s: %+v\nlog:\n%s", j.State, j.Error, logText)
			}
			if got := registryDigest(t, registry, name, "1"); got != j.Result.Digest {
				t.Errorf("registry digest %s, job says %s", got, j.Result.Digest)
			}
			removeImages(t, registry+"/"+name+":1")
			jobJSON := slip.Get(t, "/api/v1/jobs/"+j.ID).Want(t, http.StatusOK).String()
			if !strings.Contains(jobJSON, `"repository":"`+tc.stored+`"`) {
				t.Errorf("job does not store the repository as %s:\n%s", tc.stored, jobJSON)
			}
			for what, text := range map[string]string{"job": jobJSON, "build log": logText, "slipway log": slip.Logs()} {
				for _, secret := range []string{password, keyLine} {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows a git secret (%.8s…)", what, secret)
					}
				}
			}
		})
	}
}
