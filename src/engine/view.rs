//! One cluster's view: its nodes and daemon pods, changed only by the shim's snapshot and deltas. Stale and
//! repeated events are absorbed here, so applying the same event twice changes nothing.
//!
//! Each node name owns a stable slot holding the node (while it exists) and the daemon pods targeting it, so
//! a planner walks nodes and their pods without lookups, and an event names exactly the slots it touched.

use std::collections::HashMap;

use super::atom::Atom;
use super::model::{Node, Pod};

/// Index of a node's slot; stable while the node or any pod targeting it exists.
pub type SlotId = u32;

/// A node name's place in the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slot {
    pub name: Atom,
    /// None once the node is gone while pods still target it.
    pub node: Option<Node>,
    /// Daemon pods whose target node is this one.
    pub pods: Vec<Pod>,
    /// Bumped on every change of `node` (never reused), so a planner can tell when its cached placement of the
    /// node is still valid.
    pub node_version: u64,
}

/// The nodes and daemon pods of one cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    slots: Vec<Slot>,
    by_name: HashMap<Atom, SlotId>,
    free: Vec<SlotId>,
    /// Slot of each pod with a target node.
    pod_slot: HashMap<String, SlotId>,
    /// The next node_version handed out.
    next_node_version: u64,
    /// Pods without a target node: upstream ignores them entirely, but they are still this cluster's pods.
    untargeted: HashMap<String, Pod>,
    node_count: usize,
}

