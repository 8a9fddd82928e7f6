-- codex_kb: what the effect functions received and what they submitted.
-- task_intake: one row per (stage, delivery); keeps the task as protobuf bytes and as JSON.
CREATE TABLE codex_kb.task_intake (
    id           BIGSERIAL PRIMARY KEY,
    stage        TEXT        NOT NULL,
    delivery_id  TEXT        NOT NULL,
    repository   TEXT        NOT NULL,
    issue_number BIGINT      NOT NULL,
    payload      BYTEA       NOT NULL,
    payload_json JSONB       NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT task_intake_stage_delivery UNIQUE (stage, delivery_id)
);

-- workflow_runs: one row per submitted Workflow (its name is deterministic per delivery).
CREATE TABLE codex_kb.workflow_runs (
    id           BIGSERIAL PRIMARY KEY,
    namespace    TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    template     TEXT        NOT NULL,
    stage        TEXT        NOT NULL,
    repository   TEXT        NOT NULL,
    issue_number BIGINT      NOT NULL,
    delivery_id  TEXT        NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT workflow_runs_namespace_name UNIQUE (namespace, name)
);
CREATE INDEX workflow_runs_stage_delivery ON codex_kb.workflow_runs (stage, delivery_id);

-- once_markers: effects that must happen at most once (e.g. the ready-to-merge handoff).
CREATE TABLE codex_kb.once_markers (
    key       TEXT PRIMARY KEY,
    marked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
