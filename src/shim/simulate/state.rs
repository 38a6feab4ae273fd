//! The simulated cluster's objects and every change to them. Each change takes the next cluster-wide
//! resourceVersion (like an etcd revision) and is written to the mirror at once, so the mirror sees the changes
//! in resourceVersion order.

use std::collections::BTreeMap;

use prost_types::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::config::SimNode;
use crate::pb;
use crate::shim::mirror::Mirror;

/// A pod's namespace and name.
pub(super) type PodKey = (String, String);

/// How a pod's containers behave once it is on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Health {
    Healthy,
    /// The image cannot be pulled: the pod stays Pending.
    ImagePullFails,
    /// The container keeps crashing: Running, never Ready.
    CrashLoops,
}

/// A pod as the simulated API server stores it.
#[derive(Clone, Debug)]
pub(super) struct SimPod {
    pub pod: pb::Pod,
    /// The action id annotation, which tells a redelivered create from a conflicting one.
    pub action_id: Option<String>,
    pub health: Health,
    /// False for pods without the managed-by label: the shim's watch never sees them.
    pub watched: bool,
}

/// The cluster's nodes and pods, and what the background tasks remember between ticks.
pub(super) struct State {
    revision: u64,
    nodes: BTreeMap<String, SimNode>,
    pods: BTreeMap<PodKey, SimPod>,
    pub rng: StdRng,
    /// The node the flapper last made NotReady.
    pub flapped: Option<String>,
    /// The node churn last removed, the shape of the next one to join.
    pub departed: Option<SimNode>,
    /// How many nodes churn has added, for their names.
    pub joined: u64,
}

