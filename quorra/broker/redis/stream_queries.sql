-- Stream leases (QUORRA_REDIS_LEASES=stream): Redis holds the lease, PostgreSQL the outcome.
-- A lease PostgreSQL has not recorded yet is a 'pending' row whose dispatch_seq is the seq the
-- lease was made from; every statement below that ends a lease accepts either that or the
-- recorded lease ('leased' with the lease id), and bumps dispatch_seq, so a lease record that
-- arrives late can never resurrect it. Rows are locked in id order (no deadlocks between
-- batches). Timestamps given in ms come from the Redis clock.

-- name: record
-- Leases made in Redis, learnt in batches off the lease path; fenced by (seq, 'pending').
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(leases)s::jsonb)
        AS r(id uuid, seq bigint, lease_id uuid, leased_ms bigint, deadline_ms bigint,
             worker text)
), live AS MATERIALIZED (
    SELECT j.id FROM quorra_jobs j JOIN r ON j.id = r.id
    WHERE j.status = 'pending' AND j.dispatch_seq = r.seq
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE quorra_jobs j
SET status = 'leased', attempts = j.attempts + 1, lease_id = r.lease_id,
    leased_at = 'epoch'::timestamptz + r.leased_ms * interval '1 millisecond',
    leased_by = r.worker,
    lease_expires_at = 'epoch'::timestamptz + r.deadline_ms * interval '1 millisecond',
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM live, r
WHERE j.id = live.id AND r.id = j.id
RETURNING j.id;

-- name: ack
-- Each element {id, lease_id, seq, leased_ms, worker, result}; seq is null when Redis did not
-- vouch for the lease (then only a recorded, unexpired lease matches). has_dependents: the
-- caller looks for the jobs this success unblocked (0007's trigger made them pending).
WITH t AS (
    SELECT * FROM jsonb_to_recordset(%(acks)s::jsonb)
        AS t(id uuid, lease_id uuid, seq bigint, leased_ms bigint, worker text, result jsonb)
), live AS MATERIALIZED (
    SELECT j.id FROM quorra_jobs j JOIN t ON j.id = t.id
    WHERE (j.status = 'leased' AND j.lease_id = t.lease_id AND j.lease_expires_at > now())
       OR (t.seq IS NOT NULL AND j.status = 'pending' AND j.dispatch_seq = t.seq)
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE quorra_jobs j
SET status = 'succeeded', result = t.result,
    attempts = j.attempts + (j.status = 'pending')::int,
    leased_at = CASE WHEN j.status = 'pending'
                THEN 'epoch'::timestamptz + t.leased_ms * interval '1 millisecond'
                ELSE j.leased_at END,
    leased_by = CASE WHEN j.status = 'pending' THEN t.worker ELSE j.leased_by END,
    lease_id = NULL, lease_expires_at = NULL, dispatch_seq = j.dispatch_seq + 1,
    finished_at = now(), updated_at = now()
FROM live, t
WHERE j.id = live.id AND t.id = j.id
RETURNING j.id, j.queue, j.status, extract(epoch FROM now() - j.leased_at)::float8,
          extract(epoch FROM now() - j.created_at)::float8, j.has_dependents;

-- name: nack
-- A failed attempt (same rules as the Postgres broker's nack), fenced like ack. Returns the
-- settlement and, for a job pending again, what its next dispatch needs.
WITH live AS MATERIALIZED (
    SELECT id FROM quorra_jobs
    WHERE id = %(id)s
      AND ((status = 'leased' AND lease_id = %(lease_id)s AND lease_expires_at > now())
           OR (%(seq)s::bigint IS NOT NULL AND status = 'pending'
               AND dispatch_seq = %(seq)s::bigint))
    FOR UPDATE
)
UPDATE quorra_jobs j
SET status = CASE WHEN NOT %(retry)s OR j.attempts + (j.status = 'pending')::int > j.max_retries
             THEN 'dead' ELSE 'pending' END,
    run_at = CASE WHEN NOT %(retry)s OR j.attempts + (j.status = 'pending')::int > j.max_retries
             THEN j.run_at
             ELSE now() + quorra_backoff(j.attempts + (j.status = 'pending')::int) END,
    finished_at = CASE WHEN NOT %(retry)s
                       OR j.attempts + (j.status = 'pending')::int > j.max_retries
                  THEN now() END,
    attempts = j.attempts + (j.status = 'pending')::int,
    leased_at = CASE WHEN j.status = 'pending'
                THEN 'epoch'::timestamptz + %(leased_ms)s::bigint * interval '1 millisecond'
                ELSE j.leased_at END,
    leased_by = CASE WHEN j.status = 'pending' THEN %(worker)s ELSE j.leased_by END,
    last_error = %(error)s, lease_id = NULL, lease_expires_at = NULL,
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM live
WHERE j.id = live.id
RETURNING j.id, j.queue, j.status, extract(epoch FROM now() - j.leased_at)::float8,
          extract(epoch FROM now() - j.created_at)::float8,
          j.dispatch_seq, j.priority, j.run_at, j.type, j.payload::text, j.attempts,
          j.max_retries, j.created_at, j.last_error, j.timeout_seconds, j.traceparent,
          j.has_dependents;

-- name: expire
-- Leases XAUTOCLAIM found past their deadline in Redis become failed attempts. SKIP LOCKED:
-- a row another statement holds is left for the next pass (the entry stays claimable). A lease
-- whose deadline was the job's (leased + timeout, to the millisecond) 'timed out'.
WITH t AS (
    SELECT * FROM jsonb_to_recordset(%(leases)s::jsonb)
        AS t(id uuid, lease_id uuid, seq bigint, leased_ms bigint, worker text,
             deadline_ms bigint)
), live AS MATERIALIZED (
    SELECT j.id FROM quorra_jobs j JOIN t ON j.id = t.id
    WHERE (j.status = 'leased' AND j.lease_id = t.lease_id)
       OR (j.status = 'pending' AND j.dispatch_seq = t.seq)
    ORDER BY j.id
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE quorra_jobs j
SET status = CASE WHEN j.attempts + (j.status = 'pending')::int > j.max_retries
             THEN 'dead' ELSE 'pending' END,
    run_at = CASE WHEN j.attempts + (j.status = 'pending')::int > j.max_retries THEN j.run_at
             ELSE now() + quorra_backoff(j.attempts + (j.status = 'pending')::int) END,
    finished_at = CASE WHEN j.attempts + (j.status = 'pending')::int > j.max_retries
                  THEN now() END,
    attempts = j.attempts + (j.status = 'pending')::int,
    leased_at = CASE WHEN j.status = 'pending'
                THEN 'epoch'::timestamptz + t.leased_ms * interval '1 millisecond'
                ELSE j.leased_at END,
    leased_by = CASE WHEN j.status = 'pending' THEN t.worker ELSE j.leased_by END,
    last_error = CASE
        WHEN t.deadline_ms >= t.leased_ms + round(j.timeout_seconds * 1000) - 1
        THEN 'timed out' ELSE 'lease expired' END,
    lease_id = NULL, lease_expires_at = NULL,
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM live, t
WHERE j.id = live.id AND t.id = j.id
RETURNING j.id, j.queue, j.status, extract(epoch FROM now() - j.leased_at)::float8,
          extract(epoch FROM now() - j.created_at)::float8,
          j.dispatch_seq, j.priority, j.run_at, j.type, j.payload::text, j.attempts,
          j.max_retries, j.created_at, j.last_error, j.timeout_seconds, j.traceparent,
          j.has_dependents;

-- name: release
-- Jobs given back unrun: pending and ready now, the attempt not counted (a recorded lease gives
-- its attempt back; an unrecorded one never counted it). Fenced like ack.
WITH t AS (
    SELECT * FROM jsonb_to_recordset(%(leases)s::jsonb) AS t(id uuid, lease_id uuid, seq bigint)
), live AS MATERIALIZED (
    SELECT j.id FROM quorra_jobs j JOIN t ON j.id = t.id
    WHERE (j.status = 'leased' AND j.lease_id = t.lease_id AND j.lease_expires_at > now())
       OR (t.seq IS NOT NULL AND j.status = 'pending' AND j.dispatch_seq = t.seq)
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE quorra_jobs j
SET status = 'pending', attempts = GREATEST(j.attempts - (j.status = 'leased')::int, 0),
    run_at = now(), lease_id = NULL, lease_expires_at = NULL, leased_at = NULL,
    leased_by = NULL, dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM live
WHERE j.id = live.id
RETURNING j.id, j.queue, j.status, 0::float8, 0::float8,
          j.dispatch_seq, j.priority, j.run_at, j.type, j.payload::text, j.attempts,
          j.max_retries, j.created_at, j.last_error, j.timeout_seconds, j.traceparent;

-- name: extend
-- A heartbeat Redis accepted: push a recorded lease's deadline to Redis's (never past the job's
-- deadline; Redis already cut it there); a lease not recorded yet (pending, same seq) has
-- nothing to update and is live too. A row per live lease.
WITH t AS (
    SELECT * FROM jsonb_to_recordset(%(leases)s::jsonb)
        AS t(id uuid, lease_id uuid, seq bigint, deadline_ms bigint)
), upd AS (
    UPDATE quorra_jobs j
    SET lease_expires_at = LEAST(
            'epoch'::timestamptz + t.deadline_ms * interval '1 millisecond',
            j.leased_at + make_interval(secs => j.timeout_seconds)),
        updated_at = now()
    FROM t
    WHERE j.id = t.id AND j.status = 'leased' AND j.lease_id = t.lease_id
      AND j.lease_expires_at > now()
    RETURNING j.id
)
SELECT t.id FROM t
WHERE t.id IN (SELECT id FROM upd)
   OR EXISTS (SELECT 1 FROM quorra_jobs j
              WHERE j.id = t.id AND j.status = 'pending' AND j.dispatch_seq = t.seq);

-- name: dispatch_rows
-- Everything a stream lease hands out, for jobs still pending.
SELECT id, queue, dispatch_seq, priority, run_at, type, payload::text, attempts, max_retries,
       created_at, last_error, timeout_seconds, traceparent
FROM quorra_jobs WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending';

-- name: queue_of
-- The queue of each job (an ack for a lease another server made: which keys to look in).
SELECT id, queue FROM quorra_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: missing
SELECT t.id FROM unnest(%(ids)s::uuid[]) AS t(id)
WHERE NOT EXISTS (SELECT 1 FROM quorra_jobs j WHERE j.id = t.id);

-- name: queues
-- Every queue name (a skip scan of quorra_jobs_queue_status_recent): where XAUTOCLAIM looks.
WITH RECURSIVE q AS (
    (SELECT queue FROM quorra_jobs ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM quorra_jobs j WHERE j.queue > q.queue ORDER BY j.queue LIMIT 1)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT queue FROM q WHERE queue IS NOT NULL;

-- name: queue_limits
-- Limits to mirror into Redis (every queue with a row: one whose limits were removed loses its
-- key there too).
SELECT queue, max_concurrency, rate_limit, rate_period FROM quorra_queues ORDER BY queue;
