//! The per-node summary of the pods daemonplane does not manage: what they request, how many they are and which
//! host ports they bind. Only this summary crosses the wire, never the pods themselves.
//!
//! Each pod's contribution is kept by uid, so an update or delete adjusts exactly the node it was on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Pod;

use super::convert::{host_ports, pod_demand, pod_ref};
use crate::pb;
use crate::shim::mirror::Mirror;

/// What one pod takes from its node.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    node: String,
    cpu_millis: i64,
    memory_bytes: i64,
    host_ports: Vec<pb::HostPort>,
}

impl Contribution {
    /// The pod's share of its node, or `None` when it takes nothing: not bound to a node yet, or terminal
    /// (Succeeded and Failed pods no longer count against a node, as in the scheduler).
    pub fn of(pod: &Pod) -> Option<Contribution> {
        let spec = pod.spec.as_ref()?;
        let node = spec.node_name.as_deref().filter(|n| !n.is_empty())?;
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return None;
        }
        let demand = pod_demand(spec, pod);
        Some(Contribution {
            node: node.to_string(),
            cpu_millis: demand.cpu_millis,
            memory_bytes: demand.memory_bytes,
            host_ports: host_ports(&demand),
        })
    }
}

/// The key a pod's contribution is kept under: its uid (the API server always sets one), else its name.
pub fn pod_key(pod: &Pod) -> String {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => pod_ref(pod),
    }
}

/// Contributions of every other pod, by pod and by node.
#[derive(Debug, Default)]
pub struct OtherPodsSummary {
    by_pod: HashMap<String, Contribution>,
    by_node: BTreeMap<String, BTreeSet<String>>,
}

impl OtherPodsSummary {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a pod's current contribution (`None`: it takes nothing, e.g. it finished). Returns the nodes
    /// whose summary changed.
    pub fn set(&mut self, key: &str, contribution: Option<Contribution>) -> Vec<String> {
        if self.by_pod.get(key) == contribution.as_ref() {
            return Vec::new();
        }
        let mut changed = Vec::with_capacity(2);
        if let Some(old) = self.take(key) {
            changed.push(old.node);
        }
        if let Some(new) = contribution {
            if !changed.contains(&new.node) {
                changed.push(new.node.clone());
            }
            self.by_node.entry(new.node.clone()).or_default().insert(key.to_string());
            self.by_pod.insert(key.to_string(), new);
        }
        changed
    }

    /// Forgets a pod (deleted, or now a daemon pod). Returns the node whose summary changed.
    pub fn remove(&mut self, key: &str) -> Vec<String> {
        self.take(key).map(|old| vec![old.node]).unwrap_or_default()
    }

    /// Replaces every contribution after a (re)list. Returns every node that had or now has a summary, so
    /// summaries of pods removed while disconnected are cleared.
    pub fn replace(&mut self, pods: impl IntoIterator<Item = (String, Contribution)>) -> Vec<String> {
        let mut nodes: BTreeSet<String> = self.by_node.keys().cloned().collect();
        self.by_pod.clear();
        self.by_node.clear();
        for (key, contribution) in pods {
            nodes.insert(contribution.node.clone());
            self.set(&key, Some(contribution));
        }
        nodes.into_iter().collect()
    }

    /// The summary of one node's other pods.
    pub fn summary(&self, node: &str) -> pb::OtherPods {
        let mut summary = pb::OtherPods::default();
        let Some(keys) = self.by_node.get(node) else { return summary };
        let mut requested = pb::Resources::default();
        let mut ports = Vec::new();
        for c in keys.iter().filter_map(|k| self.by_pod.get(k)) {
            requested.cpu_millis = requested.cpu_millis.saturating_add(c.cpu_millis);
            requested.memory_bytes = requested.memory_bytes.saturating_add(c.memory_bytes);
            ports.extend(c.host_ports.iter().cloned());
        }
        // Sorted and deduplicated so the same pods always give the same summary (the mirror compares them).
        ports.sort_by(|a, b| (a.port, &a.protocol, &a.host_ip).cmp(&(b.port, &b.protocol, &b.host_ip)));
        ports.dedup();
        // The pod count travels in pod_count; requested.pods stays 0 as in a pod's own requests.
        summary.requested = Some(requested);
        summary.pod_count = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        summary.host_ports = ports;
        summary
    }

    /// Pushes the summaries of `nodes` into the mirror.
    pub fn publish(&self, mirror: &Mirror, nodes: &[String]) {
        for node in nodes {
            mirror.set_other_pods(node, self.summary(node));
        }
    }

