-- once_markers become claims with a lease: a claim whose holder died before doing the effect
-- expires, so a later delivery does it instead of it never happening. Rows from 0001 were
-- written when the effect was taken for done.
ALTER TABLE codex_kb.once_markers ADD COLUMN owner TEXT;
ALTER TABLE codex_kb.once_markers ADD COLUMN done_at TIMESTAMPTZ;
UPDATE codex_kb.once_markers SET done_at = marked_at WHERE done_at IS NULL;
