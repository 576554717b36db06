-- Queue limits (0006_queue_limits.sql): read, set, and spent under the queue row's lock.

-- name: limited_queues
-- The queues with a limit: their leases take the limited path (`lease_limited` in broker.py).
SELECT queue FROM quorra_queues
WHERE max_concurrency IS NOT NULL OR rate_limit IS NOT NULL;

-- name: get_limits
SELECT max_concurrency, rate_limit, rate_period FROM quorra_queues WHERE queue = %(queue)s;

-- name: set_limits
-- Create or replace a queue's limits (a queue may be limited before its first job); a changed
-- limit starts a fresh rate window.
INSERT INTO quorra_queues AS p (queue, max_concurrency, rate_limit, rate_period)
VALUES (%(queue)s, %(max_concurrency)s, %(rate_limit)s, %(rate_period)s)
ON CONFLICT (queue) DO UPDATE
SET max_concurrency = EXCLUDED.max_concurrency, rate_limit = EXCLUDED.rate_limit,
    rate_period = EXCLUDED.rate_period, window_start = NULL, window_count = 0,
    updated_at = now();

-- name: lock_limits
-- Taken first in a limited queue's lease transaction: concurrent lessees on every replica queue
-- up here. (Its own statement: under READ COMMITTED a statement that waited for the lock still
-- reads with the snapshot it started with, so it would miss the leases the holder committed.)
SELECT 1 FROM quorra_queues WHERE queue = %(queue)s FOR UPDATE;

-- name: limit_room
-- With the lock held, a fresh snapshot: how many more may be leased now (NULL: no such limit)
-- and, when the rate window is spent, the seconds until it reopens.
SELECT p.paused,
       p.max_concurrency - (SELECT count(*) FROM quorra_jobs j
                            WHERE j.queue = p.queue AND j.status = 'leased') AS free,
       p.rate_limit - CASE WHEN p.window_start IS NULL
                             OR p.window_start + make_interval(secs => p.rate_period) <= now()
                           THEN 0 ELSE p.window_count END AS tokens,
       GREATEST(extract(epoch FROM p.window_start + make_interval(secs => p.rate_period)
                                   - now()), 0)::float8 AS reopens_in
FROM quorra_queues p
WHERE p.queue = %(queue)s;

-- name: spend_rate
-- Count `n` leases in the queue's rate window (a new window starts when the last one ran out).
UPDATE quorra_queues
SET window_count = CASE WHEN window_start IS NULL
                          OR window_start + make_interval(secs => rate_period) <= now()
                        THEN %(n)s ELSE window_count + %(n)s END,
    window_start = CASE WHEN window_start IS NULL
                          OR window_start + make_interval(secs => rate_period) <= now()
                        THEN now() ELSE window_start END
WHERE queue = %(queue)s AND rate_limit IS NOT NULL;
