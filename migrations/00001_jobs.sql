-- +goose Up
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY,
    state            text        NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    spec             jsonb       NOT NULL,
    -- Columns copied out of spec for filtering and indexing.
    source           text        NOT NULL,
    repository       text        NOT NULL,
    commit_sha       text        NOT NULL,
    image_name       text        NOT NULL,
    priority         integer     NOT NULL DEFAULT 0,
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 3,
    created_at       timestamptz NOT NULL DEFAULT now(),
    run_after        timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    owner            text,
    lease_expires_at timestamptz,
    result           jsonb,
    error_code       text,
    error_message    text,
    log_lines        integer     NOT NULL DEFAULT 0
);

-- Claiming reads only queued rows, best first; a partial index stays small
-- however many finished jobs the table keeps.
CREATE INDEX jobs_claim_idx ON jobs (priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_commit_idx ON jobs (commit_sha text_pattern_ops);

CREATE TABLE job_logs (
    job_id uuid    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    line   integer NOT NULL,
    text   text    NOT NULL,
    PRIMARY KEY (job_id, line)
);

-- +goose Down
DROP TABLE job_logs;
DROP TABLE jobs;
