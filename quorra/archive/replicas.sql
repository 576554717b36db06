-- Server replicas (quorra_replicas): each one's heartbeat, throughput and workers.

-- name: beat
INSERT INTO quorra_replicas (id, host, pid, version, started_at, heartbeat_at, throughput,
                             workers)
VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, to_timestamp(%(started_at)s), now(),
        %(throughput)s::jsonb, %(workers)s::jsonb)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), throughput = EXCLUDED.throughput,
                               workers = EXCLUDED.workers;

-- name: all
-- The heartbeat's age by the database's clock, so replicas' clocks need not agree.
SELECT id, host, pid, version, extract(epoch FROM started_at)::float8,
       extract(epoch FROM heartbeat_at)::float8,
       extract(epoch FROM now() - heartbeat_at)::float8, throughput, workers
FROM quorra_replicas ORDER BY started_at, id;

-- name: forget
DELETE FROM quorra_replicas WHERE heartbeat_at < now() - make_interval(secs => %(age)s);

-- name: remove
DELETE FROM quorra_replicas WHERE id = %(id)s;
