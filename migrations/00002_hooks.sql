-- +goose Up
-- Identical in-flight builds share one job: the key is set only when
-- deduplication is on, and the partial unique index frees it when the job ends.
ALTER TABLE jobs ADD COLUMN build_key text;
CREATE UNIQUE INDEX jobs_inflight_build_key_idx ON jobs (build_key)
    WHERE build_key IS NOT NULL AND state IN ('queued', 'running');

-- One row per delivery a CI system made: a replay finds its job here, across
-- restarts, and concurrent copies serialize on the primary key.
CREATE TABLE hook_deliveries (
    source      text        NOT NULL,
    delivery_id text        NOT NULL,
    fingerprint text        NOT NULL,
    job_id      uuid        REFERENCES jobs (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_id)
);

CREATE TABLE projects (
    name       text        PRIMARY KEY,
    repository text        NOT NULL DEFAULT '',
    spec       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_repository_idx ON projects (repository) WHERE repository <> '';

-- Who wants to hear when a job ends. Several deliveries deduplicated onto one
-- job each keep their own callback.
CREATE TABLE job_callbacks (
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    url    text NOT NULL,
    PRIMARY KEY (job_id, url)
);

CREATE TABLE callback_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    url             text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'expired')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX callback_outbox_due_idx ON callback_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callback_outbox_job_idx ON callback_outbox (job_id);

-- The outbox row is written by the statement that ends the job, in its
-- transaction, whatever code issues that statement.
-- +goose StatementBegin
CREATE FUNCTION jobs_enqueue_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_outbox (job_id, url)
    SELECT NEW.id, c.url FROM job_callbacks c WHERE c.job_id = NEW.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER jobs_callbacks_on_end
    AFTER UPDATE OF state ON jobs
    FOR EACH ROW
    WHEN (NEW.state IN ('succeeded', 'failed', 'canceled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION jobs_enqueue_callbacks();

-- +goose Down
DROP TRIGGER jobs_callbacks_on_end ON jobs;
DROP FUNCTION jobs_enqueue_callbacks();
DROP TABLE callback_outbox;
DROP TABLE job_callbacks;
DROP TABLE projects;
DROP TABLE hook_deliveries;
DROP INDEX jobs_inflight_build_key_idx;
ALTER TABLE jobs DROP COLUMN build_key;
