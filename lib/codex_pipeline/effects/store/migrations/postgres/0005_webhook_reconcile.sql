-- What `codex-pipeline reconcile` keeps per webhook: how far back the next run must look
-- (cursor), and every redelivery it asked GitHub for, so no delivery is redelivered twice.
CREATE TABLE IF NOT EXISTS codex_kb.reconcile_cursors (
    hook TEXT PRIMARY KEY,
    cursor_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS codex_kb.redeliveries (
    hook TEXT NOT NULL,
    delivery_id BIGINT NOT NULL,
    guid TEXT NOT NULL,
    event TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hook, delivery_id)
);
CREATE INDEX IF NOT EXISTS redeliveries_guid ON codex_kb.redeliveries (hook, guid);
