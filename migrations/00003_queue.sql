-- +goose Up
ALTER TABLE jobs
    ADD COLUMN attempts           jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN attempt_started_at timestamptz,
    ADD COLUMN cancel_requested   boolean NOT NULL DEFAULT false,
    ADD COLUMN source_ref         text    NOT NULL DEFAULT '',
    ADD COLUMN retry_of           uuid REFERENCES jobs (id) ON DELETE SET NULL,
    ADD COLUMN retried_by         uuid REFERENCES jobs (id) ON DELETE SET NULL,
    ADD COLUMN logs_pruned_at     timestamptz;

-- Running rows are few whatever the table's size: lease reclaim and the
-- per-image concurrency count read only them.
CREATE INDEX jobs_running_idx ON jobs (lease_expires_at, image_name) WHERE state = 'running';
-- Queue TTL and supersede look at waiting jobs only.
CREATE INDEX jobs_queued_created_idx ON jobs (created_at) WHERE state = 'queued' AND attempt = 0;
CREATE INDEX jobs_queued_image_idx ON jobs (image_name, source_ref) WHERE state = 'queued';

-- Log retention walks finished jobs whose logs are still kept, oldest first.
CREATE INDEX jobs_logs_kept_idx ON jobs (finished_at) WHERE logs_pruned_at IS NULL AND finished_at IS NOT NULL;

-- +goose Down
DROP INDEX jobs_logs_kept_idx;
DROP INDEX jobs_queued_image_idx;
DROP INDEX jobs_queued_created_idx;
DROP INDEX jobs_running_idx;
ALTER TABLE jobs
    DROP COLUMN logs_pruned_at,
    DROP COLUMN retried_by,
    DROP COLUMN retry_of,
    DROP COLUMN source_ref,
    DROP COLUMN cancel_requested,
    DROP COLUMN attempt_started_at,
    DROP COLUMN attempts;
