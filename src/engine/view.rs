//! One cluster's view: its nodes and daemon pods, changed only by the shim's snapshot and deltas. Stale and
//! repeated events are absorbed here, so applying the same event twice changes nothing.

use std::collections::BTreeMap;

use super::model::{Node, Pod};

/// The nodes and daemon pods of one cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterView {
    pub nodes: BTreeMap<String, Node>,
    /// Daemon pods by uid.
    pub pods: BTreeMap<String, Pod>,
}

/// Whether an event changed the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// Same or older resourceVersion than what the view holds: ignored.
    Stale,
}

/// True when `incoming` is older than `held`. resourceVersions are opaque to clients in general, but the
/// API server's are etcd revisions; when both parse as integers an older one is a late event.
fn is_older(incoming: &str, held: &str) -> bool {
    match (incoming.parse::<u64>(), held.parse::<u64>()) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}

impl ClusterView {
    /// Replaces the whole view (a completed snapshot).
    pub fn replace(&mut self, nodes: Vec<Node>, pods: Vec<Pod>) {
        self.nodes = nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
        self.pods = pods.into_iter().map(|p| (p.uid.clone(), p)).collect();
    }

    pub fn upsert_node(&mut self, node: Node) -> Applied {
        match self.nodes.get(&node.name) {
            Some(held) if *held == node || is_older(&node.resource_version, &held.resource_version) => Applied::Stale,
            _ => {
                self.nodes.insert(node.name.clone(), node);
                Applied::Changed
            }
        }
    }

    pub fn delete_node(&mut self, name: &str, resource_version: &str) -> Applied {
        match self.nodes.get(name) {
            Some(held) if !is_older(resource_version, &held.resource_version) => {
                self.nodes.remove(name);
                Applied::Changed
            }
            _ => Applied::Stale,
        }
    }

    pub fn upsert_pod(&mut self, pod: Pod) -> Applied {
        match self.pods.get(&pod.uid) {
            Some(held) if *held == pod || is_older(&pod.resource_version, &held.resource_version) => Applied::Stale,
            _ => {
                self.pods.insert(pod.uid.clone(), pod);
                Applied::Changed
            }
        }
    }

    pub fn delete_pod(&mut self, uid: &str, resource_version: &str) -> Applied {
        match self.pods.get(uid) {
            Some(held) if !is_older(resource_version, &held.resource_version) => {
                self.pods.remove(uid);
                Applied::Changed
            }
            _ => Applied::Stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, rv: &str, zone: &str) -> Node {
        Node {
            name: name.into(),
            resource_version: rv.into(),
            labels: [("zone".to_string(), zone.to_string())].into(),
            ..Node::default()
        }
    }

    #[test]
    fn late_and_repeated_events_are_ignored() {
        let mut view = ClusterView::default();
        assert_eq!(view.upsert_node(node("n1", "5", "a")), Applied::Changed);
        assert_eq!(view.upsert_node(node("n1", "5", "a")), Applied::Stale, "same event twice");
        assert_eq!(view.upsert_node(node("n1", "4", "b")), Applied::Stale, "older event");
        assert_eq!(view.nodes["n1"].labels["zone"], "a");
        assert_eq!(view.delete_node("n1", "3"), Applied::Stale, "delete of an older incarnation");
        assert_eq!(view.delete_node("n1", "6"), Applied::Changed);
        assert_eq!(view.delete_node("n1", "6"), Applied::Stale);
    }

    #[test]
    fn pods_are_keyed_by_uid() {
        let mut view = ClusterView::default();
        let pod = Pod { uid: "u1".into(), name: "p".into(), resource_version: "10".into(), ..Pod::default() };
        assert_eq!(view.upsert_pod(pod.clone()), Applied::Changed);
        assert_eq!(view.upsert_pod(pod), Applied::Stale);
        assert_eq!(view.delete_pod("u2", "11"), Applied::Stale);
        assert_eq!(view.delete_pod("u1", "11"), Applied::Changed);
        assert!(view.pods.is_empty());
    }
}
