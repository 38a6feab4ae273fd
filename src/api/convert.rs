//! protobuf <-> model conversions. Inbound conversions check what the model relies on and name the field.

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::Taint;
use prost_types::Timestamp;
use tonic::Status;

use crate::engine::fit::PodDemand;
use crate::engine::model::{ControllerRef, HostPort, Node, OtherPods, Pod, PodPhase, Resources};
use crate::engine::status::StatusCounts;
use crate::fleet::access::Role;
use crate::fleet::{ClusterView, DaemonSetView};
use crate::pb;
use crate::store::ApiTokenRecord;

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

fn host_ports(ports: Vec<pb::HostPort>) -> Vec<HostPort> {
    ports
        .into_iter()
        .map(|p| HostPort { port: p.port, protocol: p.protocol.into(), host_ip: p.host_ip.into() })
        .collect()
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
        name: n.name.into(),
        resource_version: n.resource_version,
        labels: n.labels.into_iter().collect(),
        taints: taints.into(),
        unschedulable: n.unschedulable,
        conditions: n.conditions.into_iter().map(|c| (c.r#type, c.status)).collect(),
        allocatable: resources(n.allocatable),
        other_pods: OtherPods {
            requested: resources(other.requested),
            pod_count: other.pod_count,
            host_ports: host_ports(other.host_ports),
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
        namespace: p.namespace.into(),
        name: p.name,
        uid: p.uid,
        resource_version: p.resource_version,
        node_name: p.node_name.into(),
        target_node: p.target_node.into(),
        labels: labels.into(),
        phase,
        ready: p.ready,
        demand: {
            let requests = resources(p.requests);
            PodDemand {
                cpu_millis: requests.cpu_millis,
                memory_bytes: requests.memory_bytes,
                host_ports: host_ports(p.host_ports),
            }
        },
        controller: p
            .controller
            .filter(|c| !c.uid.is_empty())
            .map(|c| Box::new(ControllerRef { api_version: c.api_version, kind: c.kind, name: c.name, uid: c.uid })),
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
        predicted_pending: s.predicted_pending,
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
        rollout: Some(rollout_settings(r.rollout)),
        created_by: r.created_by,
        updated_by: r.updated_by,
    }
}

pub fn rollout_settings(r: crate::store::RolloutSettings) -> pb::RolloutSettings {
    pb::RolloutSettings {
        partition: r.partition,
        paused: r.paused,
        node_selector: r.node_selector.into_iter().collect(),
        strict_budget: r.strict_budget,
    }
}

pub fn rollout_settings_in(r: pb::RolloutSettings) -> crate::store::RolloutSettings {
    crate::store::RolloutSettings {
        partition: r.partition,
        paused: r.paused,
        node_selector: r.node_selector.into_iter().collect(),
        strict_budget: r.strict_budget,
    }
}

fn pend_reason(r: &crate::engine::fit::PendReason) -> pb::PendReason {
    use crate::engine::fit::PendReason as P;
    use pb::pend_reason::Kind;
    let kind = match r {
        P::InsufficientCpu { requested_millis, available_millis } => Kind::InsufficientCpu(pb::InsufficientResource {
            requested: *requested_millis,
            available: *available_millis,
        }),
        P::InsufficientMemory { requested_bytes, available_bytes } => {
            Kind::InsufficientMemory(pb::InsufficientResource {
                requested: *requested_bytes,
                available: *available_bytes,
            })
        }
        P::TooManyPods { allowed } => Kind::TooManyPods(pb::TooManyPods { allowed: *allowed }),
        P::HostPortConflict { port, protocol } => {
            Kind::HostPortConflict(pb::HostPortConflict { port: *port, protocol: protocol.clone() })
        }
    };
    pb::PendReason { kind: Some(kind), message: r.sentence() }
}

fn placement_reason(r: &crate::engine::placement::Reason) -> pb::PlacementReason {
    use crate::engine::placement::Reason as R;
    use pb::placement_reason::Kind;
    let kind = match r {
        R::NodeNameMismatch { want } => Kind::NodeNameMismatch(pb::NodeNameMismatch { want: want.clone() }),
        R::NodeSelectorMismatch { key, want, got } => Kind::NodeSelectorMismatch(pb::NodeSelectorMismatch {
            key: key.clone(),
            want: want.clone(),
            got: got.clone().unwrap_or_default(),
            present: got.is_some(),
        }),
        R::NodeAffinityMismatch { terms } => {
            Kind::NodeAffinityMismatch(pb::NodeAffinityMismatch { terms: terms.clone() })
        }
        R::UntoleratedTaint { taint } => Kind::UntoleratedTaint(pb::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
            effect: taint.effect.clone(),
        }),
    };
    pb::PlacementReason { kind: Some(kind), message: r.sentence() }
}

fn pod_phase(phase: PodPhase) -> pb::PodPhase {
    match phase {
        PodPhase::Pending => pb::PodPhase::Pending,
        PodPhase::Running => pb::PodPhase::Running,
        PodPhase::Succeeded => pb::PodPhase::Succeeded,
        PodPhase::Failed => pb::PodPhase::Failed,
        PodPhase::Unknown => pb::PodPhase::Unknown,
    }
}

pub fn planned_action(a: &crate::engine::explain::PlannedAction) -> pb::PlannedAction {
    use crate::engine::explain::ActionKind;
    let kind = match a.kind {
        ActionKind::Create => pb::PlannedActionKind::Create,
        ActionKind::Delete => pb::PlannedActionKind::Delete,
    };
    pb::PlannedAction {
        kind: kind as i32,
        node: a.node.clone(),
        pod_name: a.pod_name.clone(),
        reason: a.reason.clone(),
    }
}

pub fn node_placement(cluster: &str, r: &crate::engine::explain::NodeReport) -> pb::NodePlacement {
    use crate::engine::explain::Verdict;
    let fit = match &r.verdict {
        Verdict::Runs => pb::FitPrediction { outcome: pb::FitOutcome::Runs as i32, reasons: vec![] },
        Verdict::Excluded => pb::FitPrediction { outcome: pb::FitOutcome::Excluded as i32, reasons: vec![] },
        Verdict::WillPend(why) => pb::FitPrediction {
            outcome: pb::FitOutcome::WillPend as i32,
            reasons: why.iter().map(pend_reason).collect(),
        },
    };
    pb::NodePlacement {
        cluster: cluster.to_string(),
        node: r.node.clone(),
        should_run: r.placement.should_run,
        should_continue_running: r.placement.should_continue_running,
        reasons: r.reasons.iter().map(placement_reason).collect(),
        fit: Some(fit),
        pods: r
            .pods
            .iter()
            .map(|p| pb::DaemonPod {
                name: p.name.clone(),
                uid: p.uid.clone(),
                phase: pod_phase(p.phase) as i32,
                ready: p.ready,
                revision_hash: p.revision_hash.clone(),
                updated: p.updated,
                terminating: p.terminating,
            })
            .collect(),
        actions: r.actions.iter().map(planned_action).collect(),
        summary: r.summary(),
    }
}

pub fn cluster_plan(plan: crate::fleet::ClusterPlan) -> pb::ClusterPlacementPlan {
    let cluster = plan.cluster;
    let Some(r) = plan.report else {
        return pb::ClusterPlacementPlan { cluster, connected: false, ..Default::default() };
    };
    pb::ClusterPlacementPlan {
        connected: true,
        run_nodes: r.run_nodes,
        excluded: r.excluded.iter().map(|n| node_placement(&cluster, n)).collect(),
        will_pend: r.will_pend.iter().map(|n| node_placement(&cluster, n)).collect(),
        actions: r.actions.iter().map(planned_action).collect(),
        status: Some(status(&r.status)),
        nodes: r.nodes.iter().map(|n| node_placement(&cluster, n)).collect(),
        cluster,
    }
}

pub fn revision(r: crate::fleet::RevisionView, with_template: bool) -> pb::Revision {
    pb::Revision {
        revision: r.record.revision,
        hash: r.record.hash,
        name: r.record.name,
        change_cause: r.record.change_cause.unwrap_or_default(),
        created_at: Some(timestamp(r.record.created_at)),
        current: r.current,
        nodes: r.clusters.values().sum(),
        clusters: r.clusters.into_iter().map(|(cluster, nodes)| pb::RevisionUsage { cluster, nodes }).collect(),
        template: if with_template { r.record.template } else { String::new() },
        created_by: r.record.created_by,
    }
}

pub fn role(role: Role) -> pb::Role {
    match role {
        Role::Viewer => pb::Role::Viewer,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
    }
}

pub fn role_in(field: &str, value: i32) -> Result<Role, Status> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Viewer) => Ok(Role::Viewer),
        Ok(pb::Role::Operator) => Ok(Role::Operator),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Unspecified) => Err(Status::invalid_argument(format!(
            "{field}: Required value: one of ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN"
        ))),
        Err(_) => Err(Status::invalid_argument(format!(
            "{field}: Unsupported value: {value}: supported values: ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN"
        ))),
    }
}

