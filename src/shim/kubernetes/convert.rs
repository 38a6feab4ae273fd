//! Kubernetes objects in protocol form: only what placement, fit prediction and reconcile read. Conversion never
//! fails: a field the shim cannot read is reported empty (or 0) and logged, so one odd object cannot stop the
//! watch.

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::engine::daemonset_util::target_node_name;
use crate::engine::fit::{PodDemand, QuantityError, RESOURCE_CPU, RESOURCE_MEMORY, parse_bytes, parse_cpu_millis};
use crate::engine::model::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_HASH_LABEL};
use crate::pb;

/// `v1.ResourcePods`.
const RESOURCE_PODS: &str = "pods";
/// `v1.PodReady`.
const POD_READY: &str = "Ready";
/// The node conditions the service reads: readiness and the conditions the node lifecycle controller turns into
/// the taints placement checks.
const REPORTED_NODE_CONDITIONS: [&str; 5] =
    ["Ready", "NetworkUnavailable", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// True for pods labelled `app.kubernetes.io/managed-by=daemonplane`: the daemon pods the service reconciles.
pub fn is_daemon_pod(pod: &Pod) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL)).is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// `<namespace>/<name>`, for log lines.
pub(super) fn pod_ref(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A node without its other-pods summary (the mirror adds it).
pub fn node_to_pb(node: &Node) -> pb::Node {
    let name = node.metadata.name.clone().unwrap_or_default();
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    let taints = spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| pb::Taint { key: t.key.clone(), value: t.value.clone().unwrap_or_default(), effect: t.effect.clone() })
        .collect();
    let conditions = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| REPORTED_NODE_CONDITIONS.contains(&c.type_.as_str()))
        .map(|c| pb::NodeCondition { r#type: c.type_.clone(), status: c.status.clone() })
        .collect();
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let quantity = |resource: &str, parse: fn(&str) -> Result<i64, QuantityError>| -> i64 {
        let Some(q) = allocatable.and_then(|a| a.get(resource)) else { return 0 };
        parse(&q.0).unwrap_or_else(|e| {
            tracing::warn!(node = %name, resource, error = %e, "unreadable allocatable quantity; reporting 0");
            0
        })
    };
    let allocatable = pb::Resources {
        cpu_millis: quantity(RESOURCE_CPU, parse_cpu_millis),
        memory_bytes: quantity(RESOURCE_MEMORY, parse_bytes),
        // A pod count is a plain integer quantity ("110"); the byte parser reads it as such.
        pods: quantity(RESOURCE_PODS, parse_bytes),
    };
    pb::Node {
        resource_version: node.metadata.resource_version.clone().unwrap_or_default(),
        labels: node.metadata.labels.clone().unwrap_or_default().into_iter().collect(),
        taints,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        conditions,
        allocatable: Some(allocatable),
        other_pods: None,
        name,
    }
}

/// A daemon pod as the service sees it.
pub fn pod_to_pb(pod: &Pod) -> pb::Pod {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let ready = status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().find(|c| c.type_ == POD_READY);
    let demand = spec.map(|s| pod_demand(s, pod)).unwrap_or_default();
    let labels = meta.labels.clone().unwrap_or_default();
    pb::Pod {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        node_name: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        target_node: spec.map(affinity_target).unwrap_or_default(),
        revision_hash: labels.get(REVISION_HASH_LABEL).cloned().unwrap_or_default(),
        labels: labels.into_iter().collect(),
        phase: phase(status.and_then(|s| s.phase.as_deref())) as i32,
        ready: ready.is_some_and(|c| c.status == "True"),
        ready_since: ready.and_then(|c| c.last_transition_time.as_ref()).map(timestamp),
        created_at: meta.creation_timestamp.as_ref().map(timestamp),
        deletion_timestamp: meta.deletion_timestamp.as_ref().map(timestamp),
        controller: meta.owner_references.iter().flatten().find(|o| o.controller == Some(true)).map(|o| {
            pb::OwnerReference {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            }
        }),
        requests: Some(pb::Resources { cpu_millis: demand.cpu_millis, memory_bytes: demand.memory_bytes, pods: 0 }),
        host_ports: host_ports(&demand),
    }
}

/// The pod's effective requests and host ports. A request the shim cannot read counts as 0 (the API server
/// validated it, so this is a parser gap, not a bad pod); the host ports are still reported.
pub(super) fn pod_demand(spec: &PodSpec, pod: &Pod) -> PodDemand {
    match PodDemand::from_pod_spec(spec) {
        Ok(demand) => demand,
        Err(e) => {
            tracing::warn!(pod = %pod_ref(pod), error = %e, "unreadable resource quantity; counting the pod's requests as 0");
            PodDemand::from_pod_spec(&without_resources(spec)).unwrap_or_default()
        }
    }
}

fn without_resources(spec: &PodSpec) -> PodSpec {
    let mut spec = spec.clone();
    spec.resources = None;
    spec.overhead = None;
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        c.resources = None;
    }
    spec
}

