-- Scoped API keys (quorra_api_keys). Every change tells the replicas on channel quorra_keys.

-- name: create
WITH made AS (
    INSERT INTO quorra_api_keys (id, name, role, queues, key_hash, created_at, tenant)
    VALUES (%(id)s, %(name)s, %(role)s, %(queues)s, %(key_hash)s, %(created_at)s, %(tenant)s)
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT id, pg_notify('quorra_keys', id) FROM made;

-- name: list
SELECT id, name, role, queues, created_at, revoked_at, tenant
FROM quorra_api_keys ORDER BY created_at, id LIMIT %(limit)s;

-- name: active
-- What every replica keeps in memory (digests, never keys).
SELECT id, name, role, queues, created_at, revoked_at, tenant, key_hash
FROM quorra_api_keys WHERE revoked_at IS NULL;

-- name: revoke
WITH gone AS (
    UPDATE quorra_api_keys SET revoked_at = coalesce(revoked_at, now())
    WHERE id = %(id)s
    RETURNING id, name, role, queues, created_at, revoked_at, tenant
)
SELECT id, name, role, queues, created_at, revoked_at, tenant, pg_notify('quorra_keys', id)
FROM gone;