/// What an event changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The slots whose node or pods changed (one or two).
    Changed(Vec<SlotId>),
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
    /// A view of exactly these nodes and pods (a completed snapshot). Slots are assigned in node-name order.
    /// Pods targeting missing nodes get slots in target-name order, so list order never matters.
    pub fn from_snapshot(mut nodes: Vec<Node>, mut pods: Vec<Pod>) -> Self {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        pods.sort_by(|a, b| (a.target_node_name(), &a.uid).cmp(&(b.target_node_name(), &b.uid)));
        let mut view = ClusterView::default();
        // Exact sizes: a doubling vector of slots would hold up to twice the memory the nodes need.
        view.slots.reserve_exact(nodes.len());
        view.by_name.reserve(nodes.len());
        view.pod_slot.reserve(pods.len());
        for node in nodes {
            let slot = view.slot_for(&node.name);
            view.set_node(slot, Some(node));
        }
        for pod in pods {
            view.insert_pod(pod);
        }
        // Copied once more, in slot order: the nodes' and pods' allocations then follow the slots, so a planner
        // walking every slot reads memory in order instead of in the order the snapshot arrived.
        view.slots = view.slots.clone();
        view
    }

    fn slot_for(&mut self, name: &Atom) -> SlotId {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        self.next_node_version += 1;
        let slot = Slot { name: name.clone(), node: None, pods: Vec::new(), node_version: self.next_node_version };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as SlotId
            }
        };
        self.by_name.insert(name.clone(), id);
        id
    }

    /// Replaces a slot's node, keeping the node count and the slot's node_version up to date.
    fn set_node(&mut self, id: SlotId, node: Option<Node>) {
        self.next_node_version += 1;
        let slot = &mut self.slots[id as usize];
        slot.node_version = self.next_node_version;
        match (slot.node.is_some(), node.is_some()) {
            (false, true) => self.node_count += 1,
            (true, false) => self.node_count -= 1,
            _ => {}
        }
        slot.node = node;
    }

    /// Frees a slot with neither node nor pods.
    fn release_if_empty(&mut self, id: SlotId) {
        let slot = &mut self.slots[id as usize];
        if slot.node.is_none() && slot.pods.is_empty() && !slot.name.is_empty() {
            self.by_name.remove(&slot.name);
            slot.name = Atom::default();
            self.free.push(id);
        }
    }

    /// Every slot, in id order (free slots have an empty name and nothing in them).
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn slot(&self, id: SlotId) -> &Slot {
        &self.slots[id as usize]
    }

    pub fn slot_of(&self, node: &str) -> Option<SlotId> {
        self.by_name.get(node).copied()
    }

    /// Existing nodes in slot order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.slots.iter().filter_map(|s| s.node.as_ref())
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.slot_of(name).and_then(|id| self.slots[id as usize].node.as_ref())
    }

    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Every daemon pod, targeted or not.
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.slots.iter().flat_map(|s| s.pods.iter()).chain(self.untargeted.values())
    }

    pub fn pod(&self, uid: &str) -> Option<&Pod> {
        match self.pod_slot.get(uid) {
            Some(&id) => self.slots[id as usize].pods.iter().find(|p| p.uid == uid),
            None => self.untargeted.get(uid),
        }
    }

    pub fn upsert_node(&mut self, node: Node) -> Applied {
        if let Some(held) = self.node(&node.name)
            && (*held == node || is_older(&node.resource_version, &held.resource_version))
        {
            return Applied::Stale;
        }
        let id = self.slot_for(&node.name);
        self.set_node(id, Some(node));
        Applied::Changed(vec![id])
    }

    pub fn delete_node(&mut self, name: &str, resource_version: &str) -> Applied {
        let Some(id) = self.slot_of(name) else { return Applied::Stale };
        match &self.slots[id as usize].node {
            Some(held) if !is_older(resource_version, &held.resource_version) => {
                self.set_node(id, None);
                self.release_if_empty(id);
                Applied::Changed(vec![id])
            }
            _ => Applied::Stale,
        }
    }

    /// Inserts a pod not yet in the view; returns its slot.
    fn insert_pod(&mut self, pod: Pod) -> Option<SlotId> {
        match pod.target_node_atom() {
            Some(target) => {
                let target = target.clone();
                let id = self.slot_for(&target);
                self.pod_slot.insert(pod.uid.clone(), id);
                let pods = &mut self.slots[id as usize].pods;
                // Kept in uid order so that the same pods give the same slot whatever their arrival order.
                let at = pods.partition_point(|p| p.uid < pod.uid);
                // Exact: a slot almost always holds one pod, and a doubling vector would reserve four.
                pods.reserve_exact(1);
                pods.insert(at, pod);
                Some(id)
            }
            None => {
                self.untargeted.insert(pod.uid.clone(), pod);
                None
            }
        }
    }

    /// Removes a pod; returns it and the slot it was in.
    fn remove_pod(&mut self, uid: &str) -> Option<(Pod, Option<SlotId>)> {
        match self.pod_slot.remove(uid) {
            Some(id) => {
                let pods = &mut self.slots[id as usize].pods;
                let at = pods.iter().position(|p| p.uid == uid)?;
                let pod = pods.remove(at);
                self.release_if_empty(id);
                Some((pod, Some(id)))
            }
            None => self.untargeted.remove(uid).map(|p| (p, None)),
        }
    }

    pub fn upsert_pod(&mut self, pod: Pod) -> Applied {
        if let Some(held) = self.pod(&pod.uid)
            && (*held == pod || is_older(&pod.resource_version, &held.resource_version))
        {
            return Applied::Stale;
        }
        let mut touched = Vec::with_capacity(2);
        if let Some((_, Some(old))) = self.remove_pod(&pod.uid) {
            touched.push(old);
        }
        if let Some(new) = self.insert_pod(pod)
            && !touched.contains(&new)
        {
            touched.push(new);
        }
        Applied::Changed(touched)
    }

    pub fn delete_pod(&mut self, uid: &str, resource_version: &str) -> Applied {
        match self.pod(uid) {
            Some(held) if !is_older(resource_version, &held.resource_version) => {
                let slot = self.remove_pod(uid).and_then(|(_, slot)| slot);
                Applied::Changed(slot.into_iter().collect())
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

    fn pod(uid: &str, node: &str, rv: &str) -> Pod {
        Pod { uid: uid.into(), name: uid.into(), node_name: node.into(), resource_version: rv.into(), ..Pod::default() }
    }

    #[test]
    fn late_and_repeated_events_are_ignored() {
        let mut view = ClusterView::default();
        assert!(matches!(view.upsert_node(node("n1", "5", "a")), Applied::Changed(_)));
        assert_eq!(view.upsert_node(node("n1", "5", "a")), Applied::Stale, "same event twice");
        assert_eq!(view.upsert_node(node("n1", "4", "b")), Applied::Stale, "older event");
        assert_eq!(view.node("n1").unwrap().labels.get("zone"), Some("a"));
        assert_eq!(view.delete_node("n1", "3"), Applied::Stale, "delete of an older incarnation");
        assert!(matches!(view.delete_node("n1", "6"), Applied::Changed(_)));
        assert_eq!(view.delete_node("n1", "6"), Applied::Stale);
        assert_eq!(view.node_count(), 0);
    }

    #[test]
    fn pods_live_in_their_target_node_slot() {
        let mut view = ClusterView::from_snapshot(vec![node("b", "1", "x"), node("a", "1", "x")], vec![]);
        assert_eq!(view.slot_of("a"), Some(0), "snapshot slots follow node names");
        let Applied::Changed(touched) = view.upsert_pod(pod("p1", "b", "10")) else { panic!() };
        assert_eq!(touched, vec![1]);
        assert_eq!(view.upsert_pod(pod("p1", "b", "10")), Applied::Stale);
        // Moving to another node touches both slots.
        let Applied::Changed(touched) = view.upsert_pod(pod("p1", "a", "11")) else { panic!() };
        assert_eq!(touched, vec![1, 0]);
        assert_eq!(view.slot(0).pods.len(), 1);
        // A pod on a node that does not exist gets a slot of its own, freed when it goes.
        view.upsert_pod(pod("p2", "gone", "12"));
        let gone = view.slot_of("gone").unwrap();
        assert!(view.slot(gone).node.is_none());
        assert!(matches!(view.delete_pod("p2", "13"), Applied::Changed(_)));
        assert_eq!(view.slot_of("gone"), None);
        assert_eq!(view.pods().count(), 1);
        // An unscheduled pod without a target is kept but in no slot.
        view.upsert_pod(pod("p3", "", "14"));
        assert_eq!(view.pods().count(), 2);
        assert!(view.pod("p3").is_some());
    }

    #[test]
    fn deleting_the_last_node_of_a_slot_frees_it_for_reuse() {
        let mut view = ClusterView::from_snapshot(vec![node("a", "1", "x")], vec![]);
        view.delete_node("a", "2");
        view.upsert_node(node("c", "3", "y"));
        assert_eq!(view.slot_of("c"), Some(0));
        assert_eq!(view.nodes().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["c"]);
    }
}
