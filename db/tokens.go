package db

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

const tokenColumns = `id, name, scope, prefix, created_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (*job.Token, error) {
	var (
		t  job.Token
		id uuid.UUID
	)
	if err := row.Scan(&id, &t.Name, &t.Scope, &t.Prefix, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
		return nil, translate(err)
	}
	t.ID = id.String()
	return &t, nil
}

// CreateToken stores a token by its hash and returns its record.
func (d *DB) CreateToken(ctx context.Context, name string, scope job.Scope, hash []byte, prefix string) (*job.Token, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	t, err := scanToken(d.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (id, name, scope, hash, prefix) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+tokenColumns, id, name, scope, hash, prefix))
	if err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

// TokenByHash returns the unrevoked token with the given hash, or
// job.ErrNotFound, and notes that it was used.
func (d *DB) TokenByHash(ctx context.Context, hash []byte) (*job.Token, error) {
	// last_used_at is written at most once a minute, so polling clients do not
	// turn every read into a write.
	t, err := scanToken(d.pool.QueryRow(ctx, `
		WITH t AS (SELECT id FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL),
		touched AS (
			UPDATE api_tokens SET last_used_at = now()
			WHERE id = (SELECT id FROM t) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
		)
		SELECT `+tokenColumns+` FROM api_tokens WHERE id = (SELECT id FROM t)`, hash))
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	return t, nil
}

// Tokens lists every token, revoked ones included, newest first.
func (d *DB) Tokens(ctx context.Context) ([]*job.Token, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	defer rows.Close()
	out := []*job.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeToken revokes a token for good; revoking it again changes nothing.
func (d *DB) RevokeToken(ctx context.Context, id string) (*job.Token, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, job.ErrNotFound
	}
	t, err := scanToken(d.pool.QueryRow(ctx, `
		UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
		RETURNING `+tokenColumns, uid))
	if err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	return t, nil
}

// HasActiveTokens reports whether any unrevoked token exists.
func (d *DB) HasActiveTokens(ctx context.Context) (bool, error) {
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL)`).Scan(&ok); err != nil {
		return false, fmt.Errorf("check tokens: %w", translate(err))
	}
	return ok, nil
}
