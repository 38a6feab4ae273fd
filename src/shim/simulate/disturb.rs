//! Injected node trouble: churn (a worker leaves, later a new one joins) and flapping (a node goes NotReady
//! until the next tick, as when its kubelet stops posting status).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::Shared;
use super::config::{HOSTNAME_LABEL, SimNode};

/// The name of the `n`th joining node, shaped after `departed`: `<base>-j<n>`, where the base drops an
/// earlier `-j<k>`, so names do not grow with every round.
fn joined_name(departed: &str, n: u64) -> String {
    let base = match departed.rsplit_once("-j") {
        Some((base, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => departed,
    };
    format!("{base}-j{n}")
}

impl Shared {
    /// Starts the configured disturbances; a zero period counts as off.
    pub(super) fn spawn_disturbances(self: &Arc<Self>, churn: Option<Duration>, flap: Option<Duration>) {
        if let Some(period) = churn.filter(|p| !p.is_zero()) {
            self.every(period, |s, tick| if tick % 2 == 0 { s.node_leaves() } else { s.node_joins() });
        }
        if let Some(period) = flap.filter(|p| !p.is_zero()) {
            self.every(period, |s, _| s.flap());
        }
    }

    /// A random worker (not control-plane) node leaves, and its pods with it.
    fn node_leaves(&self) {
        let mut state = self.lock();
        let workers: Vec<String> = state.nodes().filter(|n| !n.is_control_plane()).map(|n| n.name.clone()).collect();
        if workers.is_empty() {
            return;
        }
        let pick = state.rng.random_range(0..workers.len());
        if let Some(node) = state.remove_node(&self.mirror, &workers[pick]) {
            state.departed = Some(node);
        }
    }

    /// A new node shaped like the last one to leave joins, healthy.
    fn node_joins(self: &Arc<Self>) {
        let mut state = self.lock();
        let Some(mut node) = state.departed.take() else { return };
        state.joined += 1;
        node.name = joined_name(&node.name, state.joined);
        if node.labels.contains_key(HOSTNAME_LABEL) {
            node.labels.insert(HOSTNAME_LABEL.into(), node.name.clone());
        }
        node.set_ready(true);
        let bound = state.put_node(&self.mirror, node);
        drop(state);
        for (key, uid) in bound {
            self.start_later(key, uid);
        }
    }

    /// The node flapped last tick recovers; another Ready node, picked at random, goes NotReady.
    fn flap(&self) {
        let mut state = self.lock();
        let recovered = state.flapped.take();
        if let Some(name) = &recovered {
            state.update_node(&self.mirror, name, |n| n.set_ready(true));
        }
        let ready: Vec<String> = state
            .nodes()
            .filter(|n| n.is_ready() && recovered.as_ref() != Some(&n.name))
            .map(|n| n.name.clone())
            .collect();
        if ready.is_empty() {
            return;
        }
        let name = ready[state.rng.random_range(0..ready.len())].clone();
        state.update_node(&self.mirror, &name, |n: &mut SimNode| n.set_ready(false));
        state.flapped = Some(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_names_do_not_grow() {
        assert_eq!(joined_name("c1-worker-007", 1), "c1-worker-007-j1");
        assert_eq!(joined_name("c1-worker-007-j1", 2), "c1-worker-007-j2");
        assert_eq!(joined_name("big-jx", 3), "big-jx-j3");
        assert_eq!(joined_name("a-j", 4), "a-j-j4");
    }
}
