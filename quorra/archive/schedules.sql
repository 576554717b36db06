-- Cron schedules (quorra_schedules). The job template is stored as the JSON the API took.

-- name: create
INSERT INTO quorra_schedules (name, cron, timezone, job, paused, next_run_at)
VALUES (%(name)s, %(cron)s, %(timezone)s, %(job)s::jsonb, %(paused)s, %(next_run_at)s)
ON CONFLICT (name) DO NOTHING
RETURNING name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id,
          created_at, updated_at;

-- name: replace
-- Create or replace; a replaced schedule keeps its history and fires at its new next tick.
INSERT INTO quorra_schedules (name, cron, timezone, job, paused, next_run_at)
VALUES (%(name)s, %(cron)s, %(timezone)s, %(job)s::jsonb, %(paused)s, %(next_run_at)s)
ON CONFLICT (name) DO UPDATE
SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, job = EXCLUDED.job,
    paused = EXCLUDED.paused, next_run_at = EXCLUDED.next_run_at, updated_at = now()
RETURNING name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id,
          created_at, updated_at;

-- name: get
SELECT name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id, created_at,
       updated_at
FROM quorra_schedules WHERE name = %(name)s;

-- name: list
SELECT name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id, created_at,
       updated_at
FROM quorra_schedules ORDER BY name LIMIT %(limit)s;

-- name: delete
DELETE FROM quorra_schedules WHERE name = %(name)s RETURNING name;

-- name: set_paused
-- Resuming fires at the next tick from now, not at every tick missed while paused.
UPDATE quorra_schedules
SET paused = %(paused)s, updated_at = now(),
    next_run_at = CASE WHEN %(paused)s THEN next_run_at ELSE %(next_run_at)s END
WHERE name = %(name)s
RETURNING name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id,
          created_at, updated_at;

-- name: claim_due
-- Due schedules, locked for this transaction; another replica's claim skips them.
SELECT name, cron, timezone, job, paused, next_run_at, last_run_at, last_job_id, created_at,
       updated_at
FROM quorra_schedules
WHERE NOT paused AND next_run_at <= now()
ORDER BY next_run_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: advance
UPDATE quorra_schedules
SET next_run_at = %(next_run_at)s, last_run_at = %(last_run_at)s, last_job_id = %(job_id)s,
    updated_at = now()
WHERE name = %(name)s;
