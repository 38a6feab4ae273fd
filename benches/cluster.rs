//! A synthetic large cluster shared by the benchmarks: mixed labels, ~3 taints per node, 110 other pods per node
//! summarized, and a DaemonSet with a 3-term required node affinity.

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use daemonplane::engine::daemonset::CompiledDaemonSet;
use daemonplane::engine::label_set::LabelSet;
use daemonplane::engine::model::{
    HostPort, Node, OWNER_UID_LABEL, OtherPods, Pod, PodPhase, REVISION_HASH_LABEL, Resources,
};
use daemonplane::engine::view::ClusterView;
use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::api::core::v1::Taint;

pub const UID: &str = "6b1c2a3e-0000-4000-8000-000000000001";
pub const HASH: &str = "7d9f8c6b5";

fn labels(pairs: &[(&str, String)]) -> LabelSet {
    pairs.iter().map(|(k, v)| (k, v)).collect()
}

/// Node `i` of a large cluster.
pub fn node(i: usize) -> Node {
    let name = format!("ip-10-{}-{}-{}.eu-west-1.compute.internal", i / 65536, (i / 256) % 256, i % 256);
    let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3];
    let pool = ["general", "general", "general", "memory", "gpu"][i % 5];
    let mut taints = vec![
        Taint { key: "node.kubernetes.io/not-ready".into(), value: None, effect: "NoExecute".into(), time_added: None },
        Taint {
            key: "example.com/maintenance-window".into(),
            value: Some("sunday".into()),
            effect: "PreferNoSchedule".into(),
            time_added: None,
        },
    ];
    taints.push(if pool == "gpu" {
        Taint {
            key: "nvidia.com/gpu".into(),
            value: Some("present".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        }
    } else {
        Taint {
            key: "example.com/pool".into(),
            value: Some(pool.into()),
            effect: "NoSchedule".into(),
            time_added: None,
        }
    });
    Node {
        resource_version: (1000 + i).to_string(),
        labels: labels(&[
            ("kubernetes.io/hostname", name.clone()),
            ("kubernetes.io/os", "linux".into()),
            ("kubernetes.io/arch", if i.is_multiple_of(7) { "arm64" } else { "amd64" }.into()),
            ("topology.kubernetes.io/zone", zone.into()),
            ("topology.kubernetes.io/region", "eu-west-1".into()),
            ("node.kubernetes.io/instance-type", ["m6i.2xlarge", "r6i.4xlarge", "g5.xlarge"][i % 3].into()),
            ("example.com/pool", pool.into()),
            ("example.com/rack", format!("rack-{}", i % 40)),
        ]),
        name: name.into(),
        taints: taints.into(),
        unschedulable: i.is_multiple_of(97),
        conditions: Default::default(),
        allocatable: Resources { cpu_millis: 8000, memory_bytes: 32 << 30, pods: 250 },
        other_pods: OtherPods {
            requested: Resources { cpu_millis: 5500, memory_bytes: 20 << 30, pods: 110 },
            pod_count: 110,
            host_ports: vec![
                HostPort { port: 9100, protocol: "TCP".into(), host_ip: Default::default() },
                HostPort { port: 10250, protocol: "TCP".into(), host_ip: Default::default() },
            ],
        },
    }
}

/// The DaemonSet: tolerates the pool taint, 3 required affinity terms (ORed), a nodeSelector.
pub fn daemon_set() -> Arc<CompiledDaemonSet> {
    let spec: DaemonSetSpec = serde_json::from_value(serde_json::json!({
        "selector": {"matchLabels": {"app": "node-agent"}},
        "template": {
            "metadata": {"labels": {"app": "node-agent"}},
            "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "example.com/pool", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [
                        {"key": "example.com/pool", "operator": "In", "values": ["general", "memory"]},
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
                    ]},
                    {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["r6i.4xlarge"]}]},
                    {"matchExpressions": [{"key": "example.com/rack", "operator": "Exists"}, {"key": "example.com/pool", "operator": "NotIn", "values": ["gpu"]}]}
                ]}}},
                "containers": [{"name": "agent", "image": "agent:1", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]
            }
        }
    }))
    .expect("bench DaemonSet");
    Arc::new(CompiledDaemonSet::new(UID, "kube-system", "node-agent", 1, &spec, HASH))
}

/// The daemon pod on node `i`, Running and Ready.
pub fn pod(i: usize, node: &str) -> Pod {
    Pod {
        namespace: "kube-system".into(),
        name: format!("node-agent-{i:05}"),
        uid: format!("0b3e{i:08}-0000-4000-8000-000000000000"),
        resource_version: (100_000 + i).to_string(),
        node_name: node.into(),
        target_node: node.into(),
        labels: [
            ("app".to_string(), "node-agent".to_string()),
            (REVISION_HASH_LABEL.to_string(), HASH.to_string()),
            (OWNER_UID_LABEL.to_string(), UID.to_string()),
        ]
        .into(),
        phase: PodPhase::Running,
        ready: true,
        ready_since: Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap()),
        created_at: Some(Utc.timestamp_opt(1_799_999_000, 0).unwrap()),
        ..Pod::default()
    }
}

/// Node `i`, with a ninth label (`example.com/spot`) on every other node, so consecutive nodes never share
/// their label keys.
pub fn node_alternating_keys(i: usize) -> Node {
    let mut node = node(i);
    if i % 2 == 1 {
        node.labels.insert("example.com/spot", "true");
    }
    node
}

/// `n` nodes; with `pods`, every node that should run the DaemonSet already runs its pod.
pub fn cluster(n: usize, pods: bool) -> ClusterView {
    cluster_of((0..n).map(node).collect(), pods)
}

/// As [`cluster`], with the label keys alternating from node to node ([`node_alternating_keys`]).
pub fn cluster_alternating_keys(n: usize) -> ClusterView {
    cluster_of((0..n).map(node_alternating_keys).collect(), true)
}

fn cluster_of(nodes: Vec<Node>, pods: bool) -> ClusterView {
    let ds = daemon_set();
    let pods = if pods {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| ds.policy.evaluate(node).should_run)
            .map(|(i, node)| pod(i, &node.name))
            .collect()
    } else {
        Vec::new()
    };
    ClusterView::from_snapshot(nodes, pods)
}
