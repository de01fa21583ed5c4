package db

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/slipwayci/slipway/job"
)

func scanProject(row pgx.Row) (*job.Project, error) {
	var body []byte
	if err := row.Scan(&body); err != nil {
		return nil, translate(err)
	}
	var p job.Project
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode project: %w", err)
	}
	return &p, nil
}

// PutProject creates or replaces the project named p.Name and reports
// whether it is new.
func (d *DB) PutProject(ctx context.Context, p job.Project) (bool, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("put project: %w", err)
	}
	var inserted bool
	// xmax is 0 on a freshly inserted row and set on an updated one.
	err = d.pool.QueryRow(ctx, `
		INSERT INTO projects (name, repository, spec) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET repository = EXCLUDED.repository, spec = EXCLUDED.spec, updated_at = now()
		RETURNING xmax = 0`, p.Name, p.Repository, body).Scan(&inserted)
	if err != nil {
		return false, fmt.Errorf("put project: %w", translate(err))
	}
	return inserted, nil
}

// Project returns the project called name, or job.ErrNotFound.
func (d *DB) Project(ctx context.Context, name string) (*job.Project, error) {
	p, err := scanProject(d.pool.QueryRow(ctx, `SELECT spec FROM projects WHERE name = $1`, name))
	if err != nil {
		return nil, fmt.Errorf("get project: %w", err)
	}
	return p, nil
}

// Projects lists every project by name.
func (d *DB) Projects(ctx context.Context) ([]job.Project, error) {
	rows, err := d.pool.Query(ctx, `SELECT spec FROM projects ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", translate(err))
	}
	defer rows.Close()
	out := []job.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", translate(err))
	}
	return out, nil
}

// DeleteProject removes the project called name, or returns job.ErrNotFound.
func (d *DB) DeleteProject(ctx context.Context, name string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM projects WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete project: %w", translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete project: %w", job.ErrNotFound)
	}
	return nil
}

// FindProject returns the first project named in names, else the one for
// repository, else job.ErrNotFound.
func (d *DB) FindProject(ctx context.Context, names []string, repository string) (*job.Project, error) {
	p, err := scanProject(d.pool.QueryRow(ctx, `
		SELECT spec FROM projects
		WHERE name = ANY($1) OR (repository <> '' AND repository = $2)
		ORDER BY array_position($1, name) NULLS LAST, name
		LIMIT 1`, names, repository))
	if err != nil {
		return nil, fmt.Errorf("find project: %w", err)
	}
	return p, nil
}
