package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cluster is a throwaway Postgres made with initdb in a temp dir: the bench
// owns it, so pgbench, River and Slipway all hit the same server and nothing
// else shares it.
type cluster struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
	statements     bool // pg_stat_statements is loaded
}

func pgBin() string {
	if b := os.Getenv("SLIPWAY_BENCH_PGBIN"); b != "" {
		return b
	}
	return "/usr/lib/postgresql/15/bin"
}

func startCluster(ctx context.Context, tmp string) (*cluster, error) {
	c := &cluster{bin: pgBin(), dir: filepath.Join(tmp, "pg")}
	c.data = filepath.Join(c.dir, "data")
	if _, err := os.Stat(filepath.Join(c.bin, "initdb")); err != nil {
		return nil, fmt.Errorf("no initdb in %s (set SLIPWAY_BENCH_PGBIN): %w", c.bin, err)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	// Postgres refuses to run as root: run it as the postgres OS user.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres OS user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.port = port
	if out, err := c.run(ctx, "initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	_, statErr := os.Stat("/usr/share/postgresql/15/extension/pg_stat_statements.control")
	c.statements = statErr == nil && c.bin == "/usr/lib/postgresql/15/bin"
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=300 -c shared_buffers=256MB", port, c.dir)
	if c.statements {
		opts += " -c shared_preload_libraries=pg_stat_statements"
	}
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		return nil, fmt.Errorf("start postgres: %w: %s", err, out)
	}
	return c, nil
}

func (c *cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.run(ctx, "pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
}

func (c *cluster) createDB(ctx context.Context, name string) (*pgxpool.Pool, error) {
	admin, err := pgxpool.New(ctx, c.url("postgres"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	cfg, err := pgxpool.ParseConfig(c.url(name))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 40
	return pgxpool.NewWithConfig(ctx, cfg)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// slipway is one running `slipway serve` (or `slipway worker`) process.
type slipway struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startSlipway runs bin with sub ("serve", "worker") and env on top of the
// base settings, and waits until /healthz answers when it serves HTTP.
func (b *bench) startSlipway(ctx context.Context, sub string, env map[string]string) (*slipway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := map[string]string{
		"SLIPWAY_DATABASE_URL":  b.pg.url("slipway"),
		"SLIPWAY_LISTEN":        fmt.Sprintf("127.0.0.1:%d", port),
		"SLIPWAY_WORKERS":       "0",
		"SLIPWAY_LOG_FORMAT":    "json",
		"SLIPWAY_LOG_LEVEL":     "warn",
		"SLIPWAY_ADMIN_TOKEN":   b.token,
		"SLIPWAY_GIT_PROTOCOLS": "https,file",
		"SLIPWAY_WORK_DIR":      b.tmp,
		// The harness measures capacity; the per-caller rate limit would
		// measure itself.
		"SLIPWAY_RATE_LIMIT": "0",
	}
	for k, v := range env {
		base[k] = v
	}
	cmd := exec.Command(b.binary, sub)
	cmd.Env = os.Environ()
	for k, v := range base {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.OpenFile(filepath.Join(b.tmp, "slipway.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start slipway %s: %w", sub, err)
	}
	s := &slipway{cmd: cmd, addr: "http://" + base["SLIPWAY_LISTEN"], done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	b.procs = append(b.procs, s)
	if sub != "serve" {
		return s, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("slipway %s exited at start: %v (log: %s)", sub, err, filepath.Join(b.tmp, "slipway.log"))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, errors.New("slipway did not become healthy in 60s")
}

// stop ends the process gracefully, then by force.
func (s *slipway) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

func (s *slipway) kill() {
	_ = s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
}

// rssKB reads the process's resident set size from /proc.
func rssKB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmRSS")
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
