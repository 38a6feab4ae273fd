-- Clusters of the fleet. The shim token is stored only as its SHA-256 hash; NULL when revoked.
CREATE TABLE clusters (
    name          TEXT PRIMARY KEY,
    labels        TEXT NOT NULL,
    token_hash    TEXT UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ,
    shim_version  TEXT NOT NULL DEFAULT '',
    node_count    INTEGER NOT NULL DEFAULT 0
);

-- DaemonSets: the manifest as applied (JSON), its generation and current revision.
CREATE TABLE daemonsets (
    uid              TEXT PRIMARY KEY,
    namespace        TEXT NOT NULL,
    name             TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    generation       BIGINT NOT NULL,
    collision_count  INTEGER,
    current_revision BIGINT NOT NULL,
    current_hash     TEXT NOT NULL,
    deleting         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (namespace, name)
);

-- Where each DaemonSet runs, and its last known status there. `removing` marks a cluster whose pods of the
-- DaemonSet are being deleted (target dropped, or Background deletion); the row goes once they are gone.
CREATE TABLE daemonset_targets (
    ds_uid               TEXT NOT NULL REFERENCES daemonsets (uid) ON DELETE CASCADE,
    cluster              TEXT NOT NULL REFERENCES clusters (name),
    removing             BOOLEAN NOT NULL DEFAULT FALSE,
    desired              INTEGER NOT NULL DEFAULT 0,
    current              INTEGER NOT NULL DEFAULT 0,
    misscheduled         INTEGER NOT NULL DEFAULT 0,
    ready                INTEGER NOT NULL DEFAULT 0,
    updated              INTEGER NOT NULL DEFAULT 0,
    available            INTEGER NOT NULL DEFAULT 0,
    unavailable          INTEGER NOT NULL DEFAULT 0,
    observed_generation  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (ds_uid, cluster)
);
CREATE INDEX daemonset_targets_cluster ON daemonset_targets (cluster);

-- Revision history (ControllerRevision semantics): one row per distinct template of a DaemonSet.
CREATE TABLE revisions (
    ds_uid        TEXT NOT NULL REFERENCES daemonsets (uid) ON DELETE CASCADE,
    hash          TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    name          TEXT NOT NULL,
    template      TEXT NOT NULL,
    change_cause  TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ds_uid, hash)
);

-- Actions committed before they are sent to a shim, removed once their effect is confirmed.
CREATE TABLE action_intents (
    id             TEXT PRIMARY KEY,
    cluster        TEXT NOT NULL REFERENCES clusters (name),
    ds_uid         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    node           TEXT NOT NULL,
    pod_namespace  TEXT NOT NULL,
    pod_name       TEXT NOT NULL,
    pod_uid        TEXT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX action_intents_cluster ON action_intents (cluster);
