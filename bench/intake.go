package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

var concurrencies = []int{1, 8, 32}

// logLevels are the settings the request-path comparisons run at: the
// default (info, one access log line per request) and warn (none).
var logLevels = []string{"info", "warn"}

const benchRepo = "https://127.0.0.1:1/bench/app.git"

// intake: 202s per second at 1, 8, 32 clients, against pgbench's one-row
// INSERT per commit and River's Insert: Slipway as configured by default
// (access log included), at log level warn, and with deduplication of
// identical in-flight builds off.
func (b *bench) intake(ctx context.Context) error {
	d := 10 * time.Second
	if b.smoke {
		d = 500 * time.Millisecond
	}
	variants := []struct {
		name string
		env  map[string]string
	}{
		{"Slipway, log info", map[string]string{"SLIPWAY_LOG_LEVEL": "info"}},
		{"Slipway, log warn", nil},
		{"Slipway, log warn, dedupe off", map[string]string{"SLIPWAY_DEDUPE": "false"}},
	}
	rates := map[string]map[int]float64{}
	var seq int64
	for _, v := range variants {
		if _, err := b.db.Exec(ctx, "TRUNCATE jobs CASCADE"); err != nil {
			return err
		}
		s, err := b.startSlipway(ctx, "serve", v.env)
		if err != nil {
			return err
		}
		rates[v.name] = map[int]float64{}
		post := func(ctx context.Context, _ int, _ int64) error {
			n := atomicAdd(&seq)
			resp, err := b.request(ctx, http.MethodPost, s.addr+"/api/v1/jobs", jobBody(n, benchRepo, "registry.example.com/bench/app"), nil)
			if err != nil {
				return err
			}
			discard(resp)
			if resp.StatusCode != http.StatusAccepted {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}
		for _, c := range concurrencies {
			// Unmeasured warm-up: connections in both pools, caches.
			load(ctx, c, warmup(d), 0, post)
			r := load(ctx, c, d, 0, post)
			rates[v.name][c] = r.rate()
			b.note(fmt.Sprintf("intake %s, %d clients: %d accepted in %s = %.0f/s, %d failed %s", v.name, c, r.ok, r.elapsed.Round(time.Millisecond), r.rate(), r.failed, r.firstErr))
		}
		s.stop()
		b.procs = nil
	}

	pgb, pgErr := b.pgbench(ctx, d)
	riv, rivErr := b.riverIntake(ctx, d)
	for _, c := range concurrencies {
		for _, v := range variants {
			r := row{num: 1, what: fmt.Sprintf("intake 202/s, %d clients (%s)", c, v.name), slipway: fmt.Sprintf("%.0f/s", rates[v.name][c])}
			var base, ratio []string
			if pgErr != nil {
				base = append(base, "pgbench n/a: "+oneLine(pgErr.Error()))
			} else {
				base = append(base, fmt.Sprintf("pgbench %.0f/s", pgb[c]))
				ratio = append(ratio, fmt.Sprintf("%.2f× pgbench", rates[v.name][c]/pgb[c]))
			}
			if rivErr != nil {
				base = append(base, "River n/a: "+oneLine(rivErr.Error()))
			} else {
				base = append(base, fmt.Sprintf("River %.0f/s", riv[c]))
				ratio = append(ratio, fmt.Sprintf("%.2f× River", rates[v.name][c]/riv[c]))
			}
			r.baseline, r.ratio = strings.Join(base, "; "), strings.Join(ratio, "; ")
			if c == 32 && pgErr == nil {
				r.goal = "≥ 0.8× pgbench"
				r.met = goal(r, rates[v.name][c]/pgb[c], true, 0.8).met
			}
			b.add(r)
		}
	}
	return nil
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs a one-row INSERT per transaction at each concurrency.
func (b *bench) pgbench(ctx context.Context, d time.Duration) (map[int]float64, error) {
	if _, err := b.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_pgbench (
		id bigserial PRIMARY KEY, spec jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	script := filepath.Join(b.tmp, "insert.sql")
	// The row carries a spec of the size Slipway stores, so both write alike.
	body := `INSERT INTO bench_pgbench (spec) VALUES ('{"source":{"repository":"https://127.0.0.1:1/bench/app.git","commit":"0000000000000000000000000000000000000001","ref":""},"build":{"context":".","dockerfile":"Dockerfile"},"image":{"name":"registry.example.com/bench/app","tags":["latest"]},"push":true,"trigger":{"system":"api"}}');` + "\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		return nil, err
	}
	// pgbench's -T includes opening its connections: under 2 s, 32
	// clients on a busy machine can finish no transaction at all.
	secs := max(2, int(d.Round(time.Second)/time.Second))
	out := map[int]float64{}
	for _, c := range concurrencies {
		cmd := exec.CommandContext(ctx, filepath.Join(pgBin(), "pgbench"), "-n", "-T", strconv.Itoa(secs), "-c", strconv.Itoa(c), "-j", strconv.Itoa(min(c, 2)),
			"-f", script, "-h", "127.0.0.1", "-p", strconv.Itoa(b.pg.port), "-U", "postgres", "slipway")
		o, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("pgbench: %w: %s", err, o)
		}
		m := tpsRE.FindSubmatch(o)
		if m == nil {
			lines := strings.Split(strings.TrimSpace(string(o)), "\n")
			return nil, fmt.Errorf("pgbench, %d clients: no tps: %s", c, strings.Join(lines[max(0, len(lines)-2):], " "))
		}
		out[c], _ = strconv.ParseFloat(string(m[1]), 64)
		b.note(fmt.Sprintf("pgbench one-row INSERT per commit, %d clients, -T %d: %.0f tps", c, secs, out[c]))
	}
	return out, nil
}

// quiet drops River's logs: the load's deadline cancels inserts mid-flight
// and River reports each as an error.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type intakeArgs struct {
	N int64 `json:"n"`
}

func (intakeArgs) Kind() string { return "bench_intake" }

// riverPool opens the River database, migrated, creating it on first use.
func (b *bench) riverPool(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, b.pg.url("river"))
	if err == nil && pool.Ping(ctx) == nil {
		return pool, nil
	}
	if pool != nil {
		pool.Close()
	}
	if pool, err = b.pg.createDB(ctx, "river"); err != nil {
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		pool.Close()
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	return pool, nil
}

// riverIntake inserts one River job per call, insert-only client.
func (b *bench) riverIntake(ctx context.Context, d time.Duration) (map[int]float64, error) {
	pool, err := b.riverPool(ctx)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: quiet})
	if err != nil {
		return nil, err
	}
	out := map[int]float64{}
	var seq int64
	insert := func(ctx context.Context, _ int, _ int64) error {
		_, err := client.Insert(ctx, intakeArgs{N: atomicAdd(&seq)}, nil)
		return err
	}
	for _, c := range concurrencies {
		load(ctx, c, warmup(d), 0, insert)
		r := load(ctx, c, d, 0, insert)
		out[c] = r.rate()
		b.note(fmt.Sprintf("River Insert, %d clients: %d in %s = %.0f/s, %d failed %s", c, r.ok, r.elapsed.Round(time.Millisecond), r.rate(), r.failed, r.firstErr))
	}
	return out, nil
}
