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

#[derive(Default)]
pub(super) struct Ingest {
    pub view: ClusterView,
    synced: bool,
    snapshot: Option<PartialSnapshot>,
    /// Slots touched by events since the last round.
    touched: Vec<SlotId>,
    /// The view was replaced since the last round: every planner starts over.
    replaced: bool,
}

impl Ingest {
    /// True once a complete snapshot has arrived on this session.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Applies one shim event. Protocol violations end the session.
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
            ShimEvent::NodeUpsert(node) => self.view.upsert_node(node),
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

    /// The slots touched since the last call, or None when the view was replaced (plan everything afresh).
    pub fn take_changes(&mut self) -> Option<Vec<SlotId>> {
        let touched = std::mem::take(&mut self.touched);
        (!std::mem::take(&mut self.replaced)).then_some(touched)
    }
}
