-- Queue limits, kept with the pause flag in quorra_queues and enforced at lease time in every
-- dispatch mode: at most max_concurrency jobs of the queue leased at once, and at most
-- rate_limit leases per rate_period seconds (a fixed window starting at window_start, of which
-- window_count leases are spent). NULL: no such limit. A limited queue's leases take its row
-- lock, so replicas leasing at once never exceed a limit together.
ALTER TABLE quorra_queues
    ADD COLUMN max_concurrency integer CHECK (max_concurrency BETWEEN 1 AND 1000000),
    ADD COLUMN rate_limit      integer CHECK (rate_limit BETWEEN 1 AND 1000000),
    ADD COLUMN rate_period     float8  CHECK (rate_period > 0 AND rate_period <= 86400),
    ADD COLUMN window_start    timestamptz,
    ADD COLUMN window_count    integer NOT NULL DEFAULT 0 CHECK (window_count >= 0),
    ADD CONSTRAINT quorra_queues_rate_whole CHECK ((rate_limit IS NULL) = (rate_period IS NULL));