pub(super) fn host_ports(demand: &PodDemand) -> Vec<pb::HostPort> {
    demand
        .host_ports
        .iter()
        .map(|p| pb::HostPort { port: p.port, protocol: p.protocol.to_string(), host_ip: p.host_ip.to_string() })
        .collect()
}

/// The node the required node affinity pins the pod to. `target_node_name` answers `spec.nodeName` first; the
/// protocol carries the affinity's node on its own, so look at the affinity alone.
fn affinity_target(spec: &PodSpec) -> String {
    let affinity_only = PodSpec { affinity: spec.affinity.clone(), ..PodSpec::default() };
    target_node_name(&affinity_only).unwrap_or_default()
}

fn phase(phase: Option<&str>) -> pb::PodPhase {
    match phase {
        Some("Pending") => pb::PodPhase::Pending,
        Some("Running") => pb::PodPhase::Running,
        Some("Succeeded") => pb::PodPhase::Succeeded,
        Some("Failed") => pb::PodPhase::Failed,
        Some("Unknown") => pb::PodPhase::Unknown,
        _ => pb::PodPhase::Unspecified,
    }
}

fn timestamp(t: &Time) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.0.as_second(), nanos: t.0.subsec_nanosecond() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(value: serde_json::Value) -> Node {
        serde_json::from_value(value).expect("a valid Node")
    }

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a valid Pod")
    }

    #[test]
    fn node_fields_taints_conditions_and_allocatable() {
        let n = node(json!({
            "metadata": {"name": "n1", "resourceVersion": "42", "labels": {"zone": "a"}},
            "spec": {"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "gpu", "value": "yes", "effect": "NoExecute"}
            ]},
            "status": {
                "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "KernelDeadlock", "status": "False"},
                    {"type": "PIDPressure", "status": "False"}
                ]
            }
        }));
        let got = node_to_pb(&n);
        assert_eq!(got.name, "n1");
        assert_eq!(got.resource_version, "42");
        assert_eq!(got.labels.get("zone").map(String::as_str), Some("a"));
        assert!(got.unschedulable);
        assert_eq!(
            got.taints,
            vec![
                pb::Taint {
                    key: "node.kubernetes.io/unschedulable".into(),
                    value: String::new(),
                    effect: "NoSchedule".into()
                },
                pb::Taint { key: "gpu".into(), value: "yes".into(), effect: "NoExecute".into() },
            ]
        );
        let types: Vec<&str> = got.conditions.iter().map(|c| c.r#type.as_str()).collect();
        assert_eq!(types, ["Ready", "MemoryPressure", "PIDPressure"]);
        assert_eq!(got.conditions[0].status, "True");
        assert_eq!(
            got.allocatable,
            Some(pb::Resources { cpu_millis: 3920, memory_bytes: 15 * 1024 * 1024 * 1024, pods: 110 })
        );
        assert_eq!(got.other_pods, None);
    }

    #[test]
    fn a_bad_allocatable_quantity_is_zero_not_a_panic() {
        let n = node(json!({
            "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "lots", "memory": "1Gi"}}
        }));
        let got = node_to_pb(&n);
        assert_eq!(got.allocatable, Some(pb::Resources { cpu_millis: 0, memory_bytes: 1 << 30, pods: 0 }));
        assert!(!got.unschedulable);
        assert!(got.taints.is_empty());
    }

    fn daemon_pod_json() -> serde_json::Value {
        json!({
            "metadata": {
                "namespace": "kube-system", "name": "fluentd-bcdfg", "uid": "u-1", "resourceVersion": "77",
                "creationTimestamp": "2026-11-23T10:00:00Z",
                "deletionTimestamp": "2026-11-23T11:00:00Z",
                "labels": {"app.kubernetes.io/managed-by": "daemonplane", "controller-revision-hash": "abc123"},
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "not-controller", "uid": "o-0"},
                    {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "uid": "o-1", "controller": true}
                ]
            },
            "spec": {
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}
                ]}}},
                "initContainers": [{"name": "init", "image": "i", "resources": {"requests": {"cpu": "1", "memory": "64Mi"}}}],
                "containers": [
                    {"name": "a", "image": "i", "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "200Mi"}},
                     "ports": [{"containerPort": 24224, "hostPort": 24224}]},
                    {"name": "b", "image": "i", "resources": {"requests": {"cpu": "150m", "memory": "100Mi"}},
                     "ports": [{"containerPort": 9880, "hostPort": 9880, "protocol": "UDP", "hostIP": "10.0.0.1"}]}
                ]
            },
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-23T10:00:01Z"},
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T10:00:30Z"}
                ]
            }
        })
    }

    #[test]
    fn daemon_pod_fields() {
        let p = pod(daemon_pod_json());
        assert!(is_daemon_pod(&p));
        let got = pod_to_pb(&p);
        assert_eq!(
            (got.namespace.as_str(), got.name.as_str(), got.uid.as_str(), got.resource_version.as_str()),
            ("kube-system", "fluentd-bcdfg", "u-1", "77")
        );
        assert_eq!((got.node_name.as_str(), got.target_node.as_str()), ("", "n7"));
        assert_eq!(got.phase, pb::PodPhase::Running as i32);
        assert!(got.ready);
        let at = |s: &str| {
            Some(prost_types::Timestamp { seconds: s.parse::<jiff::Timestamp>().unwrap().as_second(), nanos: 0 })
        };
        assert_eq!(got.ready_since, at("2026-11-23T10:00:30Z"));
        assert_eq!(got.created_at, at("2026-11-23T10:00:00Z"));
        assert_eq!(got.deletion_timestamp, at("2026-11-23T11:00:00Z"));
        assert_eq!(
            got.controller,
            Some(pb::OwnerReference {
                api_version: "apps/v1".into(),
                kind: "DaemonSet".into(),
                name: "fluentd".into(),
                uid: "o-1".into()
            })
        );
        assert_eq!(got.revision_hash, "abc123");
        assert_eq!(got.labels.len(), 2);
        // Containers sum to 250m / 300Mi (a limit stands in for a missing request); the init container's 1 cpu
        // is larger, its 64Mi is not.
        assert_eq!(got.requests, Some(pb::Resources { cpu_millis: 1000, memory_bytes: 300 * 1024 * 1024, pods: 0 }));
        assert_eq!(
            got.host_ports,
            vec![
                pb::HostPort { port: 9880, protocol: "UDP".into(), host_ip: "10.0.0.1".into() },
                pb::HostPort { port: 24224, protocol: "TCP".into(), host_ip: "0.0.0.0".into() },
            ]
        );
    }

    #[test]
    fn a_scheduled_pod_reports_both_node_name_and_affinity_target() {
        let mut value = daemon_pod_json();
        value["spec"]["nodeName"] = json!("n7");
        value["status"] = json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]});
        let got = pod_to_pb(&pod(value));
        assert_eq!((got.node_name.as_str(), got.target_node.as_str()), ("n7", "n7"));
        assert_eq!(got.phase, pb::PodPhase::Pending as i32);
        assert!(!got.ready);
        assert_eq!(got.ready_since, None);
    }

    #[test]
    fn a_bad_request_quantity_counts_as_zero_but_keeps_host_ports() {
        let p = pod(json!({
            "metadata": {"namespace": "ns", "name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "i",
                "resources": {"requests": {"cpu": "one", "memory": "1Gi"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
        }));
        assert!(!is_daemon_pod(&p));
        let got = pod_to_pb(&p);
        assert_eq!(got.requests, Some(pb::Resources::default()));
        assert_eq!(
            got.host_ports,
            vec![pb::HostPort { port: 8080, protocol: "TCP".into(), host_ip: "0.0.0.0".into() }]
        );
        assert_eq!(got.phase, pb::PodPhase::Unspecified as i32);
        assert_eq!(got.controller, None);
    }
}
