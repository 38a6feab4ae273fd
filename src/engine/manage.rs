//! Per-node reconcile (upstream syncDaemonSet -> manage -> podsShouldBeOnNode) and the status derived from
//! the same pod map (reference sections 2 and 5). Pure: the clock and in-flight actions are arguments.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::daemonset::CompiledDaemonSet;
use super::model::{Pod, PodPhase};
use super::status::StatusCounts;
use super::view::ClusterView;

/// upstream BurstReplicas: at most this many creates, and separately deletes, per round.
pub const DEFAULT_BURST: usize = 250;

/// What a plan needs besides the DaemonSet and the view.
#[derive(Clone, Copy, Debug)]
pub struct ManageContext<'a> {
    pub now: DateTime<Utc>,
    /// uids of every live DaemonSet in the fleet; a pod naming another uid is an orphan.
    pub live_owner_uids: &'a HashSet<String>,
    /// Nodes where a create for this DaemonSet is in flight (the expectations of upstream, per node).
    pub creating_nodes: &'a HashSet<String>,
    /// Pods whose delete is in flight.
    pub deleting_pods: &'a HashSet<String>,
    /// The observedGeneration reported so far; kept while actions of this DaemonSet are in flight.
    pub observed_generation: i64,
    pub burst: usize,
}

/// Why a pod is to be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeleteReason {
    /// The node fails the selector, the affinity or an untolerated NoExecute taint.
    NodeNoLongerQualifies,
    /// More than one pod on the node; the one upstream keeps stays.
    Duplicate,
    /// Phase Failed: replaced once it is gone.
    Failed,
    /// Phase Succeeded: replaced once it is gone.
    Succeeded,
    /// Never scheduled, and its node no longer exists.
    NodeGone,
    /// The DaemonSet was deleted, or this cluster dropped from its targets.
    Removed,
}

/// One pod to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDeletion {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub reason: DeleteReason,
}

impl PodDeletion {
    fn of(pod: &Pod, reason: DeleteReason) -> Self {
        PodDeletion {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            node: pod.target_node_name().unwrap_or_default().to_string(),
            reason,
        }
    }
}

/// The outcome of one round for one DaemonSet in one cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Nodes that get a new pod, in node-name order.
    pub creates: Vec<String>,
    pub deletes: Vec<PodDeletion>,
    /// Status of the view as it is (before these actions take effect).
    pub status: StatusCounts,
}

/// upstream getNodesToDaemonPods: claimed pods grouped by target node; terminal pods that are already being
/// deleted are left out, and pods without a target node are ignored completely.
pub fn nodes_to_daemon_pods<'v>(
    ds: &CompiledDaemonSet,
    view: &'v ClusterView,
    live_owner_uids: &HashSet<String>,
) -> BTreeMap<&'v str, Vec<&'v Pod>> {
    let mut map: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for pod in view.pods.values() {
        if pod.phase.is_terminal() && pod.is_terminating() {
            continue;
        }
        if !ds.claims(pod, |uid| live_owner_uids.contains(uid)) {
            continue;
        }
        if let Some(node) = pod.target_node_name() {
            map.entry(node).or_default().push(pod);
        }
    }
    for pods in map.values_mut() {
        pods.sort_by(|a, b| pod_order(a, b));
    }
    map
}

/// upstream podByCreationTimestampAndPhase: scheduled pods first, then older first, then by name.
fn pod_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    a.node_name
        .is_empty()
        .cmp(&b.node_name.is_empty())
        .then_with(|| match (a.created_at, b.created_at) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        .then_with(|| a.name.cmp(&b.name))
}

/// Ready and, with minReadySeconds, Ready for strictly longer than that (reference 3.2).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    if !pod.ready {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    pod.ready_since.is_some_and(|since| since + Duration::seconds(i64::from(min_ready_seconds)) < now)
}

