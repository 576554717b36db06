-- Job dependencies: a job may depend on other jobs (its parents). Until every parent succeeded
-- it is 'blocked' (never leased, never proposed to Redis); when the last one succeeds it becomes
-- 'pending', ready now, in the same transaction as that parent's outcome. When a parent ends
-- 'dead' or 'cancelled' (or is deleted unfinished), its blocked dependents end 'cancelled', and
-- so do theirs. See docs/architecture.md "Dependencies".

ALTER TABLE quorra_jobs DROP CONSTRAINT quorra_jobs_status_check;
ALTER TABLE quorra_jobs ADD CONSTRAINT quorra_jobs_status_check
    CHECK (status IN ('pending', 'blocked', 'leased', 'succeeded', 'dead', 'cancelled'));

-- depends_on: the parents as enqueued (shown as given, even once a parent is purged).
-- blockers: how many parents have not succeeded yet (a blocked job has some); each
-- parent's success takes one off under the child's row lock, so parents finishing together
-- on different connections never both miss the last step.
-- has_dependents: some job depends on this one; the triggers below fire only for such rows,
-- so a plain job's ack pays nothing. NULL-able and defaulted: adding them rewrites no row.
ALTER TABLE quorra_jobs ADD COLUMN depends_on uuid[];
ALTER TABLE quorra_jobs ADD COLUMN blockers integer NOT NULL DEFAULT 0;
ALTER TABLE quorra_jobs ADD COLUMN has_dependents boolean NOT NULL DEFAULT false;
ALTER TABLE quorra_jobs ADD CONSTRAINT quorra_jobs_blocked_has_blockers
    CHECK (status <> 'blocked' OR blockers > 0) NOT VALID;

-- The edges, one row per (child, parent): the parents' side of depends_on, to find a job's
-- dependents. Rows go with their child (and with their parent, when it is deleted).
CREATE TABLE quorra_job_deps (
    job_id    uuid NOT NULL,
    parent_id uuid NOT NULL,
    PRIMARY KEY (job_id, parent_id)
);
CREATE INDEX quorra_job_deps_parent ON quorra_job_deps (parent_id, job_id);

-- Blocked jobs counted per queue (GET /v1/queues, the gauges) in O(blocked).
CREATE INDEX quorra_jobs_blocked ON quorra_jobs (queue) WHERE status = 'blocked';

-- Parents finished by one statement (ack batches, nack, reaper, cancels, stream mode's own
-- settle statements: every path is an UPDATE of quorra_jobs): each succeeded parent takes one
-- blocker off each blocked dependent (pending at zero, ready now); a parent that ended dead or
-- cancelled cancels every blocked descendant reachable through blocked jobs, with a reason
-- naming its own parent. A row trigger whose WHEN holds only for a job with dependents that
-- just finished, so a plain job's ack pays nothing; but its first firing in a statement does
-- the work of the whole statement, from the transition tables, so that all the children are
-- locked in one pass in id order (each row doing its own children deadlocked two ack batches
-- finishing parents of common children in different orders: measured on a 1,000-job fan-in);
-- the later firings of the same statement find it done (a key per statement, kept for the
-- transaction: the client statement's start time, which no two statements of a transaction
-- share, and the trigger depth). The cascade's own UPDATE fires it again one level down
-- (another key) and finds nothing left blocked.
CREATE FUNCTION quorra_parents_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stmt text := statement_timestamp()::text || '/' || pg_trigger_depth()::text;
    seen text := coalesce(current_setting('quorra.parents_done', true), '');
