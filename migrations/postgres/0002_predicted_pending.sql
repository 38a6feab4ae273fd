-- Nodes where the daemon pod is predicted to stay Pending (fit prediction), per DaemonSet and cluster.
ALTER TABLE daemonset_targets ADD COLUMN predicted_pending INTEGER NOT NULL DEFAULT 0;
