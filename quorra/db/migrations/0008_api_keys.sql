-- Scoped API keys. The key itself is never stored: key_hash is SHA-256 of the whole key
-- ("qk_<id>_<secret>"). queues holds fnmatch-style patterns (empty: every queue). A revoked key
-- keeps its row (revoked_at set) so listings show when it ended.
CREATE TABLE quorra_api_keys (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{8}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role        text NOT NULL CHECK (role IN ('producer', 'worker', 'operator', 'admin')),
    queues      text[] NOT NULL DEFAULT '{}',
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
