-- +goose Up
-- What became of each webhook delivery: how a Jenkins or Bamboo admin sees
-- why a build did not start, since neither reads the HTTP answer. A summary
-- only, never the body. Bounded by age and row count (db/deliveries.go);
-- no foreign key to jobs, so recording never waits on or fails for a job row.
CREATE TABLE deliveries (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    endpoint     text        NOT NULL,
    system       text        NOT NULL,
    delivery_id  text        NOT NULL DEFAULT '',
    outcome      text        NOT NULL CHECK (outcome IN ('created', 'shared', 'ignored', 'refused')),
    status       integer     NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    ci_job       text        NOT NULL DEFAULT '',
    build_number text        NOT NULL DEFAULT '',
    commit_sha   text        NOT NULL DEFAULT '',
    job_id       uuid
);
CREATE INDEX deliveries_received_idx ON deliveries (received_at);
CREATE INDEX deliveries_job_id_idx ON deliveries (job_id) WHERE job_id IS NOT NULL;

-- +goose Down
DROP TABLE deliveries;
