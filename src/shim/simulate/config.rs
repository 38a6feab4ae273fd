//! What a simulated cluster starts with and how it misbehaves.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::daemonset_util::{TAINT_EFFECT_NO_EXECUTE, TAINT_EFFECT_NO_SCHEDULE, TAINT_NODE_NOT_READY};
use crate::pb;

/// Well-known node label with the node's name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Well-known node label with the node's operating system.
pub const OS_LABEL: &str = "kubernetes.io/os";
/// Well-known node label with the node's CPU architecture.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";
/// Well-known node label with the node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Well-known node label with the node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Label (and taint key) of control-plane nodes.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// The node condition that says whether the kubelet is healthy.
pub const CONDITION_READY: &str = "Ready";

const GIB: i64 = 1 << 30;

/// One node of the simulated cluster, in the shape the shim reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<pb::Taint>,
    pub allocatable: pb::Resources,
    /// The node's non-daemon pods, as the shim summarises them.
    pub other_pods: pb::OtherPods,
    pub conditions: Vec<pb::NodeCondition>,
}

impl SimNode {
    /// A healthy, untainted linux/amd64 node with 4 CPU, 16 GiB and 110 pod slots and no other pods.
    pub fn new(name: &str) -> SimNode {
        let labels = [(HOSTNAME_LABEL, name), (OS_LABEL, "linux"), (ARCH_LABEL, "amd64")];
        SimNode {
            name: name.to_string(),
            labels: labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            taints: Vec::new(),
            allocatable: pb::Resources { cpu_millis: 4000, memory_bytes: 16 * GIB, pods: 110 },
            other_pods: pb::OtherPods::default(),
            conditions: healthy_conditions(),
        }
    }

    /// Ready unless a Ready condition says otherwise: a node without conditions is taken as healthy, so a
    /// hand-built node does not silently keep its pods unready.
    pub fn is_ready(&self) -> bool {
        self.conditions.iter().find(|c| c.r#type == CONDITION_READY).is_none_or(|c| c.status == "True")
    }

    pub fn is_control_plane(&self) -> bool {
        self.labels.contains_key(CONTROL_PLANE_LABEL)
    }

    /// Sets the Ready condition, and the `not-ready` taints the node lifecycle controller keeps in step with
    /// it: NoSchedule (TaintNodesByCondition) and NoExecute (taint-based eviction).
    pub fn set_ready(&mut self, ready: bool) {
        let status = if ready { "True" } else { "False" };
        match self.conditions.iter_mut().find(|c| c.r#type == CONDITION_READY) {
            Some(c) => c.status = status.to_string(),
            None => self.conditions.push(pb::NodeCondition { r#type: CONDITION_READY.into(), status: status.into() }),
        }
        self.taints.retain(|t| t.key != TAINT_NODE_NOT_READY);
        if !ready {
            for effect in [TAINT_EFFECT_NO_SCHEDULE, TAINT_EFFECT_NO_EXECUTE] {
                self.taints.push(pb::Taint {
                    key: TAINT_NODE_NOT_READY.into(),
                    value: String::new(),
                    effect: effect.into(),
                });
            }
        }
    }
}

/// The conditions a healthy kubelet reports.
pub fn healthy_conditions() -> Vec<pb::NodeCondition> {
    [(CONDITION_READY, "True"), ("MemoryPressure", "False"), ("DiskPressure", "False"), ("PIDPressure", "False")]
        .into_iter()
        .map(|(t, s)| pb::NodeCondition { r#type: t.to_string(), status: s.to_string() })
        .collect()
}

/// A simulated cluster: its nodes, how fast pods start, and which failures to inject.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: Vec<SimNode>,
    /// How long a created pod stays Pending before it runs (and is Ready).
    pub ready_after: Duration,
    /// Pods with a container image containing this text never pull their image: Pending, not ready, forever.
    pub image_pull_failure: Option<String>,
    /// Pods with a container image containing this text crash-loop: Running but never Ready.
    pub crash_loop: Option<String>,
    /// Every interval one worker node leaves (its pods go with it) or a new one joins, alternating.
    /// `Some(Duration::ZERO)` counts as off.
    pub node_churn: Option<Duration>,
    /// Every interval one node goes NotReady and the one flapped before recovers. `Some(Duration::ZERO)`
    /// counts as off.
    pub not_ready_flap: Option<Duration>,
    /// Seeds every random choice (which node leaves or flaps), so a run can be repeated.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: Vec::new(),
            ready_after: Duration::from_secs(2),
            image_pull_failure: None,
            crash_loop: None,
            node_churn: None,
            not_ready_flap: None,
            seed: 0,
        }
    }
}

impl SimConfig {
    /// A cluster of the given nodes with the default behaviour.
    pub fn with_nodes(nodes: Vec<SimNode>) -> SimConfig {
        SimConfig { nodes, ..SimConfig::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_ready_condition() {
        let mut node = SimNode::new("n1");
        assert!(node.is_ready());
        node.conditions[0].status = "False".into();
        assert!(!node.is_ready());
        node.conditions.clear();
        assert!(node.is_ready());
        assert_eq!(node.labels[HOSTNAME_LABEL], "n1");
        assert!(!node.is_control_plane());
    }

    #[test]
    fn not_ready_nodes_carry_both_not_ready_taints() {
        let mut node = SimNode::new("n1");
        node.taints.push(pb::Taint { key: "other".into(), value: String::new(), effect: "NoSchedule".into() });
        node.set_ready(false);
        assert!(!node.is_ready());
        let taints: Vec<(&str, &str)> = node.taints.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(
            taints,
            [("other", "NoSchedule"), (TAINT_NODE_NOT_READY, "NoSchedule"), (TAINT_NODE_NOT_READY, "NoExecute")]
        );
        node.set_ready(false);
        assert_eq!(node.taints.len(), 3);
        node.set_ready(true);
        assert!(node.is_ready());
        assert_eq!(node.taints.len(), 1);
    }
}
