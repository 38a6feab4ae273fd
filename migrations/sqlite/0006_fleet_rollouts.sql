-- Where a DaemonSet runs, as asked: cluster names, a cluster label selector and exclusions (JSON). The rows of
-- daemonset_targets are its resolution against the registered clusters, kept current as clusters come and go.
ALTER TABLE daemonsets ADD COLUMN targeting TEXT NOT NULL DEFAULT '{}';
UPDATE daemonsets SET targeting = json_object('clusters', COALESCE(
    (SELECT json_group_array(cluster) FROM
        (SELECT t.cluster AS cluster FROM daemonset_targets t
         WHERE t.ds_uid = daemonsets.uid AND NOT t.removing ORDER BY t.cluster)),
    json('[]')));
-- How new revisions are paced across the fleet (JSON of the FleetRolloutStrategy).
ALTER TABLE daemonsets ADD COLUMN fleet_rollout TEXT NOT NULL DEFAULT '{}';

-- Per target cluster: the revision hash the cluster is rolled to ('' = the DaemonSet's current one), why it is
-- targeted, and the nodes a rollout disrupts there now.
ALTER TABLE daemonset_targets ADD COLUMN target_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE daemonset_targets ADD COLUMN targeted_because TEXT NOT NULL DEFAULT '';
ALTER TABLE daemonset_targets ADD COLUMN disrupted INTEGER NOT NULL DEFAULT 0;

-- The fleet rollout of each DaemonSet's current (or last) revision: its state as JSON, written with the target
-- hashes it switches and its events in one transaction.
CREATE TABLE fleet_rollouts (
    ds_uid      TEXT PRIMARY KEY REFERENCES daemonsets (uid) ON DELETE CASCADE,
    rollout_id  TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Every rollout decision, kept after its DaemonSet is gone (an audit trail).
CREATE TABLE rollout_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ds_uid      TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    rollout_id  TEXT NOT NULL,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    wave        INTEGER NOT NULL,
    cluster     TEXT NOT NULL,
    message     TEXT NOT NULL,
    actor       TEXT NOT NULL
);
CREATE INDEX rollout_events_daemonset ON rollout_events (namespace, name, id);
