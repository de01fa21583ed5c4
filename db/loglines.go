package db

import (
	"context"
	"fmt"

	"github.com/slipwayci/slipway/job"
)

// LogLines returns up to limit numbered log lines of a job after line since.
// Followers poll it, so it reads only the log table's primary key range.
func (d *DB) LogLines(ctx context.Context, id string, since, limit int) ([]job.LogLine, error) {
	rows, err := d.pool.Query(ctx, `SELECT line, text FROM job_logs WHERE job_id = $1 AND line > $2 ORDER BY line LIMIT $3`,
		id, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read log lines: %w", translate(err))
	}
	defer rows.Close()
	var out []job.LogLine
	for rows.Next() {
		var l job.LogLine
		if err := rows.Scan(&l.N, &l.Text); err != nil {
			return nil, fmt.Errorf("read log lines: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log lines: %w", translate(err))
	}
	return out, nil
}
