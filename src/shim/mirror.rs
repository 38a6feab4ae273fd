//! The shim's copy of what the service should see of its cluster: nodes (each with the summary of its other
//! pods) and daemon pods, in protocol form. Watchers (or the simulated cluster) write into it; the session
//! reads a snapshot and then follows the changes.
//!
//! Taking a snapshot and subscribing to what changes after it happen under one lock, so a session never
//! misses or double-counts an event between its snapshot and its first delta.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use crate::pb;
use crate::pb::shim_message::Kind;

/// How many changes may wait for a slow session before it is told to send a fresh snapshot instead.
const DELTA_BACKLOG: usize = 16 * 1024;

/// Nodes and daemon pods as the session reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub nodes: Vec<pb::Node>,
    pub pods: Vec<pb::Pod>,
}

/// The changes after a snapshot. `recv` returning `None` means the backlog overflowed (or the mirror is being
/// replaced): the session must take a fresh snapshot.
pub type Deltas = mpsc::Receiver<Kind>;

#[derive(Default)]
struct Inner {
    /// Nodes as watched, without their other-pods summary.
    nodes: BTreeMap<String, pb::Node>,
    /// Per node, the summary of its non-daemon pods.
    other_pods: BTreeMap<String, pb::OtherPods>,
    /// Daemon pods by uid.
    pods: BTreeMap<String, pb::Pod>,
    subscriber: Option<mpsc::Sender<Kind>>,
}

impl Inner {
    /// The node as reported: watched fields plus its summary.
    fn reported(&self, name: &str) -> Option<pb::Node> {
        let mut node = self.nodes.get(name)?.clone();
        node.other_pods = Some(self.other_pods.get(name).cloned().unwrap_or_default());
        Some(node)
    }

    fn publish(&mut self, kind: Kind) {
        if let Some(tx) = &self.subscriber
            && tx.try_send(kind).is_err()
        {
            // Full or gone: dropping the sender ends the session's delta stream, which answers with a snapshot.
            self.subscriber = None;
        }
    }
}

/// A cluster's reported state plus the session following it.
pub struct Mirror {
    inner: Mutex<Inner>,
    /// True once every watcher has finished its initial list, so a snapshot is complete.
    synced: watch::Sender<bool>,
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror { inner: Mutex::new(Inner::default()), synced: watch::channel(false).0 }
    }
}

impl Mirror {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (every write is one insert or
        // remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the mirror complete (every initial list is in).
    pub fn mark_synced(&self) {
        self.synced.send_replace(true);
    }

    /// Waits until the mirror is complete.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// A snapshot of everything, and the changes from then on. A new subscription replaces the previous one.
    pub fn subscribe(&self) -> (Snapshot, Deltas) {
        let mut inner = self.lock();
        let (tx, rx) = mpsc::channel(DELTA_BACKLOG);
        inner.subscriber = Some(tx);
        let names: Vec<String> = inner.nodes.keys().cloned().collect();
        let nodes = names.iter().filter_map(|n| inner.reported(n)).collect();
        let pods = inner.pods.values().cloned().collect();
        (Snapshot { nodes, pods }, rx)
    }

    /// Ends the current subscription (the session is gone).
    pub fn unsubscribe(&self) {
        self.lock().subscriber = None;
    }

    pub fn upsert_node(&self, mut node: pb::Node) {
        let mut inner = self.lock();
        node.other_pods = None;
        if inner.nodes.get(&node.name) == Some(&node) {
            return;
        }
        let name = node.name.clone();
        inner.nodes.insert(name.clone(), node);
        if let Some(reported) = inner.reported(&name) {
            inner.publish(Kind::NodeUpsert(pb::NodeUpsert { node: Some(reported) }));
        }
    }

    pub fn delete_node(&self, name: &str, resource_version: &str) {
        let mut inner = self.lock();
        if inner.nodes.remove(name).is_some() {
            inner.publish(Kind::NodeDelete(pb::NodeDelete {
                name: name.to_string(),
                resource_version: resource_version.to_string(),
            }));
        }
    }

    /// Replaces the node set after a (re)list: deletes what the list no longer has, upserts what changed.
    /// `resource_version` is the list's, newer than any node in it.
    pub fn replace_nodes(&self, nodes: Vec<pb::Node>, resource_version: &str) {
        let listed: std::collections::BTreeSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let gone: Vec<String> = self.lock().nodes.keys().filter(|n| !listed.contains(*n)).cloned().collect();
        for name in gone {
            self.delete_node(&name, resource_version);
        }
        for node in nodes {
            self.upsert_node(node);
        }
    }

    /// Sets a node's other-pods summary; reported as a node upsert when it changed and the node is known.
    pub fn set_other_pods(&self, node: &str, summary: pb::OtherPods) {
        let mut inner = self.lock();
        let old = inner.other_pods.get(node);
        if old == Some(&summary) || (old.is_none() && summary == pb::OtherPods::default()) {
            return;
        }
        if summary == pb::OtherPods::default() {
            inner.other_pods.remove(node);
        } else {
            inner.other_pods.insert(node.to_string(), summary);
        }
        if let Some(reported) = inner.reported(node) {
            inner.publish(Kind::NodeUpsert(pb::NodeUpsert { node: Some(reported) }));
        }
    }

    pub fn upsert_pod(&self, pod: pb::Pod) {
        let mut inner = self.lock();
        if inner.pods.get(&pod.uid) == Some(&pod) {
            return;
        }
        inner.pods.insert(pod.uid.clone(), pod.clone());
        inner.publish(Kind::PodUpsert(pb::PodUpsert { pod: Some(pod) }));
    }

    pub fn delete_pod(&self, uid: &str, resource_version: &str) {
        let mut inner = self.lock();
        if let Some(pod) = inner.pods.remove(uid) {
            inner.publish(Kind::PodDelete(pb::PodDelete {
                namespace: pod.namespace,
                name: pod.name,
                uid: pod.uid,
                resource_version: resource_version.to_string(),
            }));
        }
    }

    /// Replaces the daemon pod set after a (re)list.
    pub fn replace_pods(&self, pods: Vec<pb::Pod>, resource_version: &str) {
        let listed: std::collections::BTreeSet<String> = pods.iter().map(|p| p.uid.clone()).collect();
        let gone: Vec<String> = self.lock().pods.keys().filter(|u| !listed.contains(*u)).cloned().collect();
        for uid in gone {
            self.delete_pod(&uid, resource_version);
        }
        for pod in pods {
            self.upsert_pod(pod);
        }
    }

    /// A daemon pod by uid.
    pub fn pod(&self, uid: &str) -> Option<pb::Pod> {
        self.lock().pods.get(uid).cloned()
    }

    /// A node as reported.
    pub fn node(&self, name: &str) -> Option<pb::Node> {
        self.lock().reported(name)
    }

    /// Counts of nodes and daemon pods.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.nodes.len(), inner.pods.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, rv: &str) -> pb::Node {
        pb::Node { name: name.into(), resource_version: rv.into(), ..Default::default() }
    }

