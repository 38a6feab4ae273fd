-- Nodes running each revision hash of a DaemonSet in a cluster (JSON object hash -> nodes), last known.
ALTER TABLE daemonset_targets ADD COLUMN revision_usage TEXT NOT NULL DEFAULT '{}';