pub(super) fn now() -> Timestamp {
    let t = chrono::Utc::now();
    Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn reported(node: &SimNode, resource_version: &str) -> pb::Node {
    pb::Node {
        name: node.name.clone(),
        resource_version: resource_version.to_string(),
        labels: node.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        taints: node.taints.clone(),
        unschedulable: false,
        conditions: node.conditions.clone(),
        allocatable: Some(node.allocatable),
        other_pods: None,
    }
}

impl State {
    pub fn new(seed: u64) -> State {
        State {
            revision: 0,
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed),
            flapped: None,
            departed: None,
            joined: 0,
        }
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.get(name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &SimNode> {
        self.nodes.values()
    }

    pub fn pod(&self, key: &PodKey) -> Option<&SimPod> {
        self.pods.get(key)
    }

    pub fn pods(&self) -> impl Iterator<Item = &SimPod> {
        self.pods.values()
    }

    /// Adds or replaces a node. Returns the pods that waited for it and are now bound to it, to be started.
    pub fn put_node(&mut self, mirror: &Mirror, node: SimNode) -> Vec<(PodKey, String)> {
        let name = node.name.clone();
        let ready = node.is_ready();
        let was_ready = self.node(&name).map(SimNode::is_ready);
        let resource_version = self.next_revision();
        // The summary first: for a new node it then arrives with the node in one upsert.
        mirror.set_other_pods(&name, node.other_pods.clone());
        mirror.upsert_node(reported(&node, &resource_version));
        self.nodes.insert(name.clone(), node);
        if was_ready.is_some_and(|was| was != ready) {
            self.set_pods_ready_on(mirror, &name, ready);
        }
        if was_ready.is_some() {
            return Vec::new();
        }
        // The scheduler binds the pods pinned to this node that waited for it.
        let waiting: Vec<PodKey> = self
            .pods
            .iter()
            .filter(|(_, p)| p.pod.node_name.is_empty() && p.pod.target_node == name)
            .filter(|(_, p)| p.pod.deletion_timestamp.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let mut bound = Vec::with_capacity(waiting.len());
        for key in waiting {
            if let Some(uid) = self.change_pod(mirror, &key, |p| p.pod.node_name = name.clone()) {
                bound.push((key, uid));
            }
        }
        bound
    }

    /// Changes a node through `f` (its name stays). Returns whether the node exists.
    pub fn update_node(&mut self, mirror: &Mirror, name: &str, f: impl FnOnce(&mut SimNode)) -> bool {
        let Some(mut node) = self.node(name).cloned() else { return false };
        f(&mut node);
        node.name = name.to_string();
        self.put_node(mirror, node);
        true
    }

    /// Removes a node, and then (as the pod garbage collector does) the pods bound to it.
    pub fn remove_node(&mut self, mirror: &Mirror, name: &str) -> Option<SimNode> {
        let node = self.nodes.remove(name)?;
        let resource_version = self.next_revision();
        mirror.delete_node(name, &resource_version);
        mirror.set_other_pods(name, pb::OtherPods::default());
        if self.flapped.as_deref() == Some(name) {
            self.flapped = None;
        }
        let orphans: Vec<PodKey> =
            self.pods.iter().filter(|(_, p)| p.pod.node_name == name).map(|(k, _)| k.clone()).collect();
        for key in orphans {
            if let Some(uid) = self.pods.get(&key).map(|p| p.pod.uid.clone()) {
                self.remove_pod(mirror, &key, &uid);
            }
        }
        Some(node)
    }

    /// Stores a new pod and reports it. Returns its uid.
    pub fn insert_pod(&mut self, mirror: &Mirror, key: PodKey, mut pod: SimPod) -> String {
        pod.pod.resource_version = self.next_revision();
        let uid = pod.pod.uid.clone();
        if pod.watched {
            mirror.upsert_pod(pod.pod.clone());
        }
        self.pods.insert(key, pod);
        uid
    }

    /// Changes the pod through `f` under a new resourceVersion and reports it. Returns the pod's uid, or `None`
    /// when there is no such pod.
    fn change_pod(&mut self, mirror: &Mirror, key: &PodKey, f: impl FnOnce(&mut SimPod)) -> Option<String> {
        let resource_version = self.next_revision();
        let pod = self.pods.get_mut(key)?;
        f(pod);
        pod.pod.resource_version = resource_version;
        if pod.watched {
            mirror.upsert_pod(pod.pod.clone());
        }
        Some(pod.pod.uid.clone())
    }

    /// The live (not terminating) pod `key` if it still has `uid`.
    fn live(&self, key: &PodKey, uid: &str) -> Option<&SimPod> {
        self.pods.get(key).filter(|p| p.pod.uid == uid && p.pod.deletion_timestamp.is_none())
    }

    /// The kubelet has started the pod's containers: Running, and Ready when they are healthy and the node is.
    /// A pod whose image cannot be pulled stays as it is.
    pub fn start_pod(&mut self, mirror: &Mirror, key: &PodKey, uid: &str) {
        let Some(pod) = self.live(key, uid) else { return };
        if pod.pod.node_name.is_empty() || pod.health == Health::ImagePullFails {
            return;
        }
        let ready = pod.health == Health::Healthy && self.node(&pod.pod.node_name).is_some_and(SimNode::is_ready);
        self.change_pod(mirror, key, |p| {
            p.pod.phase = pb::PodPhase::Running as i32;
            p.pod.ready = ready;
            p.pod.ready_since = Some(now());
        });
    }

    /// Running healthy pods on `node` follow its readiness, as the node lifecycle controller marks them.
    fn set_pods_ready_on(&mut self, mirror: &Mirror, node: &str, ready: bool) {
        let running = pb::PodPhase::Running as i32;
        let changing: Vec<PodKey> = self
            .pods
            .iter()
            .filter(|(_, p)| p.pod.node_name == node && p.pod.deletion_timestamp.is_none())
            .filter(|(_, p)| p.pod.phase == running && p.health == Health::Healthy && p.pod.ready != ready)
            .map(|(k, _)| k.clone())
            .collect();
        for key in changing {
            self.change_pod(mirror, &key, |p| {
                p.pod.ready = ready;
                p.pod.ready_since = Some(now());
            });
        }
    }

    /// Marks the pod terminating. Returns false when it is not there with `uid` or already terminating.
    pub fn terminate_pod(&mut self, mirror: &Mirror, key: &PodKey, uid: &str) -> bool {
        if self.live(key, uid).is_none() {
            return false;
        }
        self.change_pod(mirror, key, |p| p.pod.deletion_timestamp = Some(now())).is_some()
    }

    /// Removes the pod if it still has `uid`.
    pub fn remove_pod(&mut self, mirror: &Mirror, key: &PodKey, uid: &str) {
        if self.pods.get(key).is_none_or(|p| p.pod.uid != uid) {
            return;
        }
        let resource_version = self.next_revision();
        if let Some(pod) = self.pods.remove(key)
            && pod.watched
        {
            mirror.delete_pod(uid, &resource_version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, target: &str) -> (PodKey, SimPod) {
        let pod = pb::Pod {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            target_node: target.into(),
            phase: pb::PodPhase::Pending as i32,
            ..Default::default()
        };
        (("ns".into(), name.into()), SimPod { pod, action_id: None, health: Health::Healthy, watched: true })
    }

    #[test]
    fn every_change_takes_a_new_increasing_revision() {
        let mirror = Mirror::new();
        let mut state = State::new(0);
        state.put_node(&mirror, SimNode::new("a"));
        state.put_node(&mirror, SimNode::new("b"));
        assert_eq!(mirror.node("a").unwrap().resource_version, "1");
        assert_eq!(mirror.node("b").unwrap().resource_version, "2");
        let (key, p) = pod("p", "a");
        let uid = state.insert_pod(&mirror, key.clone(), p);
        assert_eq!(mirror.pod(&uid).unwrap().resource_version, "3");
        assert!(state.update_node(&mirror, "a", |n| {
            n.labels.insert("x".into(), "y".into());
        }));
        assert_eq!(mirror.node("a").unwrap().resource_version, "4");
        assert_eq!(mirror.node("a").unwrap().labels["x"], "y");
        assert!(!state.update_node(&mirror, "zz", |_| {}));
    }

    #[test]
    fn a_joining_node_binds_the_pods_waiting_for_it() {
        let mirror = Mirror::new();
        let mut state = State::new(0);
        let (key, p) = pod("p", "late");
        let uid = state.insert_pod(&mirror, key.clone(), p);
        assert_eq!(mirror.pod(&uid).unwrap().node_name, "");
        let bound = state.put_node(&mirror, SimNode::new("late"));
        assert_eq!(bound, vec![(key, uid.clone())]);
        assert_eq!(mirror.pod(&uid).unwrap().node_name, "late");
    }

    #[test]
    fn readiness_of_running_pods_follows_their_node() {
        let mirror = Mirror::new();
        let mut state = State::new(0);
        state.put_node(&mirror, SimNode::new("a"));
        let (key, mut p) = pod("p", "a");
        p.pod.node_name = "a".into();
        let uid = state.insert_pod(&mirror, key.clone(), p);
        state.start_pod(&mirror, &key, &uid);
        assert!(mirror.pod(&uid).unwrap().ready);
        state.update_node(&mirror, "a", |n| n.set_ready(false));
        assert!(!mirror.pod(&uid).unwrap().ready);
        state.update_node(&mirror, "a", |n| n.set_ready(true));
        let reported = mirror.pod(&uid).unwrap();
        assert!(reported.ready && reported.ready_since.is_some());
    }
}