    fn pod(uid: &str, rv: &str) -> pb::Pod {
        pb::Pod { uid: uid.into(), name: uid.into(), resource_version: rv.into(), ..Default::default() }
    }

    #[test]
    fn snapshot_then_only_later_changes() {
        let m = Mirror::new();
        m.upsert_node(node("a", "1"));
        let (snap, mut rx) = m.subscribe();
        assert_eq!(snap.nodes.len(), 1);
        assert_eq!(snap.nodes[0].other_pods, Some(pb::OtherPods::default()));
        m.upsert_node(node("a", "1")); // unchanged: nothing published
        m.upsert_node(node("b", "2"));
        match rx.try_recv().unwrap() {
            Kind::NodeUpsert(u) => assert_eq!(u.node.unwrap().name, "b"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn summary_changes_are_node_upserts_with_the_node_resource_version() {
        let m = Mirror::new();
        m.upsert_node(node("a", "7"));
        let (_, mut rx) = m.subscribe();
        let summary = pb::OtherPods { pod_count: 3, ..Default::default() };
        m.set_other_pods("a", summary.clone());
        m.set_other_pods("a", summary.clone());
        let Kind::NodeUpsert(u) = rx.try_recv().unwrap() else { panic!() };
        let n = u.node.unwrap();
        assert_eq!((n.resource_version.as_str(), n.other_pods), ("7", Some(summary)));
        assert!(rx.try_recv().is_err());
        // A summary for an unknown node is kept for when the node arrives.
        m.set_other_pods("b", pb::OtherPods { pod_count: 1, ..Default::default() });
        assert!(rx.try_recv().is_err());
        m.upsert_node(node("b", "8"));
        let Kind::NodeUpsert(u) = rx.try_recv().unwrap() else { panic!() };
        assert_eq!(u.node.unwrap().other_pods.unwrap().pod_count, 1);
    }

    #[test]
    fn relist_deletes_what_vanished() {
        let m = Mirror::new();
        m.upsert_node(node("a", "1"));
        m.upsert_node(node("b", "2"));
        m.upsert_pod(pod("p1", "3"));
        let (_, mut rx) = m.subscribe();
        m.replace_nodes(vec![node("b", "2")], "10");
        m.replace_pods(vec![], "10");
        let Kind::NodeDelete(d) = rx.try_recv().unwrap() else { panic!() };
        assert_eq!((d.name.as_str(), d.resource_version.as_str()), ("a", "10"));
        let Kind::PodDelete(d) = rx.try_recv().unwrap() else { panic!() };
        assert_eq!((d.uid.as_str(), d.resource_version.as_str()), ("p1", "10"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_overflowing_backlog_ends_the_delta_stream() {
        let m = Mirror::new();
        let (_, mut rx) = m.subscribe();
        for i in 0..=DELTA_BACKLOG {
            m.upsert_pod(pod(&format!("p{i}"), "1"));
        }
        let mut received = 0;
        while rx.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received, DELTA_BACKLOG);
        assert!(matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
    }
}
