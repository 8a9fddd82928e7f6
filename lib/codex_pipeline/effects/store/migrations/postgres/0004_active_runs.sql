-- The active run of each (repository, issue, stage): a newer implementation or review run of the
-- same issue supersedes (stops) the one recorded here; planning keeps its first run until replan.
-- repository is stored lower-cased (GitHub names compare case-insensitively).
CREATE TABLE IF NOT EXISTS codex_kb.active_runs (
    repository TEXT NOT NULL,
    issue_number BIGINT NOT NULL,
    stage TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, issue_number, stage)
);
