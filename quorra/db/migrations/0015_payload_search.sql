-- Job search by payload (GET /v1/jobs?payload={...}): containment (payload @> $1) answered by a
-- GIN index. jsonb_path_ops: smaller and faster for @> than the default operator class (which
-- also serves key-existence operators that nothing here uses).
CREATE INDEX quorra_jobs_payload ON quorra_jobs USING gin (payload jsonb_path_ops);