    fn take(&mut self, key: &str) -> Option<Contribution> {
        let old = self.by_pod.remove(key)?;
        if let Some(keys) = self.by_node.get_mut(&old.node) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_node.remove(&old.node);
            }
        }
        Some(old)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(uid: &str, node: Option<&str>, phase: &str, cpu: &str, host_port: Option<i32>) -> Pod {
        let ports = host_port.map(|p| json!([{"containerPort": p, "hostPort": p}])).unwrap_or(json!([]));
        serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": uid, "uid": uid},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "c", "image": "i", "ports": ports,
                    "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]
            },
            "status": {"phase": phase}
        }))
        .expect("a valid Pod")
    }

    fn record(s: &mut OtherPodsSummary, p: &Pod) -> Vec<String> {
        s.set(&pod_key(p), Contribution::of(p))
    }

    fn tcp(port: i32) -> pb::HostPort {
        pb::HostPort { port, protocol: "TCP".into(), host_ip: "0.0.0.0".into() }
    }

    #[test]
    fn sums_requests_counts_pods_and_merges_ports() {
        let mut s = OtherPodsSummary::new();
        assert_eq!(record(&mut s, &pod("a", Some("n1"), "Running", "100m", Some(80))), ["n1"]);
        assert_eq!(record(&mut s, &pod("b", Some("n1"), "Pending", "250m", Some(80))), ["n1"]);
        assert_eq!(record(&mut s, &pod("c", Some("n1"), "Running", "1", Some(53))), ["n1"]);
        assert_eq!(record(&mut s, &pod("d", Some("n2"), "Running", "1", None)), ["n2"]);
        let n1 = s.summary("n1");
        assert_eq!(n1.requested, Some(pb::Resources { cpu_millis: 1350, memory_bytes: 300 * 1024 * 1024, pods: 0 }));
        assert_eq!(n1.pod_count, 3);
        assert_eq!(n1.host_ports, vec![tcp(53), tcp(80)]);
        assert_eq!(s.summary("n2").pod_count, 1);
        assert_eq!(s.summary("n3"), pb::OtherPods::default());
    }

    #[test]
    fn unbound_and_terminal_pods_take_nothing() {
        let mut s = OtherPodsSummary::new();
        assert!(record(&mut s, &pod("a", None, "Pending", "1", Some(80))).is_empty());
        assert!(record(&mut s, &pod("b", Some("n1"), "Succeeded", "1", Some(80))).is_empty());
        assert!(record(&mut s, &pod("c", Some("n1"), "Failed", "1", None)).is_empty());
        assert_eq!(s.summary("n1"), pb::OtherPods::default());
    }

    #[test]
    fn updates_and_deletes_adjust_only_their_pod() {
        let mut s = OtherPodsSummary::new();
        record(&mut s, &pod("a", Some("n1"), "Running", "100m", Some(80)));
        record(&mut s, &pod("b", Some("n1"), "Running", "200m", Some(80)));
        // Unchanged: no node to republish.
        assert!(record(&mut s, &pod("a", Some("n1"), "Running", "100m", Some(80))).is_empty());
        // a finishes: its share leaves n1, b's port 80 stays.
        assert_eq!(record(&mut s, &pod("a", Some("n1"), "Succeeded", "100m", Some(80))), ["n1"]);
        let n1 = s.summary("n1");
        assert_eq!((n1.pod_count, n1.requested.unwrap().cpu_millis), (1, 200));
        assert_eq!(n1.host_ports, vec![tcp(80)]);
        assert_eq!(s.remove("b"), ["n1"]);
        assert!(s.remove("b").is_empty());
        assert_eq!(s.summary("n1"), pb::OtherPods::default());
    }

    #[test]
    fn a_pod_bound_later_moves_from_nowhere_to_its_node() {
        let mut s = OtherPodsSummary::new();
        record(&mut s, &pod("a", None, "Pending", "100m", None));
        assert_eq!(record(&mut s, &pod("a", Some("n2"), "Pending", "100m", None)), ["n2"]);
        assert_eq!(s.summary("n2").pod_count, 1);
    }

    #[test]
    fn replace_reports_nodes_that_lost_all_their_pods() {
        let mut s = OtherPodsSummary::new();
        record(&mut s, &pod("a", Some("n1"), "Running", "100m", None));
        record(&mut s, &pod("b", Some("n2"), "Running", "100m", None));
        let relisted = [pod("b", Some("n2"), "Running", "300m", None), pod("c", Some("n3"), "Running", "1", None)];
        let changed = s.replace(relisted.iter().filter_map(|p| Contribution::of(p).map(|c| (pod_key(p), c))));
        assert_eq!(changed, ["n1", "n2", "n3"]);
        assert_eq!(s.summary("n1"), pb::OtherPods::default());
        assert_eq!(s.summary("n2").requested.unwrap().cpu_millis, 300);
        assert_eq!(s.summary("n3").pod_count, 1);
    }

    #[test]
    fn publish_writes_summaries_into_the_mirror() {
        let mirror = Mirror::new();
        mirror.upsert_node(pb::Node { name: "n1".into(), ..Default::default() });
        let mut s = OtherPodsSummary::new();
        let changed = record(&mut s, &pod("a", Some("n1"), "Running", "100m", Some(80)));
        s.publish(&mirror, &changed);
        let reported = mirror.node("n1").expect("n1 in the mirror").other_pods.expect("a summary");
        assert_eq!((reported.pod_count, reported.host_ports), (1, vec![tcp(80)]));
        let changed = s.remove("a");
        s.publish(&mirror, &changed);
        assert_eq!(mirror.node("n1").unwrap().other_pods, Some(pb::OtherPods::default()));
    }
}
