-- Time limits: a job may carry a timeout (seconds, NULL: none). Each attempt's deadline is
-- leased_at + timeout_seconds: a lease is never granted or extended past it, and a lease that
-- expires at it is a failed attempt with last_error 'timed out'.
ALTER TABLE quorra_jobs ADD COLUMN timeout_seconds float8
    CHECK (timeout_seconds IS NULL OR (timeout_seconds > 0 AND timeout_seconds <= 604800));
