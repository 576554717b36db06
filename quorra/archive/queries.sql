-- Archive: reads over quorra_jobs.

-- name: get
-- With its parents (as enqueued) and the jobs that depend on it (at most %(max_dependents)s,
-- in id order; an empty list when none).
SELECT {{job_columns}}, unique_key, depends_on,
       CASE WHEN has_dependents THEN ARRAY(
           SELECT d.job_id FROM quorra_job_deps d WHERE d.parent_id = quorra_jobs.id
           ORDER BY d.job_id LIMIT %(max_dependents)s) END
FROM quorra_jobs WHERE id = %(id)s;

-- name: recent
SELECT {{job_columns}}
FROM quorra_jobs ORDER BY created_at DESC, id DESC LIMIT %(limit)s;

-- name: list_jobs
-- Keyset paging over quorra_jobs_recent, or over quorra_jobs_status_recent /
-- quorra_jobs_queue_status_recent when status (and queue) are given, so a filter that matches
-- nothing reads no rows (the caller plans it for its values). Every filter is optional (NULL
-- matches all; prefix: a tenant's queues; payload: containment, answered by the GIN index
-- quorra_jobs_payload; id_low/id_high: an id prefix as a range of the primary key).
-- Bounded by bytes too: ``before`` is the stored size of the payloads and results of the rows
-- ahead of this one; a row that starts past %(max_bytes)s comes without them (never read from
-- TOAST) and ``over`` set: the page ends before it.
SELECT id, type, CASE WHEN NOT over THEN payload END, queue, priority, status, attempts,
       max_retries, last_error, CASE WHEN NOT over THEN result END, run_at, created_at,
       updated_at, lease_id, leased_at, leased_by, lease_expires_at, finished_at,
       timeout_seconds, traceparent, over
FROM (
  SELECT *, coalesce(sum(pg_column_size(payload) + coalesce(pg_column_size(result), 0))
                       OVER (ORDER BY created_at DESC, id DESC
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
              >= %(max_bytes)s AS over
  FROM quorra_jobs
  WHERE (%(queue)s::text IS NULL OR queue = %(queue)s::text)
    AND (%(status)s::text IS NULL OR status = %(status)s::text)
    AND (%(type)s::text IS NULL OR type = %(type)s::text)
    AND (%(prefix)s::text IS NULL OR starts_with(queue, %(prefix)s::text))
    AND (%(payload)s::jsonb IS NULL OR payload @> %(payload)s::jsonb)
    AND (%(id_low)s::uuid IS NULL OR id BETWEEN %(id_low)s::uuid AND %(id_high)s::uuid)
    AND (%(after_at)s::timestamptz IS NULL
         OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
  ORDER BY created_at DESC, id DESC
  LIMIT %(limit)s
) page
ORDER BY created_at DESC, id DESC;

-- name: queue_counts
-- Live jobs (pending, blocked, leased) counted on their partial indexes (O(live), however many
-- finished jobs are kept);
-- finished ones from the counts the triggers of 0002_lifecycle.sql keep (folded + unfolded).
SELECT queue, status, n FROM (
    SELECT queue, 'pending' AS status, count(*) AS n FROM quorra_jobs
    WHERE status = 'pending' GROUP BY queue
    UNION ALL
    SELECT queue, 'leased', count(*) FROM quorra_jobs WHERE status = 'leased' GROUP BY queue
    UNION ALL
    SELECT queue, 'blocked', count(*) FROM quorra_jobs WHERE status = 'blocked' GROUP BY queue
    UNION ALL
    SELECT queue, status, sum(n)::bigint FROM (
        SELECT queue, status, n FROM quorra_finished_counts
        UNION ALL
        SELECT queue, status, n FROM quorra_finished_deltas) AS f
    GROUP BY queue, status) AS c
WHERE n > 0
ORDER BY queue, status;

-- name: queue_limits
-- Every limited queue with its limits (GET /v1/queues, the dashboard, the limit gauges).
SELECT queue, max_concurrency, rate_limit, rate_period FROM quorra_queues
WHERE max_concurrency IS NOT NULL OR rate_limit IS NOT NULL
ORDER BY queue;

-- name: queue_states
-- Every queue ever paused, with its flag (the gauge zeroes the resumed ones).
SELECT queue, paused FROM quorra_queues ORDER BY queue;

-- name: ping
SELECT 1;

-- name: ready_for
-- Has a job in these queues been ready (pending and due) for more than %(age)s seconds?
-- Paused queues hold ready jobs on purpose: they are no sign of a stall.
SELECT EXISTS (
    SELECT 1 FROM quorra_jobs
    WHERE status = 'pending' AND queue = ANY(%(queues)s::text[])
      AND run_at <= now() - make_interval(secs => %(age)s)
      AND NOT EXISTS (SELECT 1 FROM quorra_queues p WHERE p.queue = quorra_jobs.queue
                                                      AND p.paused));
