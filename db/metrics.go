package db

import (
	"context"
	"fmt"

	"github.com/slipwayci/slipway/job"
)

// CountJobsByState returns how many jobs are in each state; states without
// jobs are absent.
func (d *DB) CountJobsByState(ctx context.Context) (map[job.State]int, error) {
	rows, err := d.pool.Query(ctx, `SELECT state, count(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", translate(err))
	}
	defer rows.Close()
	counts := map[job.State]int{}
	for rows.Next() {
		var (
			s job.State
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		counts[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", translate(err))
	}
	return counts, nil
}
