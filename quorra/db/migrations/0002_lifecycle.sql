-- Job lifecycle: paused queues, retention of finished jobs, and counts that stay cheap however
-- many finished jobs the table holds.

-- Queues an operator paused (or paused and resumed): no job of a paused queue is leased.
-- Kept here so a pause survives restarts and holds on every replica; Redis mirrors it.
CREATE TABLE quorra_queues (
    queue      text        PRIMARY KEY CHECK (length(queue) BETWEEN 1 AND 128),
    paused     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Finished jobs (succeeded, dead, cancelled) by queue and status. Counting them in quorra_jobs
-- costs O(finished rows) (GET /v1/queues: 1.3 -> 66 ms with 1,000,000 of them); live jobs are
-- counted on the partial indexes instead. Statement triggers append signed deltas to
-- quorra_finished_deltas (insert-only: concurrent acks never wait on a counter row) and
-- housekeeping folds them into quorra_finished_counts; readers add both.
CREATE TABLE quorra_finished_counts (
    queue  text   NOT NULL,
    status text   NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, status)
);

CREATE TABLE quorra_finished_deltas (
    queue  text   NOT NULL,
    status text   NOT NULL,
    n      bigint NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01);

CREATE FUNCTION quorra_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quorra_finished_deltas (queue, status, n)
    SELECT queue, status, count(*) FROM new_rows WHERE finished_at IS NOT NULL
    GROUP BY queue, status;
    RETURN NULL;
END $$;

CREATE FUNCTION quorra_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quorra_finished_deltas (queue, status, n)
    SELECT queue, status, sum(n) FROM (
        SELECT queue, status, 1 AS n FROM new_rows WHERE finished_at IS NOT NULL
        UNION ALL
        SELECT queue, status, -1 FROM old_rows WHERE finished_at IS NOT NULL) AS d
    GROUP BY queue, status HAVING sum(n) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION quorra_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO quorra_finished_deltas (queue, status, n)
    SELECT queue, status, -count(*) FROM old_rows WHERE finished_at IS NOT NULL
    GROUP BY queue, status;
    RETURN NULL;
END $$;

CREATE FUNCTION quorra_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM quorra_finished_deltas;
    DELETE FROM quorra_finished_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER quorra_jobs_count_insert AFTER INSERT ON quorra_jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION quorra_count_inserted();
CREATE TRIGGER quorra_jobs_count_update AFTER UPDATE ON quorra_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION quorra_count_updated();
CREATE TRIGGER quorra_jobs_count_delete AFTER DELETE ON quorra_jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION quorra_count_deleted();
CREATE TRIGGER quorra_jobs_count_truncate AFTER TRUNCATE ON quorra_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION quorra_count_truncated();

-- The jobs finished before this migration (the triggers exist from here on, and hold the table
-- lock, so no write falls between the two).
INSERT INTO quorra_finished_counts (queue, status, n)
SELECT queue, status, count(*) FROM quorra_jobs WHERE finished_at IS NOT NULL
GROUP BY queue, status;

-- Retention finds the oldest finished jobs of one status here, in O(deleted).
CREATE INDEX quorra_jobs_finished ON quorra_jobs (status, finished_at)
    WHERE finished_at IS NOT NULL;

-- The Redis repair sweep pages through pending jobs by id; without this it walks the primary
-- key over every finished job.
CREATE INDEX quorra_jobs_pending_id ON quorra_jobs (id) WHERE status = 'pending';
