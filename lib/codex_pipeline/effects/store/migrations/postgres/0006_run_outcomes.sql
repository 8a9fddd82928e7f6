-- What became of a submitted Workflow, once it is known: succeeded, failed or cancelled, and why
-- ("cancelled by alice", "superseded by <workflow>", Argo's message). The pipeline records a stop
-- it makes itself at once (it knows who and why); other outcomes are read from the Workflow's
-- status when a retry asks, and kept, so they outlive the Workflow's TTL. First recorded wins.
CREATE TABLE IF NOT EXISTS codex_kb.run_outcomes (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, name)
);
-- The runs of one issue (retry looks for the last one that failed or was cancelled).
CREATE INDEX IF NOT EXISTS workflow_runs_issue ON codex_kb.workflow_runs (lower(repository), issue_number);
