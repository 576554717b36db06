-- Postgres broker: one named query per job operation. Parameters are named (%(name)s).
-- Every transition out of 'leased' is fenced by (id, lease_id, status='leased', unexpired).

-- name: enqueue
-- Insert a group-committed batch; run_at is the database clock plus the delay unless given.
-- The batch arrives as one JSON array (encoding it costs ~1 us/job in Python, against ~40 us/job
-- for eight typed arrays), each element {id, type, queue, payload, priority, max_retries,
-- run_at, delay, timeout, unique_key, traceparent}. An id already stored (a producer's retry) is skipped,
-- not an error: see enqueue_known. Jobs with a unique_key come here only once claim_unique gave
-- them their key, in the same transaction.
INSERT INTO quorra_jobs (id, type, queue, payload, priority, max_retries, run_at,
                         timeout_seconds, unique_key, traceparent)
SELECT t.id, t.type, t.queue, t.payload, t.priority, t.max_retries,
       COALESCE(t.run_at, now() + make_interval(secs => t.delay)), t.timeout, t.unique_key,
       t.traceparent
FROM jsonb_to_recordset(%(jobs)s::jsonb)
     AS t(id uuid, type text, queue text, payload jsonb, priority int, max_retries int,
          run_at timestamptz, delay float8, timeout float8, unique_key text, traceparent text)
ON CONFLICT (id) DO NOTHING
RETURNING id, status, run_at, queue, run_at <= now() AS ready;

-- name: enqueue_handoff
-- The enqueue of a batch in which some ready jobs name a lessee: a worker of this server waiting
-- for their queue (``quorra/broker/handoff.py``). Such a job is stored already leased to it, as
-- the lease query would lease it, unless its queue is paused or limited or a ready job of the queue
-- would be leased first (higher priority, or as high and older): then it is stored pending.
-- Returns the job columns (the payload only of leased jobs, which go to their worker) and ready.
WITH t AS (
    SELECT t.*, COALESCE(t.run_at, now() + make_interval(secs => t.delay)) AS due
    FROM jsonb_to_recordset(%(jobs)s::jsonb)
         AS t(id uuid, type text, queue text, payload jsonb, priority int, max_retries int,
              run_at timestamptz, delay float8, timeout float8, unique_key text,
              traceparent text, lessee text, ttl float8)
), d AS (
    SELECT t.*, (t.lessee IS NOT NULL AND t.due <= now()
                 AND NOT EXISTS (SELECT 1 FROM quorra_queues p
                                 WHERE p.queue = t.queue AND (p.paused OR p.max_concurrency
                                       IS NOT NULL OR p.rate_limit IS NOT NULL))
                 AND NOT EXISTS (SELECT 1 FROM quorra_jobs r
                                 WHERE r.queue = t.queue AND r.status = 'pending'
                                   AND r.run_at <= now() AND r.priority >= t.priority)) AS direct
    FROM t
)
INSERT INTO quorra_jobs (id, type, queue, payload, priority, max_retries, run_at,
                         timeout_seconds, unique_key, status, attempts, lease_id, leased_at,
                         leased_by, lease_expires_at, dispatch_seq, traceparent)
SELECT id, type, queue, payload, priority, max_retries, due, timeout, unique_key,
       CASE WHEN direct THEN 'leased' ELSE 'pending' END,
       CASE WHEN direct THEN 1 ELSE 0 END,
       CASE WHEN direct THEN gen_random_uuid() END,
       CASE WHEN direct THEN now() END,
       CASE WHEN direct THEN lessee END,
       CASE WHEN direct THEN now() + make_interval(secs => LEAST(ttl, timeout)) END,
       CASE WHEN direct THEN 1 ELSE 0 END, traceparent
FROM d
ON CONFLICT (id) DO NOTHING
RETURNING id, type, CASE WHEN status = 'leased' THEN payload END, queue, priority, status,
          attempts, max_retries, last_error, result, run_at, created_at, updated_at, lease_id,
          leased_at, leased_by, lease_expires_at, finished_at, timeout_seconds, traceparent,
          status = 'pending' AND run_at <= now() AS ready;

-- name: enqueue_known
-- The stored jobs behind ids an enqueue skipped (its own statement: a fresh snapshot, so a job
-- committed by a concurrent enqueue of the same id is seen).
SELECT id, status, run_at FROM quorra_jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: lease
-- Highest priority first, then oldest; SKIP LOCKED so concurrent lessees never wait or collide.
-- A lease never outlives the job's deadline (leased_at + timeout_seconds): the ttl is cut to it.
-- Each queue is read on its own (LATERAL, `queue = q`) so the scan walks quorra_jobs_ready in
-- lease order and stops after `limit` rows, whatever the backlog; the best `limit` of those win.
-- (One `queue = ANY(…)` scan cannot use the index order: it read and sorted every pending job,
-- 0.6 ms of PostgreSQL CPU per job leased from a 100,000-job backlog, 0.06 ms this way.) Rows a
-- queue's scan locked but did not win are unlocked at commit, at once. Paused queues are dropped
-- from the list first, so a paused queue's backlog is never even scanned; so are limited queues
-- unless `limited` (their leases run in a transaction holding the queue's limits: limits.sql).
WITH candidates AS MATERIALIZED (
    SELECT j.id FROM (
        SELECT q FROM unnest(%(queues)s::text[]) AS q
        WHERE NOT EXISTS (SELECT 1 FROM quorra_queues p WHERE p.queue = q AND (p.paused
                          OR (NOT %(limited)s AND (p.max_concurrency IS NOT NULL
                                                   OR p.rate_limit IS NOT NULL))))
    ) AS live
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM quorra_jobs
        WHERE queue = live.q AND status = 'pending' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS j
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT %(limit)s
)
UPDATE quorra_jobs j
SET status = 'leased', attempts = j.attempts + 1, lease_id = gen_random_uuid(),
    leased_at = now(), leased_by = %(worker_id)s,
    lease_expires_at = now() + make_interval(secs => LEAST(%(ttl)s, j.timeout_seconds)),
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM candidates c
WHERE j.id = c.id
RETURNING {{job_columns j}};

-- name: ack
UPDATE quorra_jobs
SET status = 'succeeded', result = %(result)s::jsonb, lease_id = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
WHERE id = %(id)s AND lease_id = %(lease_id)s AND status = 'leased' AND lease_expires_at > now()
RETURNING id, queue, status, extract(epoch FROM now() - leased_at)::float8 AS ran_seconds,
          extract(epoch FROM now() - created_at)::float8 AS age_seconds, false, has_dependents;

-- name: ack_batch
-- Concurrent acks share one statement and one commit (the broker group-commits them). Each
-- element {id, lease_id, result}; fenced exactly like ack, a row per job that was settled.
UPDATE quorra_jobs j
SET status = 'succeeded', result = t.result, lease_id = NULL, lease_expires_at = NULL,
    finished_at = now(), updated_at = now()
FROM jsonb_to_recordset(%(acks)s::jsonb) AS t(id uuid, lease_id uuid, result jsonb)
WHERE j.id = t.id AND j.lease_id = t.lease_id AND j.status = 'leased'
  AND j.lease_expires_at > now()
RETURNING j.id, j.queue, j.status, extract(epoch FROM now() - j.leased_at)::float8 AS ran_seconds,
          extract(epoch FROM now() - j.created_at)::float8 AS age_seconds, false,
          j.has_dependents;

-- name: missing
-- Which of these ids name no job (to tell a lost lease from an unknown job).
SELECT t.id FROM unnest(%(ids)s::uuid[]) AS t(id)
WHERE NOT EXISTS (SELECT 1 FROM quorra_jobs j WHERE j.id = t.id);

-- name: nack
-- A failed attempt: dead when retries are exhausted (or retry is false), else pending after
-- the backoff (quorra_backoff, migration 0014).
UPDATE quorra_jobs
SET status = CASE WHEN NOT %(retry)s OR attempts > max_retries THEN 'dead' ELSE 'pending' END,
    run_at = CASE WHEN NOT %(retry)s OR attempts > max_retries THEN run_at
             ELSE now() + quorra_backoff(attempts) END,
    finished_at = CASE WHEN NOT %(retry)s OR attempts > max_retries THEN now() END,
    last_error = %(error)s, lease_id = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = %(id)s AND lease_id = %(lease_id)s AND status = 'leased' AND lease_expires_at > now()
RETURNING id, queue, status, extract(epoch FROM now() - leased_at)::float8 AS ran_seconds,
          extract(epoch FROM now() - created_at)::float8 AS age_seconds, false, has_dependents;

-- name: extend
-- Never past the job's deadline (LEAST ignores the NULL of a job without a timeout).
UPDATE quorra_jobs
SET lease_expires_at = LEAST(now() + make_interval(secs => %(ttl)s),
                             leased_at + make_interval(secs => timeout_seconds)),
    updated_at = now()
WHERE id = %(id)s AND lease_id = %(lease_id)s AND status = 'leased' AND lease_expires_at > now()
RETURNING lease_expires_at;

-- name: reap_expired
-- Expired leases become failed attempts. SKIP LOCKED: replicas reaping at once split the work.
-- A lease that ran to the job's deadline 'timed out'; any other 'lease expired'.
WITH expired AS MATERIALIZED (
    SELECT id FROM quorra_jobs
    WHERE status = 'leased' AND lease_expires_at <= now()
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE quorra_jobs j
SET status = CASE WHEN j.attempts > j.max_retries THEN 'dead' ELSE 'pending' END,
    run_at = CASE WHEN j.attempts > j.max_retries THEN j.run_at
             ELSE now() + quorra_backoff(j.attempts) END,
    finished_at = CASE WHEN j.attempts > j.max_retries THEN now() END,
    last_error = CASE
        WHEN j.lease_expires_at >= j.leased_at + make_interval(secs => j.timeout_seconds)
        THEN 'timed out' ELSE 'lease expired' END,
    lease_id = NULL, lease_expires_at = NULL, updated_at = now()
FROM expired e
WHERE j.id = e.id
RETURNING j.id, j.queue, j.status, extract(epoch FROM now() - j.leased_at)::float8,
          extract(epoch FROM now() - j.created_at)::float8, j.last_error = 'timed out',
          j.has_dependents;

-- name: retry
-- Operator retry: a dead or cancelled job runs again now, from attempt 0; last_error is kept.
UPDATE quorra_jobs
SET status = 'pending', attempts = 0, run_at = now(), finished_at = NULL, result = NULL,
    updated_at = now()
WHERE id = %(id)s AND status IN ('dead', 'cancelled')
RETURNING {{job_columns}};

-- name: retry_dead
-- Retry every dead job of one queue at once.
UPDATE quorra_jobs
SET status = 'pending', attempts = 0, run_at = now(), finished_at = NULL, result = NULL,
    updated_at = now()
WHERE queue = %(queue)s AND status = 'dead'
RETURNING id;

-- name: delete
-- Delete any job not held by a worker.
DELETE FROM quorra_jobs WHERE id = %(id)s AND status <> 'leased' RETURNING id;

-- name: exists
SELECT 1 FROM quorra_jobs WHERE id = %(id)s;

-- name: notify
SELECT pg_notify('quorra_jobs', q) FROM unnest(%(queues)s::text[]) AS q;

-- name: release
-- Give leased jobs back unrun (never delivered, or abandoned by a draining worker): pending and
-- ready now, the attempt not counted. Fenced by lease id like every settlement; a stale pair is
-- skipped.
UPDATE quorra_jobs j
SET status = 'pending', attempts = GREATEST(j.attempts - 1, 0), run_at = now(),
    lease_id = NULL, lease_expires_at = NULL, leased_at = NULL, leased_by = NULL,
    updated_at = now()
FROM unnest(%(ids)s::uuid[], %(lease_ids)s::uuid[]) AS r(id, lease_id)
WHERE j.id = r.id AND j.lease_id = r.lease_id AND j.status = 'leased'
  AND j.lease_expires_at > now()
RETURNING j.id, j.queue;

-- name: pause
-- Pause or resume a queue (an upsert: the row stays, so every replica's gauge sees a resume).
INSERT INTO quorra_queues (queue, paused) VALUES (%(queue)s, %(paused)s)
ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, updated_at = now()
RETURNING queue, paused;

-- name: queue_known
SELECT EXISTS (SELECT 1 FROM quorra_jobs WHERE queue = %(queue)s)
    OR EXISTS (SELECT 1 FROM quorra_queues WHERE queue = %(queue)s);

-- name: purge_finished
-- Retention: delete up to %(limit)s jobs of one finished status that finished more than
-- %(age)s seconds ago, oldest first, on the partial index quorra_jobs_finished. SKIP LOCKED:
-- replicas purging at once split the rows, and each row is deleted once.
WITH doomed AS MATERIALIZED (
    SELECT id FROM quorra_jobs
    WHERE status = %(status)s AND finished_at IS NOT NULL
      AND finished_at < now() - make_interval(secs => %(age)s)
    ORDER BY finished_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM quorra_jobs j USING doomed d WHERE j.id = d.id
RETURNING j.queue;

-- name: fold_counts
-- Fold the finished-count deltas the triggers appended into one row per (queue, status).
-- A delta row taken by a concurrent fold is not returned here, so none is counted twice.
WITH moved AS (
    DELETE FROM quorra_finished_deltas RETURNING queue, status, n
)
INSERT INTO quorra_finished_counts AS c (queue, status, n)
SELECT queue, status, sum(n) FROM moved GROUP BY queue, status
ON CONFLICT (queue, status) DO UPDATE SET n = c.n + excluded.n
RETURNING queue;

-- name: drop_zero_counts
DELETE FROM quorra_finished_counts WHERE n = 0;

-- name: cancel
-- Cancel one unfinished job (pending — ready, delayed or backing off —, blocked or leased) at
-- once (its blocked dependents are cancelled too, by 0007's trigger): its
-- lease, if any, is void (lease_id cleared, so every fenced settlement of it matches nothing)
-- and dispatch_seq moves on (so no Redis proposal or unrecorded stream lease of it can lease or
-- settle it). The row is locked first, so the old lease id returned is the one voided.
WITH old AS MATERIALIZED (
    SELECT id, status, lease_id, dispatch_seq FROM quorra_jobs WHERE id = %(id)s FOR UPDATE
)
UPDATE quorra_jobs j
SET status = 'cancelled', lease_id = NULL, lease_expires_at = NULL, finished_at = now(),
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM old o
WHERE j.id = o.id AND o.status IN ('pending', 'blocked', 'leased')
RETURNING {{job_columns j}},
          o.lease_id AS voided,
          o.dispatch_seq;

-- name: cancel_many
-- Bulk cancel, one bounded batch: unfinished jobs of a queue and/or a type. SKIP LOCKED: a row
-- another transaction holds is left to the next batch.
WITH doomed AS MATERIALIZED (
    SELECT id, lease_id, dispatch_seq FROM quorra_jobs
    WHERE status IN ('pending', 'blocked', 'leased')
      AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
      AND (%(type)s::text IS NULL OR type = %(type)s::text)
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE quorra_jobs j
SET status = 'cancelled', lease_id = NULL, lease_expires_at = NULL, finished_at = now(),
    dispatch_seq = j.dispatch_seq + 1, updated_at = now()
FROM doomed d
WHERE j.id = d.id
RETURNING j.id, j.queue, d.lease_id, d.dispatch_seq, j.priority, j.run_at;

-- name: job
SELECT {{job_columns}}
FROM quorra_jobs WHERE id = %(id)s;

-- name: notify_cancel
-- Tell every replica which leases a cancel voided ("job lease" pairs): the one holding the
-- worker session of each passes the cancellation on.
SELECT pg_notify('quorra_cancel', p) FROM unnest(%(pairs)s::text[]) AS p;

-- name: extend_many
-- Concurrent heartbeats share one statement (extends.py); same fence and deadline as extend.
UPDATE quorra_jobs j
SET lease_expires_at = LEAST(now() + make_interval(secs => e.ttl),
                             j.leased_at + make_interval(secs => j.timeout_seconds)),
    updated_at = now()
FROM unnest(%(ids)s::uuid[], %(lease_ids)s::uuid[], %(ttls)s::float8[]) AS e(id, lease_id, ttl)
WHERE j.id = e.id AND j.lease_id = e.lease_id AND j.status = 'leased'
  AND j.lease_expires_at > now()
RETURNING j.id, j.lease_id, j.lease_expires_at;
