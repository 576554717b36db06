-- The wait after a job's n-th failed attempt, the one definition every driver's statements use
-- (a nack, an expired lease, a stream lease's failure or expiry): min(2^n, 3600) seconds, the
-- exponent capped at 12 (README "Guarantees", Retries; docs/architecture.md "Job states").
-- IMMUTABLE SQL: the planner inlines it, so it costs what the expression it replaces did.
CREATE FUNCTION quorra_backoff(failed_attempts integer) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT make_interval(secs => LEAST(power(2, LEAST(GREATEST(failed_attempts, 0), 12)),
                                        3600)) $$;
