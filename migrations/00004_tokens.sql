-- +goose Up
CREATE TABLE api_tokens (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('read', 'admin')),
    -- SHA-256 of the token; the token itself is shown once and never stored.
    hash         bytea       NOT NULL UNIQUE,
    -- The first characters, so people can tell their tokens apart in a list.
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- The job list is newest first, often narrowed by one of these; each index
-- serves its filter and the keyset order at once.
CREATE INDEX jobs_state_created_idx ON jobs (state, created_at DESC, id DESC);
CREATE INDEX jobs_repository_created_idx ON jobs (repository, created_at DESC, id DESC);
CREATE INDEX jobs_image_created_idx ON jobs (image_name, created_at DESC, id DESC);

-- +goose Down
DROP INDEX jobs_image_created_idx;
DROP INDEX jobs_repository_created_idx;
DROP INDEX jobs_state_created_idx;
DROP TABLE api_tokens;