BEGIN
    IF position(stmt IN seen) > 0 THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('quorra.parents_done', seen || ' ' || stmt, true);
    WITH done AS (
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.has_dependents AND n.status = 'succeeded' AND o.finished_at IS NULL
    ), hits AS (
        SELECT d.job_id AS id, count(*) AS n
        FROM done JOIN quorra_job_deps d ON d.parent_id = done.id GROUP BY d.job_id
    ), kids AS MATERIALIZED (
        SELECT j.id, h.n FROM quorra_jobs j JOIN hits h ON h.id = j.id
        WHERE j.status = 'blocked'
        ORDER BY j.id
        FOR UPDATE OF j
    )
    UPDATE quorra_jobs j
    SET blockers = GREATEST(j.blockers - k.n, 0),
        status = CASE WHEN j.blockers <= k.n THEN 'pending' ELSE 'blocked' END,
        run_at = CASE WHEN j.blockers <= k.n THEN GREATEST(j.run_at, now()) ELSE j.run_at END,
        updated_at = now()
    FROM kids k
    WHERE j.id = k.id AND j.status = 'blocked';
    WITH RECURSIVE failed AS (
        SELECT n.id, n.status FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.has_dependents AND n.status IN ('dead', 'cancelled') AND o.finished_at IS NULL
    ), down(id, parent, reason) AS (
        SELECT d.job_id, f.id,
               CASE WHEN f.status = 'cancelled' THEN 'was cancelled' ELSE 'ended dead' END
        FROM failed f JOIN quorra_job_deps d ON d.parent_id = f.id
        UNION
        SELECT d.job_id, down.id, 'was cancelled'
        FROM down JOIN quorra_job_deps d ON d.parent_id = down.id
        JOIN quorra_jobs c ON c.id = down.id AND c.status = 'blocked'
    ), doomed AS MATERIALIZED (
        SELECT DISTINCT ON (j.id) j.id, down.parent, down.reason
        FROM down JOIN quorra_jobs j ON j.id = down.id AND j.status = 'blocked'
        ORDER BY j.id, down.reason = 'was cancelled', down.parent
    ), locked AS MATERIALIZED (
        SELECT j.id FROM quorra_jobs j JOIN doomed USING (id) ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE quorra_jobs j
    SET status = 'cancelled', blockers = 0, finished_at = now(), updated_at = now(),
        dispatch_seq = j.dispatch_seq + 1,
        last_error = 'dependency ' || doomed.parent || ' ' || doomed.reason
    FROM doomed JOIN locked USING (id)
    WHERE j.id = doomed.id AND j.status = 'blocked';
    RETURN NULL;
END $$;

-- A parent deleted unfinished (an operator's delete): its blocked descendants are cancelled as
-- if it had been. Row-level, armed only for such rows: retention and plain deletes pay nothing.
CREATE FUNCTION quorra_parent_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH RECURSIVE down(id, parent, reason) AS (
        SELECT d.job_id, OLD.id, 'was deleted' FROM quorra_job_deps d WHERE d.parent_id = OLD.id
        UNION
        SELECT d.job_id, down.id, 'was cancelled'
        FROM down JOIN quorra_job_deps d ON d.parent_id = down.id
        JOIN quorra_jobs c ON c.id = down.id AND c.status = 'blocked'
    ), doomed AS MATERIALIZED (
        SELECT DISTINCT ON (j.id) j.id, down.parent, down.reason
        FROM down JOIN quorra_jobs j ON j.id = down.id AND j.status = 'blocked'
        ORDER BY j.id, down.reason = 'was cancelled', down.parent
    ), locked AS MATERIALIZED (
        SELECT j.id FROM quorra_jobs j JOIN doomed USING (id) ORDER BY j.id FOR UPDATE OF j
    )
    UPDATE quorra_jobs j
    SET status = 'cancelled', blockers = 0, finished_at = now(), updated_at = now(),
        dispatch_seq = j.dispatch_seq + 1,
        last_error = 'dependency ' || doomed.parent || ' ' || doomed.reason
    FROM doomed JOIN locked USING (id)
    WHERE j.id = doomed.id AND j.status = 'blocked';
    RETURN NULL;
END $$;

-- A job's edges go with it (retention, operator delete); a parent's edges too.
CREATE FUNCTION quorra_forget_deps() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.depends_on IS NOT NULL THEN
        DELETE FROM quorra_job_deps WHERE job_id = OLD.id;
    END IF;
    IF OLD.has_dependents THEN
        DELETE FROM quorra_job_deps WHERE parent_id = OLD.id;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION quorra_job_deps_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM quorra_job_deps;
    RETURN NULL;
END $$;

-- Row triggers whose WHEN is false for every job nothing depends on (the delete ones named so
-- that the cascade runs before the edges go).
CREATE TRIGGER quorra_jobs_parents_finished AFTER UPDATE ON quorra_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH ROW WHEN (OLD.has_dependents AND OLD.finished_at IS NULL
                       AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION quorra_parents_finished();
CREATE TRIGGER quorra_jobs_a_parent_deleted AFTER DELETE ON quorra_jobs
    FOR EACH ROW WHEN (OLD.has_dependents AND OLD.finished_at IS NULL)
    EXECUTE FUNCTION quorra_parent_deleted();
CREATE TRIGGER quorra_jobs_b_deps_deleted AFTER DELETE ON quorra_jobs
    FOR EACH ROW WHEN (OLD.depends_on IS NOT NULL OR OLD.has_dependents)
    EXECUTE FUNCTION quorra_forget_deps();
CREATE TRIGGER quorra_jobs_deps_truncate AFTER TRUNCATE ON quorra_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION quorra_job_deps_truncated();
