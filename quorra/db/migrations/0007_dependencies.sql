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

-- A parent finished: one fewer blocker for each blocked dependent (pending at zero, ready now),
-- or, for a parent that ended dead or cancelled, every blocked descendant reachable through
-- blocked jobs is cancelled with a reason naming its own parent. The cancelled descendants'
-- own trigger then finds nothing blocked below them (one level of nesting, however deep the
-- graph). Children are locked in id order: two parents finishing together never deadlock on
-- their common children.
CREATE FUNCTION quorra_parent_finished() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    why text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = 'succeeded' THEN
        WITH kids AS MATERIALIZED (
            SELECT j.id FROM quorra_job_deps d JOIN quorra_jobs j ON j.id = d.job_id
            WHERE d.parent_id = NEW.id AND j.status = 'blocked'
            ORDER BY j.id
            FOR UPDATE OF j
        )
        UPDATE quorra_jobs j
        SET blockers = j.blockers - 1,
            status = CASE WHEN j.blockers = 1 THEN 'pending' ELSE 'blocked' END,
            run_at = CASE WHEN j.blockers = 1 THEN GREATEST(j.run_at, now()) ELSE j.run_at END,
            updated_at = now()
        FROM kids k WHERE j.id = k.id;
        RETURN NULL;
    END IF;
    why := CASE WHEN TG_OP = 'DELETE' THEN 'was deleted'
                WHEN NEW.status = 'cancelled' THEN 'was cancelled'
                ELSE 'ended ' || NEW.status END;
    WITH RECURSIVE down(id, parent, reason) AS (
        SELECT d.job_id, OLD.id, why FROM quorra_job_deps d WHERE d.parent_id = OLD.id
        UNION
        SELECT d.job_id, down.id, 'was cancelled'
        FROM down JOIN quorra_job_deps d ON d.parent_id = down.id
        JOIN quorra_jobs c ON c.id = down.id AND c.status = 'blocked'
    ), doomed AS MATERIALIZED (
        SELECT DISTINCT ON (j.id) j.id, down.parent, down.reason
        FROM down JOIN quorra_jobs j ON j.id = down.id AND j.status = 'blocked'
        ORDER BY j.id, down.parent = OLD.id DESC
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

-- Row triggers whose WHEN is false for every job nothing depends on: no cost to plain jobs.
CREATE TRIGGER quorra_jobs_parent_finished AFTER UPDATE OF status ON quorra_jobs
    FOR EACH ROW WHEN (OLD.has_dependents AND OLD.finished_at IS NULL
                       AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION quorra_parent_finished();
-- A parent deleted unfinished: as if cancelled (named first: runs before the edges go).
CREATE TRIGGER quorra_jobs_a_parent_deleted AFTER DELETE ON quorra_jobs
    FOR EACH ROW WHEN (OLD.has_dependents AND OLD.finished_at IS NULL)
    EXECUTE FUNCTION quorra_parent_finished();
CREATE TRIGGER quorra_jobs_b_deps_deleted AFTER DELETE ON quorra_jobs
    FOR EACH ROW WHEN (OLD.depends_on IS NOT NULL OR OLD.has_dependents)
    EXECUTE FUNCTION quorra_forget_deps();
CREATE TRIGGER quorra_jobs_deps_truncate AFTER TRUNCATE ON quorra_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION quorra_job_deps_truncated();