/// One reconcile round for a DaemonSet in a cluster: creates, deletes and status.
pub fn manage(ds: &CompiledDaemonSet, view: &ClusterView, ctx: &ManageContext<'_>) -> Plan {
    let node_pods = nodes_to_daemon_pods(ds, view, ctx.live_owner_uids);
    let mut plan = Plan::default();
    let delete = |pod: &Pod, reason: DeleteReason, plan: &mut Plan| {
        if !ctx.deleting_pods.contains(&pod.uid) {
            plan.deletes.push(PodDeletion::of(pod, reason));
        }
    };
    let no_pods: Vec<&Pod> = Vec::new();
    for node in view.nodes.values() {
        let placement = ds.policy.evaluate(node);
        let pods = node_pods.get(node.name.as_str()).unwrap_or(&no_pods);
        // podsShouldBeOnNode (reference 2.4).
        if placement.should_run && pods.is_empty() {
            if !ctx.creating_nodes.contains(&node.name) {
                plan.creates.push(node.name.clone());
            }
        } else if placement.should_continue_running {
            let mut running = Vec::new();
            for pod in pods.iter().filter(|p| !p.is_terminating()) {
                match pod.phase {
                    PodPhase::Failed => delete(pod, DeleteReason::Failed, &mut plan),
                    PodPhase::Succeeded => delete(pod, DeleteReason::Succeeded, &mut plan),
                    _ => running.push(*pod),
                }
            }
            // `pods` is already in upstream's order: keep the first, prune the rest.
            for pod in running.iter().skip(1) {
                delete(pod, DeleteReason::Duplicate, &mut plan);
            }
        } else {
            for pod in pods.iter().filter(|p| !p.is_terminating()) {
                delete(pod, DeleteReason::NodeNoLongerQualifies, &mut plan);
            }
        }
        accumulate_status(&mut plan.status, ds, placement.should_run, pods, ctx.now);
    }
    // Pods pinned to a node that is gone and never scheduled: pod GC cannot remove them, so manage does.
    for (node, pods) in &node_pods {
        if !view.nodes.contains_key(*node) {
            for pod in pods.iter().filter(|p| p.node_name.is_empty() && !p.is_terminating()) {
                delete(pod, DeleteReason::NodeGone, &mut plan);
            }
        }
    }
    plan.creates.truncate(ctx.burst);
    plan.deletes.truncate(ctx.burst);
    let s = &mut plan.status;
    s.number_unavailable = s.desired_number_scheduled - s.number_available;
    // upstream bumps observedGeneration only when the sync ran with satisfied expectations.
    let in_flight = !ctx.creating_nodes.is_empty() || view.pods.keys().any(|uid| ctx.deleting_pods.contains(uid));
    s.observed_generation = if in_flight { ctx.observed_generation } else { ds.generation };
    plan
}

/// Status for one node, from its pods in upstream order (reference section 5).
fn accumulate_status(
    s: &mut StatusCounts,
    ds: &CompiledDaemonSet,
    should_run: bool,
    pods: &[&Pod],
    now: DateTime<Utc>,
) {
    if !should_run {
        if !pods.is_empty() {
            s.number_misscheduled += 1;
        }
        return;
    }
    s.desired_number_scheduled += 1;
    let Some(first) = pods.first() else { return };
    s.current_number_scheduled += 1;
    if first.ready {
        s.number_ready += 1;
    }
    if is_available(first, ds.min_ready_seconds, now) {
        s.number_available += 1;
    }
    if first.revision_hash() == Some(ds.hash.as_str()) && !ds.hash.is_empty() {
        s.updated_number_scheduled += 1;
    }
}

/// Deletes every pod of a DaemonSet uid in the view (deleted DaemonSet, or cluster dropped from its targets).
pub fn remove_all(ds_uid: &str, view: &ClusterView, deleting_pods: &HashSet<String>, burst: usize) -> Vec<PodDeletion> {
    view.pods
        .values()
        .filter(|p| p.owner_uid() == Some(ds_uid) && p.controller.is_none())
        .filter(|p| !p.is_terminating() && !deleting_pods.contains(&p.uid))
        .take(burst)
        .map(|p| PodDeletion::of(p, DeleteReason::Removed))
        .collect()
}

/// True when no pod of the uid is left in the view, terminating ones included.
pub fn all_removed(ds_uid: &str, view: &ClusterView) -> bool {
    !view.pods.values().any(|p| p.owner_uid() == Some(ds_uid) && p.controller.is_none())
}
