-- +goose Up
-- API processes cache what GET /api/v1/jobs/{id} shows; this channel tells
-- every process which job's view changed, whoever changed it. The triggers
-- stay off the queue's hot path: new jobs send nothing (no process can have
-- cached a job before it commits), and updates that change nothing the API
-- shows (lease renewals, log line counts) send nothing either. Repeats of one
-- payload in one transaction are merged by Postgres.
-- +goose StatementBegin
CREATE FUNCTION jobs_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('slipway_job_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('slipway_job_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- The columns compared are those db.jobColumns reads for the API.
CREATE TRIGGER jobs_notify_on_change
    AFTER UPDATE ON jobs
    FOR EACH ROW
    WHEN ((OLD.state, OLD.attempt, OLD.started_at, OLD.finished_at, OLD.error_code, OLD.error_message,
           OLD.max_attempts, OLD.cancel_requested, OLD.retry_of, OLD.retried_by, OLD.owner, OLD.logs_pruned_at,
           OLD.result, OLD.spec, OLD.attempts)
          IS DISTINCT FROM
          (NEW.state, NEW.attempt, NEW.started_at, NEW.finished_at, NEW.error_code, NEW.error_message,
           NEW.max_attempts, NEW.cancel_requested, NEW.retry_of, NEW.retried_by, NEW.owner, NEW.logs_pruned_at,
           NEW.result, NEW.spec, NEW.attempts))
    EXECUTE FUNCTION jobs_notify_changed();

CREATE TRIGGER jobs_notify_on_delete
    AFTER DELETE ON jobs
    FOR EACH ROW
    EXECUTE FUNCTION jobs_notify_changed();

-- A job's callbacks and their deliveries are part of its view. A callback
-- added with its job, in the job's own transaction, sends nothing: the
-- intake of jobs with callbacks must not queue on the notification lock.
-- +goose StatementBegin
CREATE FUNCTION job_callbacks_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD.job_id;
    ELSE
        changed := NEW.job_id;
    END IF;
    IF TG_OP = 'INSERT' AND EXISTS (SELECT 1 FROM jobs WHERE id = changed AND xmin = pg_current_xact_id()::xid) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('slipway_job_changed', changed::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER job_callbacks_notify_on_change
    AFTER INSERT OR UPDATE OR DELETE ON job_callbacks
    FOR EACH ROW
    EXECUTE FUNCTION job_callbacks_notify_changed();

CREATE TRIGGER callback_outbox_notify_on_change
    AFTER INSERT OR UPDATE OR DELETE ON callback_outbox
    FOR EACH ROW
    EXECUTE FUNCTION job_callbacks_notify_changed();

-- +goose Down
DROP TRIGGER callback_outbox_notify_on_change ON callback_outbox;
DROP TRIGGER job_callbacks_notify_on_change ON job_callbacks;
DROP FUNCTION job_callbacks_notify_changed();
DROP TRIGGER jobs_notify_on_delete ON jobs;
DROP TRIGGER jobs_notify_on_change ON jobs;
DROP FUNCTION jobs_notify_changed();
