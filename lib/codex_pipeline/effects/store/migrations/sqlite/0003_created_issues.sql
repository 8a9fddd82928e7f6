-- Issues the pipeline opened itself (see the PostgreSQL migration of the same number).
CREATE TABLE IF NOT EXISTS created_issues (
    key TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    issue_number INTEGER NOT NULL,
    issue_url TEXT NOT NULL,
    created_at TEXT NOT NULL
);
