// Command bench measures Slipway against its goals and against baselines run
// in the same process, on the same Postgres and Docker daemon: pgbench and
// River for intake, River for pickup, a bare Echo handler for status reads,
// the docker CLI for build+push. It prints a table and rewrites BENCHMARKS.md.
//
// Run it from the repository root with `go run ./bench` (the root go.work
// names this module); add -smoke for the short run CI uses.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// row is one line of the results table.
type row struct {
	num                                  int
	what, slipway, baseline, ratio, goal string
	met                                  string // "met", "not met", or "" when there is no goal or no figure
}

type bench struct {
	smoke  bool
	root   string // repository root
	tmp    string
	binary string
	token  string
	pg     *cluster
	db     *pgxpool.Pool // the slipway database
	client *http.Client
	procs  []*slipway
	// containers and images the bench made, removed at cleanup
	containers, images []string
	rows               []row
	raw                []string // raw figures and notes, one markdown bullet each
	start              time.Time
}

func main() {
	if os.Getenv(bareEchoEnv) != "" {
		if err := serveBareEcho(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: bare echo:", err)
			os.Exit(1)
		}
		return
	}
	smoke := flag.Bool("smoke", false, "short run (about 2 s per comparison), as CI runs it")
	out := flag.String("out", "", "markdown report to rewrite (default: BENCHMARKS.md at the repository root)")
	only := flag.String("only", "", "comma-separated comparison numbers to run (default: all)")
	flag.Parse()
	if err := run(*smoke, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(smoke bool, out, only string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "BENCHMARKS.md")
	}
	tmp, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		return err
	}
	b := &bench{smoke: smoke, root: root, tmp: tmp, token: randHex(16), start: time.Now().UTC()}
	defer b.cleanup()

	fmt.Fprintln(os.Stderr, "bench: building slipway")
	b.binary = filepath.Join(tmp, "slipway")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.binary, ".")
	build.Dir = root
	if o, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, o)
	}
	fmt.Fprintln(os.Stderr, "bench: starting postgres")
	if b.pg, err = startCluster(ctx, tmp); err != nil {
		return err
	}
	if b.db, err = b.pg.createDB(ctx, "slipway"); err != nil {
		return err
	}
	migrate := exec.CommandContext(ctx, b.binary, "migrate")
	migrate.Env = append(os.Environ(), "SLIPWAY_DATABASE_URL="+b.pg.url("slipway"), "SLIPWAY_LOG_FORMAT=json")
	if o, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("slipway migrate: %w: %s", err, o)
	}
	if b.pg.statements {
		if _, err := b.db.Exec(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
			return err
		}
	}
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}, Timeout: 2 * time.Minute}

	comparisons := []struct {
		num int
		fn  func(context.Context) error
	}{
		{1, b.intake}, {2, b.pickup}, {3, b.statusReads}, {4, b.buildPush},
		{5, b.growth}, {6, b.memory}, {7, b.recovery},
	}
	for _, c := range comparisons {
		if only != "" && !strings.Contains(","+only+",", fmt.Sprintf(",%d,", c.num)) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: comparison %d\n", c.num)
		began := time.Now()
		if err := c.fn(ctx); err != nil {
			b.na(c.num, fmt.Sprintf("comparison %d", c.num), err.Error())
		}
		b.stopAll()
		b.note(fmt.Sprintf("comparison %d took %s", c.num, time.Since(began).Round(100*time.Millisecond)))
	}
	report := b.markdown(ctx)
	fmt.Println(b.table())
	return os.WriteFile(out, []byte(report), 0o644)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/slipwayci/slipway\n") {
			return d, nil
		}
	}
	return "", fmt.Errorf("run from the repository root (go run ./bench) or from bench/")
}

func (b *bench) stopAll() {
	for _, p := range b.procs {
		p.stop()
	}
	b.procs = nil
}

