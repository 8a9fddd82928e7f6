-- What `codex-pipeline reconcile` keeps (see the PostgreSQL migration of the same number).
CREATE TABLE IF NOT EXISTS reconcile_cursors (
    hook TEXT PRIMARY KEY,
    cursor_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS redeliveries (
    hook TEXT NOT NULL,
    delivery_id INTEGER NOT NULL,
    guid TEXT NOT NULL,
    event TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    requested_at TEXT NOT NULL,
    PRIMARY KEY (hook, delivery_id)
);
CREATE INDEX IF NOT EXISTS redeliveries_guid ON redeliveries (hook, guid);
