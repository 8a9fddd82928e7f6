-- The SQLite twin of postgres/0001_initial.sql (same tables, same uniqueness).
-- Times are ISO 8601 UTC text; payload_json is the task's JSON text.
CREATE TABLE task_intake (
    id           INTEGER PRIMARY KEY,
    stage        TEXT    NOT NULL,
    delivery_id  TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    issue_number INTEGER NOT NULL,
    payload      BLOB    NOT NULL,
    payload_json TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    CONSTRAINT task_intake_stage_delivery UNIQUE (stage, delivery_id)
);

CREATE TABLE workflow_runs (
    id           INTEGER PRIMARY KEY,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    template     TEXT    NOT NULL,
    stage        TEXT    NOT NULL,
    repository   TEXT    NOT NULL,
    issue_number INTEGER NOT NULL,
    delivery_id  TEXT    NOT NULL,
    submitted_at TEXT    NOT NULL,
    recorded_at  TEXT    NOT NULL,
    CONSTRAINT workflow_runs_namespace_name UNIQUE (namespace, name)
);
CREATE INDEX workflow_runs_stage_delivery ON workflow_runs (stage, delivery_id);

CREATE TABLE once_markers (
    key       TEXT PRIMARY KEY,
    marked_at TEXT NOT NULL
);
