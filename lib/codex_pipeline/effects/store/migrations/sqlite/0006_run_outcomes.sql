-- What became of a submitted Workflow (see the PostgreSQL migration of the same number).
CREATE TABLE IF NOT EXISTS run_outcomes (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX IF NOT EXISTS workflow_runs_issue ON workflow_runs (lower(repository), issue_number);
