package app

import (
	"context"
	"errors"
	"io"

	"github.com/slipwayci/slipway/db"
)

// migrate runs `slipway migrate`: it applies the migrations and exits.
func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var url, format, level string
	s := newSettings("migrate", getenv, stderr)
	s.Secret(&url, "database-url", "SLIPWAY_DATABASE_URL", "Postgres connection URL")
	s.String(&format, "log-format", "SLIPWAY_LOG_FORMAT", "auto", "log format: json, text, or auto")
	s.String(&level, "log-level", "SLIPWAY_LOG_LEVEL", "info", "log level")
	if err := s.Parse(args); err != nil {
		return err
	}
	if url == "" {
		return errors.New("no database: set SLIPWAY_DATABASE_URL or --database-url")
	}
	log, err := newLogger(stderr, format, level)
	if err != nil {
		return err
	}
	store, err := db.Open(ctx, url, log)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "migrations applied", "count", n)
	return nil
}
