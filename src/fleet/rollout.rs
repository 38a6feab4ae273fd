//! Rollout control and status: pause and resume, and where each cluster's rollout stands.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;

use super::daemonsets::{Change, DaemonSetView};
use super::{Fleet, FleetError};
use crate::apiserver::defaults::set_defaults;
use crate::apiserver::rollout_settings::parse_partition;
use crate::engine::rolling_update::partition_count;
use crate::engine::status::{RolloutFacts, RolloutPhase, StatusCounts, rollout_phase};

/// One cluster's rollout.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRollout {
    pub cluster: String,
    pub connected: bool,
    pub status: StatusCounts,
    pub phase: RolloutPhase,
    pub reason: String,
}

/// A DaemonSet's rollout over its target clusters.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub target_revision: i64,
    pub target_hash: String,
    pub phase: RolloutPhase,
    pub reason: String,
    pub done: bool,
    pub clusters: Vec<ClusterRollout>,
}

/// Nodes a partition setting keeps back, of `desired`, counted as the planner counts them.
pub fn partition_nodes(partition: &str, desired: i32) -> i32 {
    match parse_partition(partition) {
        Ok(Some(p)) => partition_count(&p, desired).unwrap_or(0),
        _ => 0,
    }
}

impl Fleet {
    /// Sets or clears the rollout's pause.
    pub async fn set_paused(
        &self,
        namespace: &str,
        name: &str,
        paused: bool,
        by: &str,
    ) -> Result<DaemonSetView, FleetError> {
        let view = self.get_daemon_set(namespace, name).await?;
        let record = view.record;
        let mut settings = record.rollout.clone();
        settings.paused = paused;
        let targets = record.active_targets();
        let what = if paused { "PauseRollout" } else { "ResumeRollout" };
        let (view, _) =
            self.apply_daemon_set(&record.manifest, &targets, Some(settings), &Change::new(what, by)).await?;
        Ok(view)
    }

    /// Where the rollout stands in each target cluster.
    pub async fn rollout_status(&self, namespace: &str, name: &str) -> Result<Rollout, FleetError> {
        let view = self.get_daemon_set(namespace, name).await?;
        let r = &view.record;
        let mut ds: DaemonSet = serde_json::from_str(&r.manifest)
            .map_err(|e| FleetError::Corrupt(format!("stored manifest of {}/{}: {e}", r.namespace, r.name)))?;
        set_defaults(&mut ds);
        let on_delete = ds.spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("OnDelete");
        let clusters: Vec<ClusterRollout> = view
            .targets
            .iter()
            .filter(|t| !t.target.removing)
            .map(|t| {
                let status = t.target.status;
                let (phase, reason) = rollout_phase(&RolloutFacts {
                    generation: r.generation,
                    status: &status,
                    connected: t.connected,
                    on_delete,
                    paused: r.rollout.paused,
                    partition: partition_nodes(&r.rollout.partition, status.desired_number_scheduled),
                    canary: !r.rollout.node_selector.is_empty(),
                });
                ClusterRollout { cluster: t.target.cluster.clone(), connected: t.connected, status, phase, reason }
            })
            .collect();
        let least = clusters.iter().min_by_key(|c| c.phase);
        let (phase, reason) = match least {
            None => (RolloutPhase::Complete, "no target clusters".to_string()),
            Some(c) if c.phase == RolloutPhase::Complete => {
                (RolloutPhase::Complete, format!("complete in all {} clusters", clusters.len()))
            }
            Some(c) => (c.phase, format!("cluster {}: {}", c.cluster, c.reason)),
        };
        Ok(Rollout {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            generation: r.generation,
            target_revision: r.current_revision,
            target_hash: r.current_hash.clone(),
            done: phase == RolloutPhase::Complete,
            phase,
            reason,
            clusters,
        })
    }

    /// Waits until a status may have changed (a cluster stored a status, or a DaemonSet changed), or `max`.
    pub async fn status_changed(&self, max: Duration) {
        let mut rx = self.inner.status_epoch.subscribe();
        rx.borrow_and_update();
        let _ = tokio::time::timeout(max, rx.changed()).await;
    }

    pub(crate) fn notify_status(&self) {
        self.inner.status_epoch.send_modify(|epoch| *epoch = epoch.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_counts() {
        assert_eq!(super::partition_nodes("", 10), 0);
        assert_eq!(super::partition_nodes("3", 10), 3);
        assert_eq!(super::partition_nodes("25%", 10), 2, "percent rounds down");
        assert_eq!(super::partition_nodes("100%", 10), 10);
    }
}
