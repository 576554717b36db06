-- Every server replica records itself here (quorra/replicas.py): refreshed every few seconds
-- by its housekeeping with its recent throughput and its connected workers, so any replica can
-- show the whole cluster. A row whose heartbeat is old is shown as gone, and deleted later;
-- a replica that stops cleanly deletes its own.
CREATE TABLE quorra_replicas (
    id           text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    throughput   jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- [[unix s, enqueued, succeeded, failed] per s]
    workers      jsonb       NOT NULL DEFAULT '[]'::jsonb   -- [{worker_id, queues, in_flight, …}]
);
