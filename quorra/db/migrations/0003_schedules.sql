-- Cron schedules: each tick enqueues one job (its id derived from the schedule's name and the
-- tick's time, so a tick enqueued twice is stored once). Replicas claim due rows with
-- FOR UPDATE SKIP LOCKED, so each tick is handled by one of them.
CREATE TABLE quorra_schedules (
    name        text        PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
    cron        text        NOT NULL CHECK (length(cron) BETWEEN 1 AND 255),
    timezone    text        NOT NULL DEFAULT 'UTC',
    job         jsonb       NOT NULL CHECK (jsonb_typeof(job) = 'object'),
    paused      boolean     NOT NULL DEFAULT false,
    next_run_at timestamptz NOT NULL,
    last_run_at timestamptz,
    last_job_id uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The tick finds due schedules here in O(due).
CREATE INDEX quorra_schedules_due ON quorra_schedules (next_run_at) WHERE NOT paused;