pub fn api_token(t: ApiTokenRecord) -> pb::ApiToken {
    pb::ApiToken {
        role: Role::parse(&t.role).map_or(pb::Role::Unspecified, role) as i32,
        name: t.name,
        namespaces: t.namespaces,
        created_at: Some(timestamp(t.created_at)),
        expire_time: t.expires_at.map(timestamp),
        created_by: t.created_by,
        revoke_time: t.revoked_at.map(timestamp),
    }
}

fn rollout_phase(p: crate::engine::status::RolloutPhase) -> pb::RolloutPhase {
    use crate::engine::status::RolloutPhase as P;
    match p {
        P::Stalled => pb::RolloutPhase::Stalled,
        P::Progressing => pb::RolloutPhase::Progressing,
        P::Paused => pb::RolloutPhase::Paused,
        P::Complete => pb::RolloutPhase::Complete,
    }
}

pub fn rollout(r: crate::fleet::Rollout) -> pb::RolloutStatus {
    pb::RolloutStatus {
        namespace: r.namespace,
        name: r.name,
        generation: r.generation,
        target_revision: r.target_revision,
        target_hash: r.target_hash,
        phase: rollout_phase(r.phase) as i32,
        reason: r.reason,
        done: r.done,
        clusters: r
            .clusters
            .into_iter()
            .map(|c| pb::ClusterRolloutStatus {
                cluster: c.cluster,
                connected: c.connected,
                observed_generation: c.status.observed_generation,
                desired: c.status.desired_number_scheduled,
                updated: c.status.updated_number_scheduled,
                available: c.status.number_available,
                unavailable: c.status.number_unavailable,
                phase: rollout_phase(c.phase) as i32,
                reason: c.reason,
            })
            .collect(),
    }
}
