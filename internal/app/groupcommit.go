package app

import (
	"context"

	"github.com/slipwayci/slipway/db"
	"github.com/slipwayci/slipway/job"
)

// groupCommitStore is the job store with intake routed through a Batcher, so
// concurrent build requests share commits.
type groupCommitStore struct {
	*db.DB
	batch *db.Batcher
}

func (s groupCommitStore) CreateJob(ctx context.Context, spec job.Spec) (*job.Job, error) {
	return s.batch.CreateJob(ctx, spec)
}

// groupCommit starts a Batcher over store that lives until ctx ends.
func groupCommit(ctx context.Context, store *db.DB) groupCommitStore {
	b := store.NewBatcher(db.BatchConfig{MaxRows: 128, Flushers: 4})
	go func() { _ = b.Run(ctx) }()
	return groupCommitStore{DB: store, batch: b}
}
