-- Webhook subscriptions (quorra_webhooks, 0010_webhooks.sql). No read but `target` returns
-- the secret.

-- name: serialize
-- Subscription changes, one at a time (they may flip the jobs' trigger: 0010_webhooks.sql).
LOCK TABLE quorra_webhooks IN SHARE ROW EXCLUSIVE MODE;

-- name: lock_timeout
-- A change that flips the jobs' trigger waits for the writes in flight on quorra_jobs (and
-- holds new ones until it commits): bounded, then refused (503) rather than stalling jobs.
SET LOCAL lock_timeout = '2s';

-- name: create
INSERT INTO quorra_webhooks (id, url, events, queue_pattern, queue_like, type_pattern,
                             type_like, secret, max_retries, enabled, description)
VALUES (%(id)s, %(url)s, %(events)s, %(queue)s, %(queue_like)s, %(type)s, %(type_like)s,
        %(secret)s, %(max_retries)s, %(enabled)s, %(description)s)
RETURNING id, url, events, queue_pattern, type_pattern, description, max_retries, enabled,
          created_at, updated_at;

-- name: list
SELECT id, url, events, queue_pattern, type_pattern, description, max_retries, enabled,
       created_at, updated_at
FROM quorra_webhooks ORDER BY created_at, id LIMIT %(limit)s;

-- name: get
SELECT id, url, events, queue_pattern, type_pattern, description, max_retries, enabled,
       created_at, updated_at
FROM quorra_webhooks WHERE id = %(id)s;

-- name: set_enabled
UPDATE quorra_webhooks SET enabled = %(enabled)s, updated_at = now() WHERE id = %(id)s
RETURNING id, url, events, queue_pattern, type_pattern, description, max_retries, enabled,
          created_at, updated_at;

-- name: delete
DELETE FROM quorra_webhooks WHERE id = %(id)s RETURNING id;

-- name: target
-- What the delivery loop needs to send one delivery (NULL row: the subscription is gone).
SELECT url, secret, enabled FROM quorra_webhooks WHERE id = %(id)s;

-- name: deliveries
-- The newest deliveries (jobs of the reserved queue), of one subscription or all.
SELECT id, status, attempts, max_retries, last_error, result, payload ->> 'webhook',
       payload ->> 'event', payload -> 'job' ->> 'id', created_at, updated_at, run_at
FROM quorra_jobs
WHERE queue = '_quorra.webhooks'
  AND (%(webhook)s::text IS NULL OR payload ->> 'webhook' = %(webhook)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
