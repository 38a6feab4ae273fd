//! Explanations and dry runs: why each node does or does not run a DaemonSet, whether its pod would fit, and
//! what the next round would do there. Built from the same functions the real rounds use.

use std::sync::Arc;

use super::backoff::FailedPodBackoff;
use super::daemonset::CompiledDaemonSet;
use super::fit::PendReason;
use super::manage::{DeleteReason, ManageContext, Plan, Planner, claimed_pods, predict_fit};
use super::model::{Pod, PodPhase};
use super::placement::{Placement, Reason};
use super::status::StatusCounts;
use super::view::{ClusterView, Slot};

/// The predicted fate of the DaemonSet's pod on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It fits, or already runs there.
    Runs,
    /// It would be created but stay Pending.
    WillPend(Vec<PendReason>),
    /// The node does not qualify.
    Excluded,
}

/// One pod of the DaemonSet on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReport {
    pub name: String,
    pub uid: String,
    pub phase: PodPhase,
    pub ready: bool,
    pub revision_hash: String,
    pub updated: bool,
    pub terminating: bool,
}

/// Whether a planned action creates or deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Create,
    Delete,
}

/// An action the next round would issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedAction {
    pub kind: ActionKind,
    pub node: String,
    /// The pod to delete (empty for creates).
    pub pod_name: String,
    pub reason: String,
}

/// Everything about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    pub node: String,
    pub placement: Placement,
    pub reasons: Vec<Reason>,
    pub verdict: Verdict,
    pub pods: Vec<PodReport>,
    pub actions: Vec<PlannedAction>,
}

impl NodeReport {
    /// One sentence for people, e.g. "node gpu-7: untolerated taint dedicated=gpu:NoSchedule".
    pub fn summary(&self) -> String {
        let what = if !self.reasons.is_empty() {
            let reasons: Vec<String> = self.reasons.iter().map(Reason::sentence).collect();
            let kept = if self.placement.should_continue_running && !self.pods.is_empty() {
                " (its existing pod is kept)"
            } else {
                ""
            };
            format!("{}{kept}", reasons.join("; "))
        } else if let Verdict::WillPend(why) = &self.verdict {
            let why: Vec<String> = why.iter().map(PendReason::sentence).collect();
            format!("should run the daemon pod, but it is predicted to stay Pending: {}", why.join("; "))
        } else if let Some(first) = self.pods.first() {
            let state = if first.ready { "Ready" } else { "not Ready" };
            format!("runs the daemon pod {} ({state})", first.name)
        } else {
            "should run the daemon pod; none is there yet".to_string()
        };
        format!("node {}: {what}", self.node)
    }
}

fn delete_reason(reason: DeleteReason) -> &'static str {
    match reason {
        DeleteReason::NodeNoLongerQualifies => "the node no longer qualifies",
        DeleteReason::Duplicate => "duplicate daemon pod on the node",
        DeleteReason::Failed => "pod Failed; it is replaced once gone",
        DeleteReason::Succeeded => "pod Succeeded; it is replaced once gone",
        DeleteReason::NodeGone => "never scheduled and its node is gone",
        DeleteReason::Removed => "the DaemonSet no longer runs on this cluster",
        DeleteReason::RollingUpdate => "old revision, replaced by the rolling update",
    }
}

/// The actions of a plan, as reports.
pub fn planned_actions(plan: &Plan) -> Vec<PlannedAction> {
    let creates = plan.creates.iter().map(|node| PlannedAction {
        kind: ActionKind::Create,
        node: node.clone(),
        pod_name: String::new(),
        reason: "no daemon pod on a node that should run one".to_string(),
    });
    let deletes = plan.deletes.iter().map(|d| PlannedAction {
        kind: ActionKind::Delete,
        node: d.node.clone(),
        pod_name: d.name.clone(),
        reason: delete_reason(d.reason).to_string(),
    });
    creates.chain(deletes).collect()
}

