-- +goose Up
-- The project whose defaults a job was built with, so the job list can be
-- narrowed to one project; '' for jobs that used none.
ALTER TABLE jobs ADD COLUMN project text NOT NULL DEFAULT '';
CREATE INDEX jobs_project_created_idx ON jobs (project, created_at DESC, id DESC);

-- +goose Down
DROP INDEX jobs_project_created_idx;
ALTER TABLE jobs DROP COLUMN project;
