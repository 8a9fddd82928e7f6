-- once_markers become claims with a lease (see the PostgreSQL migration of the same number).
ALTER TABLE once_markers ADD COLUMN owner TEXT;
ALTER TABLE once_markers ADD COLUMN done_at TEXT;
UPDATE once_markers SET done_at = marked_at WHERE done_at IS NULL;
