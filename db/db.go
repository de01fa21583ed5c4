// Package db is Slipway's Postgres adapter: the job store, the queue and the
// schema migrations, over pgx/v5.
package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/slipwayci/slipway/job"
	"github.com/slipwayci/slipway/migrations"
)

// DB is a pool of connections to Slipway's database.
type DB struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// wakeups carries "a job was queued" to RunNotifier, which turns bursts
	// of them into one NOTIFY.
	wakeups chan struct{}
	intake  *intakeBatch
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error can quote the URL, password included.
		return nil, errors.New("parse database URL: invalid connection string")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// Each build holds a connection now and then for its lease and log;
		// pgx's default (4 on two cores) makes builds queue for connections.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &DB{pool: pool, log: log, wakeups: make(chan struct{}, 1), intake: newIntakeBatch(pool)}, nil
}

// Close releases every connection.
func (d *DB) Close() { d.pool.Close() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *DB) migrator() (*goose.Provider, error) {
	// A session lock lets several processes start at once against one database.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(d.pool), migrations.FS,
		goose.WithSessionLocker(locker))
}

// Migrate applies every pending migration and returns how many ran.
func (d *DB) Migrate(ctx context.Context) (int, error) {
	p, err := d.migrator()
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer p.Close()
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		d.log.InfoContext(ctx, "applied migration", "version", r.Source.Version, "duration", r.Duration)
	}
	return len(results), nil
}

// MigrationsPending reports whether the schema lags behind this binary.
func (d *DB) MigrationsPending(ctx context.Context) (bool, error) {
	p, err := d.migrator()
	if err != nil {
		return false, fmt.Errorf("check migrations: %w", err)
	}
	defer p.Close()
	return p.HasPending(ctx)
}

// translate maps driver errors onto the domain's.
func translate(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return job.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", job.ErrConflict, pgErr.ConstraintName)
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", job.ErrUnavailable, err)
	}
	return err
}

// unavailable reports an error that says the database cannot be reached or
// cannot serve now, rather than that the statement is wrong: no connection,
// a connection lost, a server shutting down or starting, too many
// connections.
func unavailable(err error) bool {
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "53300" ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	return false
}
