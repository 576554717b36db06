-- Unique jobs (0004_unique_jobs.sql): the steps of an enqueue transaction whose batch carries
-- unique keys, around the plain ``enqueue`` insert of queries.sql. Parameters are named.

-- name: claim_unique
-- Unique jobs, step 1 of an enqueue transaction: claim each (queue, unique_key) for a job id,
-- each element {queue, unique_key, job_id, window}. A free key is inserted; a held one whose
-- window has passed is taken over; one still held stays (and stays locked until this
-- transaction ends, so its holder cannot be released meanwhile). The primary key serialises
-- concurrent claims of one key on every replica; claims are made in key order, so two batches
-- never wait on each other in a cycle. Returns the job ids that got their key.
INSERT INTO quorra_unique_keys AS k (queue, unique_key, job_id, expires_at)
SELECT t.queue, t.unique_key, t.job_id, now() + make_interval(secs => t."window")
FROM jsonb_to_recordset(%(claims)s::jsonb)
     AS t(queue text, unique_key text, job_id uuid, "window" float8)
ORDER BY t.queue, t.unique_key
ON CONFLICT (queue, unique_key) DO UPDATE
    SET job_id = excluded.job_id, expires_at = excluded.expires_at, created_at = now()
    WHERE k.expires_at <= now()
RETURNING job_id;

-- name: unclaim_unique
-- Claims whose job was not stored after all (its id was stored before: a producer's retry).
DELETE FROM quorra_unique_keys k
USING jsonb_to_recordset(%(claims)s::jsonb) AS t(queue text, unique_key text, job_id uuid)
WHERE k.queue = t.queue AND k.unique_key = t.unique_key AND k.job_id = t.job_id;

-- name: unique_holders
-- The jobs holding these keys (status NULL: a key row whose job is gone, dropped by the caller).
SELECT k.queue, k.unique_key, k.job_id, j.status, j.run_at
FROM jsonb_to_recordset(%(keys)s::jsonb) AS t(queue text, unique_key text)
JOIN quorra_unique_keys k ON k.queue = t.queue AND k.unique_key = t.unique_key
LEFT JOIN quorra_jobs j ON j.id = k.job_id;
