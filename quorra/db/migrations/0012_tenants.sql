-- Tenants: an API key may belong to one (NULL: none; such a key sees every tenant's queues).
-- A tenant's queues are stored as "<tenant>~<queue>" (quorra/core/tenancy.py): no job column
-- changes, and the existing keys keep working as they were (no tenant).
ALTER TABLE quorra_api_keys
    ADD COLUMN tenant text CHECK (tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