func (b *bench) cleanup() {
	b.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range b.containers {
		_, _ = docker(ctx, "rm", "-f", "-v", c)
	}
	if len(b.images) > 0 {
		_, _ = docker(ctx, append([]string{"rmi", "-f"}, b.images...)...)
	}
	if b.db != nil {
		b.db.Close()
	}
	if b.pg != nil {
		b.pg.stop()
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) add(r row)     { b.rows = append(b.rows, r) }
func (b *bench) note(s string) { b.raw = append(b.raw, s) }
func (b *bench) na(num int, what, why string) {
	b.add(row{num: num, what: what, slipway: "n/a: " + oneLine(strings.TrimPrefix(why, "n/a: "))})
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// goal formats a ratio and judges it against a bound.
func goal(r row, ratio float64, atLeast bool, bound float64) row {
	r.ratio = fmt.Sprintf("%.2f×", ratio)
	ok := ratio >= bound
	if !atLeast {
		ok = ratio <= bound
	}
	r.met = map[bool]string{true: "met", false: "not met"}[ok]
	return r
}

func randHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func (b *bench) table() string {
	var s strings.Builder
	fmt.Fprintf(&s, "| # | What | Slipway | Baseline | Ratio | Goal | |\n|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&s, "| %d | %s | %s | %s | %s | %s | %s |\n", r.num, r.what, r.slipway, r.baseline, r.ratio, r.goal, r.met)
	}
	return s.String()
}

func (b *bench) markdown(ctx context.Context) string {
	var s strings.Builder
	mode := "full run"
	if b.smoke {
		mode = "smoke run (short; figures are noisy)"
	}
	fmt.Fprintf(&s, "# Benchmarks\n\nWritten by `go run ./bench` (%s) on %s. Every ratio compares Slipway with a baseline measured in the same run, on the same machine, the same Postgres and the same Docker daemon; absolute figures from another run or machine are not comparable.\n\n", mode, b.start.Format("2006-01-02 15:04 UTC"))
	s.WriteString("## Machine\n\n")
	for _, m := range b.machine(ctx) {
		fmt.Fprintf(&s, "- %s\n", m)
	}
	s.WriteString("\n## Results\n\n")
	s.WriteString(b.table())
	s.WriteString("\n## Raw figures and notes\n\n")
	for _, r := range b.raw {
		fmt.Fprintf(&s, "- %s\n", r)
	}
	s.WriteString(methodology)
	return s.String()
}

func (b *bench) machine(ctx context.Context) []string {
	cmd := func(name string, args ...string) string {
		o, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return "unknown"
		}
		return strings.TrimSpace(string(o))
	}
	mem := "unknown"
	if m, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(m), "\n", 2)[0])[1:], " ")
	}
	pgv := "unknown"
	if b.db != nil {
		_ = b.db.QueryRow(ctx, "SHOW server_version").Scan(&pgv)
	}
	cpu := "unknown"
	if c, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(c), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return []string{
		"Load average when the report was written: " + strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " ") + " (the machine is shared; ratios within one run are what count)",
		"CPUs (nproc): " + cmd("nproc") + " (" + cpu + ")",
		"Memory: " + mem,
		"Kernel: " + cmd("uname", "-sr"),
		"PostgreSQL: " + pgv + " (a private cluster made by initdb for this run: fsync on, synchronous_commit on, shared_buffers 256MB)",
		"Docker Engine: " + cmd("docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"),
		"Go: " + cmd("go", "env", "GOVERSION"),
		"Slipway commit: " + cmd("git", "-C", b.root, "rev-parse", "--short", "HEAD"),
	}
}

const methodology = `
## How it is measured

- Load comes from the bench process on loopback; the Slipway under test is the real ` + "`slipway`" + ` binary built from this checkout, each comparison in a fresh process, against a Postgres cluster the bench creates with initdb and removes afterwards.
- Every request carries ` + "`Authorization: Bearer <token>`" + ` (the token is also given to Slipway as SLIPWAY_ADMIN_TOKEN).
- Latencies of the queue (pickup, claim) are read from the database (created_at → started_at; pg_stat_statements for the claim statement), not from the client.
- "n/a" marks a comparison whose feature is not in this build; the reason follows it.
- Run ` + "`go run ./bench`" + ` from the repository root (the bench is its own Go module; the root go.work names it), ` + "`-smoke`" + ` for the short CI run, ` + "`-only 1,3`" + ` for some comparisons, ` + "`-out FILE`" + ` to write elsewhere.
`

// discard drains and closes a response body so the connection is reused.
func discard(resp *http.Response) int64 {
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return n
}
