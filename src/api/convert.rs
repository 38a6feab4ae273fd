//! protobuf <-> model conversions. Inbound conversions check what the model relies on and name the field.

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::Taint;
use prost_types::Timestamp;
use tonic::Status;

use crate::engine::model::{ControllerRef, HostPort, Node, OtherPods, Pod, PodPhase, Resources};
use crate::engine::status::StatusCounts;
use crate::fleet::{ClusterView, DaemonSetView};
use crate::pb;

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn from_timestamp(field: &str, t: Option<Timestamp>) -> Result<Option<DateTime<Utc>>, Status> {
    match t {
        None => Ok(None),
        Some(t) => Utc
            .timestamp_opt(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
            .single()
            .map(Some)
            .ok_or_else(|| Status::invalid_argument(format!("{field}: Invalid value: not a valid timestamp"))),
    }
}

fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: Required value")));
    }
    Ok(())
}

fn resources(r: Option<pb::Resources>) -> Resources {
    let r = r.unwrap_or_default();
    Resources { cpu_millis: r.cpu_millis, memory_bytes: r.memory_bytes, pods: r.pods }
}

pub fn node(field: &str, n: Option<pb::Node>) -> Result<Node, Status> {
    let n = n.ok_or_else(|| Status::invalid_argument(format!("{field}: Required value")))?;
    required(&format!("{field}.name"), &n.name)?;
    let mut taints = Vec::with_capacity(n.taints.len());
    for (i, t) in n.taints.into_iter().enumerate() {
        if !matches!(t.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Err(Status::invalid_argument(format!(
                "{field}.taints[{i}].effect: Unsupported value: {:?}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                t.effect
            )));
        }
        taints.push(Taint {
            key: t.key,
            value: (!t.value.is_empty()).then_some(t.value),
            effect: t.effect,
            time_added: None,
        });
    }
    let other = n.other_pods.unwrap_or_default();
    Ok(Node {
        name: n.name,
        resource_version: n.resource_version,
        labels: n.labels.into_iter().collect(),
        taints,
        unschedulable: n.unschedulable,
        conditions: n.conditions.into_iter().map(|c| (c.r#type, c.status)).collect(),
        allocatable: resources(n.allocatable),
        other_pods: OtherPods {
            requested: resources(other.requested),
            pod_count: other.pod_count,
            host_ports: other
                .host_ports
                .into_iter()
                .map(|p| HostPort { port: p.port, protocol: p.protocol, host_ip: p.host_ip })
                .collect(),
        },
    })
}

pub fn pod(field: &str, p: Option<pb::Pod>) -> Result<Pod, Status> {
    let p = p.ok_or_else(|| Status::invalid_argument(format!("{field}: Required value")))?;
    required(&format!("{field}.namespace"), &p.namespace)?;
    required(&format!("{field}.name"), &p.name)?;
    required(&format!("{field}.uid"), &p.uid)?;
    let phase = match pb::PodPhase::try_from(p.phase).unwrap_or(pb::PodPhase::Unspecified) {
        pb::PodPhase::Pending => PodPhase::Pending,
        pb::PodPhase::Running => PodPhase::Running,
        pb::PodPhase::Succeeded => PodPhase::Succeeded,
        pb::PodPhase::Failed => PodPhase::Failed,
        pb::PodPhase::Unknown | pb::PodPhase::Unspecified => PodPhase::Unknown,
    };
    let mut labels: crate::engine::model::Labels = p.labels.into_iter().collect();
    // The explicit field wins over a missing label, so both shapes of shim report the same pod.
    if !p.revision_hash.is_empty() {
        labels.entry(crate::engine::model::REVISION_HASH_LABEL.to_string()).or_insert(p.revision_hash);
    }
    Ok(Pod {
        ready_since: from_timestamp(&format!("{field}.ready_since"), p.ready_since)?,
        created_at: from_timestamp(&format!("{field}.created_at"), p.created_at)?,
        deletion_timestamp: from_timestamp(&format!("{field}.deletion_timestamp"), p.deletion_timestamp)?,
        namespace: p.namespace,
        name: p.name,
        uid: p.uid,
        resource_version: p.resource_version,
        node_name: p.node_name,
        target_node: p.target_node,
        labels,
        phase,
        ready: p.ready,
        controller: p.controller.filter(|c| !c.uid.is_empty()).map(|c| ControllerRef {
            api_version: c.api_version,
            kind: c.kind,
            name: c.name,
            uid: c.uid,
        }),
    })
}

pub fn cluster(c: ClusterView) -> pb::Cluster {
    let connected = c.session.is_some();
    let session = c.session.unwrap_or_default();
    pb::Cluster {
        name: c.record.name,
        labels: c.record.labels.into_iter().collect(),
        connected,
        last_seen: session.last_seen.or(c.record.last_seen_at).map(timestamp),
        node_count: if connected { session.node_count } else { c.record.node_count.max(0) as u32 },
        created_at: Some(timestamp(c.record.created_at)),
        token_active: c.record.token_active,
        shim_version: if connected { session.shim_version } else { c.record.shim_version },
        synced: session.synced,
    }
}

pub fn status(s: &StatusCounts) -> pb::DaemonSetStatus {
    pb::DaemonSetStatus {
        desired_number_scheduled: s.desired_number_scheduled,
        current_number_scheduled: s.current_number_scheduled,
        number_misscheduled: s.number_misscheduled,
        number_ready: s.number_ready,
        updated_number_scheduled: s.updated_number_scheduled,
        number_available: s.number_available,
        number_unavailable: s.number_unavailable,
        observed_generation: s.observed_generation,
    }
}

pub fn daemon_set(v: DaemonSetView) -> pb::DaemonSet {
    let r = v.record;
    pb::DaemonSet {
        namespace: r.namespace,
        name: r.name,
        uid: r.uid,
        generation: r.generation,
        manifest: r.manifest,
        targets: Some(pb::Targeting {
            clusters: v.targets.iter().filter(|t| !t.target.removing).map(|t| t.target.cluster.clone()).collect(),
        }),
        current_revision: r.current_revision,
        current_revision_hash: r.current_hash,
        clusters: v
            .targets
            .iter()
            .map(|t| pb::ClusterDaemonSetStatus {
                cluster: t.target.cluster.clone(),
                connected: t.connected,
                status: Some(status(&t.target.status)),
                actions_in_flight: t.actions_in_flight,
                removing: t.target.removing,
            })
            .collect(),
        fleet: Some(status(&v.fleet)),
        deleting: r.deleting,
        created_at: Some(timestamp(r.created_at)),
        updated_at: Some(timestamp(r.updated_at)),
    }
}
