-- The active run of each (repository, issue, stage) (see the PostgreSQL migration of the same number).
CREATE TABLE IF NOT EXISTS active_runs (
    repository TEXT NOT NULL,
    issue_number INTEGER NOT NULL,
    stage TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repository, issue_number, stage)
);
