-- Quorra's system of record: one row per job. Every transition is a conditional UPDATE.
CREATE TABLE quorra_jobs (
    id               uuid        PRIMARY KEY,
    type             text        NOT NULL CHECK (length(type) BETWEEN 1 AND 255),
    queue            text        NOT NULL CHECK (length(queue) BETWEEN 1 AND 128),
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(payload) = 'object'),
    priority         integer     NOT NULL DEFAULT 0,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'leased', 'succeeded', 'dead', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_retries      integer     NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    last_error       text,
    result           jsonb,
    run_at           timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    lease_id         uuid,
    leased_at        timestamptz,
    leased_by        text,
    lease_expires_at timestamptz,
    finished_at      timestamptz,
    -- bumped by every grant: a dispatch proposal carrying an older sequence cannot lease.
    dispatch_seq     bigint      NOT NULL DEFAULT 0,
    CONSTRAINT quorra_jobs_lease_iff_leased
        CHECK ((status = 'leased') = (lease_id IS NOT NULL)),
    CONSTRAINT quorra_jobs_lease_complete
        CHECK (lease_id IS NULL OR (lease_expires_at IS NOT NULL AND leased_at IS NOT NULL)),
    CONSTRAINT quorra_jobs_finished_iff_terminal
        CHECK ((status IN ('succeeded', 'dead', 'cancelled')) = (finished_at IS NOT NULL))
) WITH (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.01);

-- The lease query walks this in ORDER BY order: ready jobs, highest priority, then oldest.
CREATE INDEX quorra_jobs_ready ON quorra_jobs (queue, priority DESC, run_at, id)
    WHERE status = 'pending';

-- The reaper finds expired leases here in O(expired).
CREATE INDEX quorra_jobs_lease_expiry ON quorra_jobs (lease_expires_at)
    WHERE status = 'leased';

-- Listings: newest first, per queue and status.
CREATE INDEX quorra_jobs_recent ON quorra_jobs (created_at DESC, id DESC);
CREATE INDEX quorra_jobs_queue_status ON quorra_jobs (queue, status);
