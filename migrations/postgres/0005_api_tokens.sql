-- API tokens of platform callers, stored only as SHA-256 hashes. A revoked token keeps its row (revoked_at set)
-- so that its name stays taken and the changes recorded under it stay attributable.
CREATE TABLE api_tokens (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    namespaces  TEXT NOT NULL DEFAULT '[]',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    created_by  TEXT NOT NULL DEFAULT '',
    revoked_at  TIMESTAMPTZ
);

-- A rotated shim token stays valid until previous_token_expires_at, so a shim's Secret can follow without a gap.
ALTER TABLE clusters ADD COLUMN previous_token_hash TEXT;
ALTER TABLE clusters ADD COLUMN previous_token_expires_at TIMESTAMPTZ;

-- Who created a DaemonSet and who changed it last ("token:<name>" or a platform certificate's SPIFFE ID).
ALTER TABLE daemonsets ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE daemonsets ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';

-- Who made the change that created (or last reused) a revision.
ALTER TABLE revisions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
