//! The cluster's view as its shim reports it: a snapshot assembled from chunks replaces the view, deltas change
//! it, and the slots each change touched are remembered for the next round.

use crate::engine::model::{Node, Pod};
use crate::engine::view::{Applied, ClusterView, SlotId};
use crate::fleet::messages::{CloseReason, ShimEvent};

/// A snapshot being received in chunks.
struct PartialSnapshot {
    id: u64,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
}

/// What one event did to the view.
#[derive(Debug, PartialEq)]
pub(super) enum Ingested {
    /// A complete snapshot replaced the view; `first` on the session's first one.
    Synced {
        first: bool,
    },
    /// The view changed (or an event was stale, or a snapshot chunk is still incomplete).
    Changed,
    /// An action's outcome, for the expectations.
    ActionResult {
        action_id: String,
        succeeded: bool,
        message: String,
    },
    Heartbeat,
}

pub(super) struct Ingest {
    pub view: ClusterView,
    /// Most nodes the view may hold.
    max_nodes: usize,
    synced: bool,
    snapshot: Option<PartialSnapshot>,
    /// Slots touched by events since the last round.
    touched: Vec<SlotId>,
    /// The view was replaced since the last round: every planner starts over.
    replaced: bool,
}

impl Ingest {
    pub fn new(max_nodes: usize) -> Self {
        Ingest {
            view: ClusterView::default(),
            max_nodes,
            synced: false,
            snapshot: None,
            touched: Vec::new(),
            replaced: false,
        }
    }

    /// True once a complete snapshot has arrived on this session.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Applies one shim event. Protocol violations, and a view growing past the node limit, end the session.
    pub fn apply(&mut self, event: ShimEvent) -> Result<Ingested, CloseReason> {
        let delta = match event {
            ShimEvent::SnapshotChunk { snapshot_id, nodes, pods, last } => {
                let mut partial = match self.snapshot.take() {
                    Some(p) if p.id == snapshot_id => p,
                    // A new id abandons an unfinished snapshot.
                    _ => PartialSnapshot { id: snapshot_id, nodes: Vec::new(), pods: Vec::new() },
                };
                partial.nodes.extend(nodes);
                partial.pods.extend(pods);
                if partial.nodes.len() > self.max_nodes {
                    return Err(self.too_many_nodes("the snapshot"));
                }
                if !last {
                    self.snapshot = Some(partial);
                    return Ok(Ingested::Changed);
                }
                self.view = ClusterView::from_snapshot(partial.nodes, partial.pods);
                self.replaced = true;
                let first = !self.synced;
                self.synced = true;
                return Ok(Ingested::Synced { first });
            }
            _ if !self.synced => {
                return Err(CloseReason::Protocol("deltas and action results must follow a complete snapshot".into()));
            }
            ShimEvent::ActionResult { action_id, succeeded, message } => {
                return Ok(Ingested::ActionResult { action_id, succeeded, message });
            }
            ShimEvent::Heartbeat => return Ok(Ingested::Heartbeat),
            delta => delta,
        };
        let applied = match delta {
            ShimEvent::NodeUpsert(node) => {
                if self.view.node(&node.name).is_none() && self.view.node_count() >= self.max_nodes {
                    return Err(self.too_many_nodes(&format!("node {:?}", node.name)));
                }
                self.view.upsert_node(node)
            }
            ShimEvent::NodeDelete { name, resource_version } => self.view.delete_node(&name, &resource_version),
            ShimEvent::PodUpsert(pod) => self.view.upsert_pod(pod),
            ShimEvent::PodDelete { uid, resource_version } => self.view.delete_pod(&uid, &resource_version),
            ShimEvent::SnapshotChunk { .. } | ShimEvent::ActionResult { .. } | ShimEvent::Heartbeat => Applied::Stale,
        };
        if let Applied::Changed(slots) = applied {
            self.touched.extend(slots);
        }
        Ok(Ingested::Changed)
    }

    fn too_many_nodes(&self, what: &str) -> CloseReason {
        CloseReason::LimitExceeded(format!(
            "{what} takes the cluster above {} nodes, the most one cluster may have (--max-nodes-per-cluster)",
            self.max_nodes
        ))
    }

    /// The slots touched since the last call, or None when the view was replaced (plan everything afresh).
    pub fn take_changes(&mut self) -> Option<Vec<SlotId>> {
        let touched = std::mem::take(&mut self.touched);
        (!std::mem::take(&mut self.replaced)).then_some(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        Node { name: name.into(), resource_version: "1".into(), ..Node::default() }
    }

    fn chunk(id: u64, names: &[&str], last: bool) -> ShimEvent {
        ShimEvent::SnapshotChunk { snapshot_id: id, nodes: names.iter().map(|n| node(n)).collect(), pods: vec![], last }
    }

    fn limit_reason(result: Result<Ingested, CloseReason>) -> String {
        match result {
            Err(CloseReason::LimitExceeded(reason)) => reason,
            other => panic!("expected the node limit, got {other:?}"),
        }
    }

    #[test]
    fn a_snapshot_above_the_node_limit_is_refused_while_it_arrives() {
        let mut ingest = Ingest::new(3);
        assert_eq!(ingest.apply(chunk(1, &["a", "b"], false)), Ok(Ingested::Changed));
        let reason = limit_reason(ingest.apply(chunk(1, &["c", "d"], false)));
        assert_eq!(
            reason,
            "the snapshot takes the cluster above 3 nodes, the most one cluster may have (--max-nodes-per-cluster)"
        );
        assert!(!ingest.synced());
        // Exactly the limit is fine.
        let mut ingest = Ingest::new(3);
        assert_eq!(ingest.apply(chunk(1, &["a", "b", "c"], true)), Ok(Ingested::Synced { first: true }));
        assert_eq!(ingest.view.node_count(), 3);
    }

    #[test]
    fn only_a_new_node_can_pass_the_node_limit() {
        let mut ingest = Ingest::new(2);
        ingest.apply(chunk(1, &["a", "b"], true)).unwrap();
        let mut changed = node("a");
        changed.resource_version = "2".into();
        assert_eq!(ingest.apply(ShimEvent::NodeUpsert(changed)), Ok(Ingested::Changed), "a known node changes");
        let reason = limit_reason(ingest.apply(ShimEvent::NodeUpsert(node("c"))));
        assert!(reason.starts_with("node \"c\" takes the cluster above 2 nodes"), "{reason}");
        assert_eq!(ingest.view.node_count(), 2);
        // Room made by a delete can be used again.
        let deleted = ShimEvent::NodeDelete { name: "b".into(), resource_version: "3".into() };
        assert_eq!(ingest.apply(deleted), Ok(Ingested::Changed));
        assert_eq!(ingest.apply(ShimEvent::NodeUpsert(node("c"))), Ok(Ingested::Changed));
    }
}
