-- daemonplane's rollout settings beyond apps/v1 (partition, paused, node selector, strict budget), as JSON.
ALTER TABLE daemonsets ADD COLUMN rollout TEXT NOT NULL DEFAULT '{}';