fn pod_report(ds: &CompiledDaemonSet, pod: &Pod) -> PodReport {
    let hash = pod.revision_hash().unwrap_or_default().to_string();
    PodReport {
        name: pod.name.clone(),
        uid: pod.uid.clone(),
        phase: pod.phase,
        ready: pod.ready,
        updated: !ds.hash.is_empty() && hash == ds.hash,
        revision_hash: hash,
        terminating: pod.is_terminating(),
    }
}

/// Explains one node slot, given the plan of the round.
fn node_report(ds: &CompiledDaemonSet, slot: &Slot, plan: &Plan, ctx: &ManageContext<'_>) -> Option<NodeReport> {
    let node = slot.node.as_ref()?;
    let (placement, reasons) = ds.policy.explain(node);
    let pods: Vec<PodReport> =
        claimed_pods(ds, slot, ctx.live_owner_uids).into_iter().map(|p| pod_report(ds, p)).collect();
    let verdict = if !placement.should_run {
        Verdict::Excluded
    } else if slot.pods.iter().any(|p| p.owner_uid() == Some(ds.uid.as_str()) && !p.node_name.is_empty()) {
        Verdict::Runs
    } else {
        match predict_fit(ds, node, slot) {
            super::fit::Fit::Runs => Verdict::Runs,
            super::fit::Fit::WillPend(why) => Verdict::WillPend(why),
        }
    };
    let actions = planned_actions(plan).into_iter().filter(|a| a.node == node.name).collect();
    Some(NodeReport { node: node.name.to_string(), placement, reasons, verdict, pods, actions })
}

/// Explains one node of a cluster; None when the view has no such node.
pub fn explain_node(
    ds: &Arc<CompiledDaemonSet>,
    view: &ClusterView,
    node: &str,
    ctx: &ManageContext<'_>,
    backoff: &FailedPodBackoff,
) -> Option<NodeReport> {
    let slot = view.slot(view.slot_of(node)?);
    let plan = dry_run(ds, view, ctx, backoff);
    node_report(ds, slot, &plan, ctx)
}

/// A dry run for a whole cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterReport {
    /// Nodes where shouldRun holds, in slot order.
    pub run_nodes: Vec<String>,
    pub excluded: Vec<NodeReport>,
    pub will_pend: Vec<NodeReport>,
    pub actions: Vec<PlannedAction>,
    pub status: StatusCounts,
    /// Every node, when asked for.
    pub nodes: Vec<NodeReport>,
}

/// The plan a round would make now, without touching the real backoff state.
fn dry_run(
    ds: &Arc<CompiledDaemonSet>,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    backoff: &FailedPodBackoff,
) -> Plan {
    let mut scratch = backoff.clone();
    Planner::new(Arc::clone(ds), view, ctx).plan_round(view, ctx, &mut scratch)
}

/// Plans a DaemonSet on a cluster without changing anything.
pub fn report_cluster(
    ds: &Arc<CompiledDaemonSet>,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    backoff: &FailedPodBackoff,
    include_all_nodes: bool,
) -> ClusterReport {
    let plan = dry_run(ds, view, ctx, backoff);
    let mut report = ClusterReport { actions: planned_actions(&plan), status: plan.status, ..ClusterReport::default() };
    for slot in view.slots() {
        let Some(node) = &slot.node else { continue };
        let placement = ds.policy.evaluate(node);
        if placement.should_run {
            report.run_nodes.push(node.name.to_string());
        }
        let needs_report = include_all_nodes || !placement.should_run || !predict_fit(ds, node, slot).runs();
        if !needs_report {
            continue;
        }
        let Some(node_report) = node_report(ds, slot, &plan, ctx) else { continue };
        match node_report.verdict {
            Verdict::Excluded => report.excluded.push(node_report.clone()),
            Verdict::WillPend(_) => report.will_pend.push(node_report.clone()),
            Verdict::Runs => {}
        }
        if include_all_nodes {
            report.nodes.push(node_report);
        }
    }
    report
}
