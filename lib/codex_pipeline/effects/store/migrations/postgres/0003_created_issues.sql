-- Issues the pipeline opened itself (Discord /plan), keyed by what asked for them, so a retry of
-- the same request finds the issue instead of opening a second one.
CREATE TABLE IF NOT EXISTS codex_kb.created_issues (
    key TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    issue_number BIGINT NOT NULL,
    issue_url TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
