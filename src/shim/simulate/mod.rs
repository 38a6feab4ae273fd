//! An in-process simulated cluster: it writes its nodes and daemon pods into a [`Mirror`] as the kube-rs
//! watchers would and applies the service's pod actions as the API server, scheduler, kubelet and garbage
//! collector together would, with start delays and injected failures (unpullable images, crash loops, nodes
//! leaving and joining, nodes going NotReady).
//!
//! ```text
//! let sim = Arc::new(SimCluster::start(SimConfig::fleet_like("dev", 50), mirror.clone()));
//! // hand `sim` to the session as its Applier
//! ```

mod apply;
mod clock;
mod config;
mod disturb;
mod fleet;
mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

pub use config::{
    ARCH_LABEL, CONDITION_READY, CONTROL_PLANE_LABEL, HOSTNAME_LABEL, OS_LABEL, REGION_LABEL, SimConfig, SimNode,
    ZONE_LABEL, healthy_conditions,
};
pub use fleet::{GPU_LABEL, GPU_TAINT};

use super::mirror::Mirror;
use crate::pb;
use state::State;

/// What the cluster's handle, its applier and its background tasks share.
struct Shared {
    ready_after: Duration,
    image_pull_failure: Option<String>,
    crash_loop: Option<String>,
    mirror: Arc<Mirror>,
    state: Mutex<State>,
    /// Set once the cluster stops; every background task waits on it.
    stop: watch::Sender<bool>,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Each change is written whole before the lock is released, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// A running simulated cluster. Dropping it (or [`SimCluster::stop`]) ends its background tasks.
pub struct SimCluster {
    shared: Arc<Shared>,
}

impl SimCluster {
    /// Writes the configured nodes into `mirror` (which should be fresh), marks it synced and starts the
    /// background tasks. Must be called within a Tokio runtime, which then runs those tasks.
    pub fn start(mut config: SimConfig, mirror: Arc<Mirror>) -> SimCluster {
        let nodes = std::mem::take(&mut config.nodes);
        let shared = Arc::new(Shared {
            ready_after: config.ready_after,
            image_pull_failure: config.image_pull_failure,
            crash_loop: config.crash_loop,
            mirror,
            state: Mutex::new(State::new(config.seed)),
            stop: watch::channel(false).0,
            runtime: tokio::runtime::Handle::current(),
        });
        {
            let mut state = shared.lock();
            for node in nodes {
                state.put_node(&shared.mirror, node);
            }
        }
        shared.mirror.mark_synced();
        shared.spawn_disturbances(config.node_churn, config.not_ready_flap);
        SimCluster { shared }
    }

    /// Ends the background tasks: pods stop progressing, nodes stop churning, and later actions fail.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// The mirror the cluster writes into.
    pub fn mirror(&self) -> &Arc<Mirror> {
        &self.shared.mirror
    }

    /// Names of the current nodes, sorted.
    pub fn node_names(&self) -> Vec<String> {
        self.shared.lock().nodes().map(|n| n.name.clone()).collect()
    }

    /// A current node.
    pub fn node(&self, name: &str) -> Option<SimNode> {
        self.shared.lock().node(name).cloned()
    }

    /// How many pods exist, terminating ones included.
    pub fn pod_count(&self) -> usize {
        self.shared.lock().pods().count()
    }

    /// Every pod, terminating ones and ones the shim does not watch included, by namespace and name.
    pub fn pods(&self) -> Vec<pb::Pod> {
        self.shared.lock().pods().map(|p| p.pod.clone()).collect()
    }

    /// Adds a node, or replaces the node of that name (its pods stay). Pods pinned to a new node that waited for
    /// it are bound to it and start.
    pub fn add_node(&self, node: SimNode) {
        let bound = self.shared.lock().put_node(&self.shared.mirror, node);
        for (key, uid) in bound {
            self.shared.start_later(key, uid);
        }
    }

    /// Removes a node and the pods bound to it. Returns whether it existed.
    pub fn remove_node(&self, name: &str) -> bool {
        self.shared.lock().remove_node(&self.shared.mirror, name).is_some()
    }

    /// Changes a node through `f` (its name stays). Returns whether the node exists.
    pub fn update_node(&self, name: &str, f: impl FnOnce(&mut SimNode)) -> bool {
        self.shared.lock().update_node(&self.shared.mirror, name, f)
    }

    /// Replaces a node's labels. Returns whether the node exists.
    pub fn set_node_labels(&self, name: &str, labels: BTreeMap<String, String>) -> bool {
        self.update_node(name, |n| n.labels = labels)
    }

    /// Replaces a node's taints. Returns whether the node exists.
    pub fn set_node_taints(&self, name: &str, taints: Vec<pb::Taint>) -> bool {
        self.update_node(name, |n| n.taints = taints)
    }

    /// Makes a node Ready or NotReady (condition and `not-ready` taints); its running pods follow. Returns
    /// whether the node exists.
    pub fn set_node_ready(&self, name: &str, ready: bool) -> bool {
        self.update_node(name, |n| n.set_ready(ready))
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
