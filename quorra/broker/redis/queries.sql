-- Redis broker: Postgres stays the arbiter. Redis proposes (job, dispatch_seq); only these
-- fenced statements change a job.

-- name: grant
-- Lease proposed jobs whose dispatch_seq still matches; bump it so no other copy of the
-- proposal can ever lease. SKIP LOCKED: a row another server is granting is theirs. A job of
-- a paused queue is not granted even if Redis proposed it (the pause reached Redis late, or
-- its mirror was lost): Postgres decides here too. Nor is a job of a limited queue: those are
-- leased from Postgres, under the queue's limits (a proposal made before the limit is stale).
-- One primary-key lookup per proposal (LATERAL), whatever the statistics say: a join left to the
-- planner hashed every pending row once a burst made its statistics stale (a 300,000-job
-- backlog against statistics of finished jobs: 0.3-0.8 s per grant of 1,000).
WITH proposed AS MATERIALIZED (
    SELECT l.id FROM unnest(%(ids)s::uuid[], %(seqs)s::bigint[]) AS p(id, seq)
    CROSS JOIN LATERAL (
        SELECT j.id FROM quorra_jobs j
        WHERE j.id = p.id AND j.dispatch_seq = p.seq AND j.status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM quorra_queues q WHERE q.queue = j.queue AND (q.paused
                          OR q.max_concurrency IS NOT NULL OR q.rate_limit IS NOT NULL))
        FOR UPDATE OF j SKIP LOCKED
    ) l
)
UPDATE quorra_jobs j
SET status = 'leased', attempts = j.attempts + 1, lease_id = gen_random_uuid(),
    leased_at = now(), leased_by = %(worker_id)s,
    lease_expires_at = now() + make_interval(secs => LEAST(%(ttl)s, j.timeout_seconds)),
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM proposed p
WHERE j.id = p.id
RETURNING {{job_columns j}};

-- name: still_proposed
-- Proposals a grant skipped although still valid: their row was locked by another statement at
-- that moment (an enqueue locking the parents of a new dependent), not granted elsewhere. The
-- caller settles them and proposes them again at once. The conditions are the grant's own
-- (pending, same seq, queue neither paused nor limited): a proposal the grant refuses on
-- purpose must not come back, or lessees would pop and refuse it in a loop.
SELECT j.id FROM quorra_jobs j
JOIN unnest(%(ids)s::uuid[], %(seqs)s::bigint[]) AS p(id, seq)
  ON j.id = p.id AND j.dispatch_seq = p.seq
WHERE j.status = 'pending'
  AND NOT EXISTS (SELECT 1 FROM quorra_queues q WHERE q.queue = j.queue AND (q.paused
                  OR q.max_concurrency IS NOT NULL OR q.rate_limit IS NOT NULL));

-- name: dispatch_rows
-- What Redis needs to propose these jobs, if they are still pending.
SELECT id, queue, dispatch_seq, priority, run_at FROM quorra_jobs
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending';

-- name: sweep_page
-- Pending jobs untouched for %(age)s seconds, in id order (keyset paging): the repair sweep
-- proposes those Redis lacks (dispatch.lua skips the ones it has).
SELECT id, queue, dispatch_seq, priority, run_at FROM quorra_jobs
WHERE status = 'pending' AND id > %(after)s
  AND updated_at <= now() - make_interval(secs => %(age)s)
ORDER BY id
LIMIT %(limit)s;

-- name: queue_states
-- Pause flags to mirror into Redis (every queue ever paused; the resumed ones lose their key).
SELECT queue, paused FROM quorra_queues ORDER BY queue;

-- name: sweep_queue_page
-- Every pending job of one queue, in id order (keyset paging): a resumed queue is proposed
-- again in full, in case the grant refused proposals of it while it was paused.
SELECT id, queue, dispatch_seq, priority, run_at FROM quorra_jobs
WHERE status = 'pending' AND queue = %(queue)s AND id > %(after)s
ORDER BY id
LIMIT %(limit)s;

-- name: pending_queues
-- The queues with a pending job: a skip scan of quorra_jobs_queue_status_recent (a probe or two
-- per queue), not a read of every pending row (160 ms a call with 300,000 pending).
WITH RECURSIVE q AS (
    (SELECT queue FROM quorra_jobs ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM quorra_jobs j WHERE j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT queue FROM q
WHERE queue IS NOT NULL
  AND EXISTS (SELECT 1 FROM quorra_jobs j WHERE j.queue = q.queue AND j.status = 'pending');
