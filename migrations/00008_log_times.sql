-- +goose Up
-- When each log line was written, for the job page's step timeline. Lines
-- written before this migration have no time (NULL) rather than a wrong one.
ALTER TABLE job_logs ADD COLUMN logged_at timestamptz;
ALTER TABLE job_logs ALTER COLUMN logged_at SET DEFAULT now();

-- +goose Down
ALTER TABLE job_logs DROP COLUMN logged_at;
