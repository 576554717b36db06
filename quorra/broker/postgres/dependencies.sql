-- Job dependencies (0007_dependencies.sql): the steps of an enqueue transaction whose batch
-- holds jobs with depends_on, and the reads that follow a parent's outcome. Parameters are
-- named. The unblocking and the cascade of a parent's outcome are the triggers of 0007.

-- name: lock_parents
-- The parents outside the batch, locked (id order) until the enqueue commits, so none can
-- finish unseen: its outcome's trigger waits for this transaction and then finds the new
-- children. Each is marked has_dependents (which arms those triggers). Returns their status
-- and queue; an id absent from the result names no job. (A lease that skipped a parent locked
-- here finds it again: the caller wakes the lessees of pending parents after the commit.)
WITH p AS MATERIALIZED (
    SELECT id, status, has_dependents FROM quorra_jobs
    WHERE id = ANY(%(ids)s::uuid[])
    ORDER BY id
    FOR NO KEY UPDATE
), marked AS (
    UPDATE quorra_jobs j SET has_dependents = true
    FROM p WHERE j.id = p.id AND NOT p.has_dependents
)
SELECT p.id, p.status, j.queue FROM p JOIN quorra_jobs j ON j.id = p.id;

-- name: enqueue_dependent
-- The enqueue insert (queries.sql) for jobs whose status the caller worked out from their
-- parents: pending, blocked (blockers = parents not succeeded yet) or cancelled at once (a
-- parent ended dead or cancelled, last_error says which).
INSERT INTO quorra_jobs (id, type, queue, payload, priority, max_retries, run_at,
                         timeout_seconds, unique_key, status, blockers, depends_on,
                         has_dependents, last_error, finished_at, traceparent)
SELECT t.id, t.type, t.queue, t.payload, t.priority, t.max_retries,
       COALESCE(t.run_at, now() + make_interval(secs => t.delay)), t.timeout, t.unique_key,
       t.status, t.blockers, t.depends_on, t.has_dependents, t.last_error,
       CASE WHEN t.status = 'cancelled' THEN now() END, t.traceparent
FROM jsonb_to_recordset(%(jobs)s::jsonb)
     AS t(id uuid, type text, queue text, payload jsonb, priority int, max_retries int,
          run_at timestamptz, delay float8, timeout float8, unique_key text, status text,
          blockers int, depends_on uuid[], has_dependents boolean, last_error text,
          traceparent text)
ON CONFLICT (id) DO NOTHING
RETURNING id, status, run_at, queue, status = 'pending' AND run_at <= now() AS ready;

-- name: insert_edges
INSERT INTO quorra_job_deps (job_id, parent_id)
SELECT t.job_id, t.parent_id
FROM jsonb_to_recordset(%(edges)s::jsonb) AS t(job_id uuid, parent_id uuid)
ON CONFLICT DO NOTHING;

-- name: raise_priorities
-- Priority inheritance: every unfinished ancestor of the given jobs gets at least the priority
-- given for that job (each element {id, priority}), transitively. Rows locked in id order. A
-- pending job's dispatch_seq moves on when %(bump)s (Redis grant mode), so its proposal is made
-- again with the new priority and the old one is refused as stale (stream leases: moved in
-- place, stream_rescore.lua, since an unrecorded lease is fenced by its seq). Returns the
-- raised jobs, with the priority each had.
WITH RECURSIVE need AS (
    SELECT * FROM jsonb_to_recordset(%(need)s::jsonb) AS t(id uuid, priority int)
), up(id, priority) AS (
    SELECT id, priority FROM need
    UNION
    SELECT d.parent_id, up.priority FROM up JOIN quorra_job_deps d ON d.job_id = up.id
), best AS (
    SELECT id, max(priority) AS priority FROM up GROUP BY id
), raised AS MATERIALIZED (
    SELECT j.id, b.priority, j.priority AS old FROM quorra_jobs j JOIN best b ON b.id = j.id
    WHERE j.status IN ('pending', 'blocked', 'leased') AND j.priority < b.priority
    ORDER BY j.id
    FOR NO KEY UPDATE OF j
)
UPDATE quorra_jobs j
SET priority = GREATEST(j.priority, r.priority),
    dispatch_seq = j.dispatch_seq + (%(bump)s AND j.status = 'pending')::int
FROM raised r
WHERE j.id = r.id
RETURNING j.id, j.queue, j.status, r.old, j.priority, j.run_at, j.dispatch_seq;

-- name: unblocked
-- The dependents of these (just succeeded) parents that are pending now: to wake and propose.
SELECT DISTINCT j.id, j.queue FROM quorra_job_deps d JOIN quorra_jobs j ON j.id = d.job_id
WHERE d.parent_id = ANY(%(ids)s::uuid[]) AND j.status = 'pending';
