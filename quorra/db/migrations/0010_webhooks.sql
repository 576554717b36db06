-- Webhooks: subscriptions to jobs' final states, and the trigger that turns each such state into
-- deliveries. A delivery is a job of the reserved queue "_quorra.webhooks" (user queue names
-- start with a letter or digit, so no user job can land there), inserted by the statement that
-- commits the outcome: in its transaction, whichever broker or lease path wrote it (ack batches,
-- nack, reaper, cancels, Redis-mode settle batches and recorded stream leases all end in an
-- UPDATE of quorra_jobs). The server's delivery loop leases those jobs like any other.

-- id "wh_" + 12 characters; events the job events subscribed to; queue/type filters as the glob
-- given ('*' and '?') and its LIKE form (NULL: every queue / type). The secret signs deliveries:
-- the server needs it, so it is stored, and no read but the delivery loop's returns it.
CREATE TABLE quorra_webhooks (
    id            text        PRIMARY KEY CHECK (id ~ '^wh_[a-z0-9]{12}$'),
    url           text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events        text[]      NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 3 AND events
                              <@ ARRAY['job.succeeded', 'job.dead', 'job.cancelled']::text[]),
    queue_pattern text        CHECK (length(queue_pattern) BETWEEN 1 AND 128),
    queue_like    text,
    type_pattern  text        CHECK (length(type_pattern) BETWEEN 1 AND 255),
    type_like     text,
    secret        text        NOT NULL CHECK (length(secret) >= 32),
    max_retries   integer     NOT NULL DEFAULT 10 CHECK (max_retries BETWEEN 0 AND 100),
    enabled       boolean     NOT NULL DEFAULT true,
    description   text        NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A UUIDv7 (time-ordered, as the server's job ids) for deliveries made inside the database.
CREATE FUNCTION quorra_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
        substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- One call per UPDATE statement of quorra_jobs (never per row), and only while an enabled
-- subscription exists: quorra_webhooks_sync (below) enables this trigger then and disables it
-- otherwise, so without subscriptions the job path pays nothing. Each job that reached
-- succeeded, dead or cancelled in this statement gets one delivery per enabled subscription
-- matching its event, queue and type; its payload carries the job as it was at that moment, its
-- id is the delivery id receivers de-duplicate on.
CREATE FUNCTION quorra_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE finished_at IS NOT NULL) THEN
        RETURN NULL;  -- leases, extensions, retries: nothing finished (one look, no join)
    END IF;
    INSERT INTO quorra_jobs (id, type, queue, payload, max_retries)
    SELECT quorra_uuid7(), 'quorra.webhook', '_quorra.webhooks',
           jsonb_build_object('webhook', w.id, 'event', 'job.' || n.status, 'job',
               jsonb_build_object('id', n.id, 'type', n.type, 'queue', n.queue,
                   'status', n.status, 'attempts', n.attempts, 'max_retries', n.max_retries,
                   'result', n.result, 'last_error', n.last_error, 'run_at', n.run_at,
                   'created_at', n.created_at, 'finished_at', n.finished_at)),
           w.max_retries
    FROM new_rows n
    JOIN old_rows o ON o.id = n.id AND o.status IS DISTINCT FROM n.status
    JOIN quorra_webhooks w ON w.enabled AND ('job.' || n.status) = ANY (w.events)
         AND (w.queue_like IS NULL OR n.queue LIKE w.queue_like)
         AND (w.type_like IS NULL OR n.type LIKE w.type_like)
    WHERE n.status IN ('succeeded', 'dead', 'cancelled') AND n.queue <> '_quorra.webhooks';
    IF FOUND THEN  -- wake the delivery loops (Postgres-only wake-ups; delivered at commit)
        PERFORM pg_notify('quorra_jobs', '_quorra.webhooks');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quorra_jobs_webhooks AFTER UPDATE ON quorra_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION quorra_webhook_events();
ALTER TABLE quorra_jobs DISABLE TRIGGER quorra_jobs_webhooks;  -- no subscription yet

-- After every change of quorra_webhooks: the jobs' trigger is enabled exactly while an enabled
-- subscription exists. ENABLE/DISABLE TRIGGER takes a SHARE ROW EXCLUSIVE lock on quorra_jobs
-- (writers wait, readers do not) until the change commits; it is taken only when the state
-- flips (the first subscription, the last one gone). The server serializes subscription
-- changes (LOCK quorra_webhooks first) and bounds the wait (lock_timeout).
CREATE FUNCTION quorra_webhooks_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted boolean := EXISTS (SELECT 1 FROM quorra_webhooks WHERE enabled);
    current boolean := (SELECT tgenabled <> 'D' FROM pg_trigger
                        WHERE tgrelid = 'quorra_jobs'::regclass
                          AND tgname = 'quorra_jobs_webhooks');
BEGIN
    IF wanted AND NOT current THEN
        ALTER TABLE quorra_jobs ENABLE TRIGGER quorra_jobs_webhooks;
    ELSIF current AND NOT wanted THEN
        ALTER TABLE quorra_jobs DISABLE TRIGGER quorra_jobs_webhooks;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER quorra_webhooks_sync AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON quorra_webhooks FOR EACH STATEMENT EXECUTE FUNCTION quorra_webhooks_sync();
