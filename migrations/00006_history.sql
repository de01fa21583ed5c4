-- +goose Up
-- The dashboard's history reads the jobs that started or ended in a window.
-- Partial indexes: a new job (neither started nor ended) adds no entry, so
-- intake pays nothing for them. The included columns let the history and
-- per-image queries answer from the index alone.
CREATE INDEX jobs_started_idx ON jobs (started_at) INCLUDE (created_at) WHERE started_at IS NOT NULL;
CREATE INDEX jobs_finished_idx ON jobs (finished_at) INCLUDE (state, started_at, created_at, image_name)
    WHERE finished_at IS NOT NULL;

-- +goose Down
DROP INDEX jobs_finished_idx;
DROP INDEX jobs_started_idx;
