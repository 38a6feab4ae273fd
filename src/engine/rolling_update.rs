//! The rolling-update planner (reference 3.4): which old pods to delete (`maxSurge` 0: delete first, manage
//! recreates), or which nodes get a new pod beside the old one (`maxSurge` > 0: create first, delete once the new
//! pod is available), within the budgets of `spec.updateStrategy.rollingUpdate`. It runs after [`manage`] on the
//! same view, and is pure: the clock and the actions in flight come in the [`ManageContext`].
//!
//! Deterministic where upstream is not:
//! - **Candidate order is slot order** (node-name order for a view built by [`ClusterView::from_snapshot`]; a
//!   view changed by events reuses freed slot ids, so there it is the order nodes were first seen). Upstream walks
//!   a Go map, so only the counts are upstream's; which nodes go first is ours.
//!
//! Actions in flight (not yet seen in the view) count as done, as upstream's satisfied expectations imply:
//! - a pod in `ctx.deleting_pods` is treated like a terminating pod: invisible to `findUpdatedPodsOnNode`, so a
//!   node whose only pod is being deleted counts as unavailable (and, with surge, as empty);
//! - a node in `ctx.creating_nodes` holds a virtual pod of the current revision that is not available yet
//!   (unless a real pod of the current revision is already there): it counts as unavailable, and beside an old
//!   pod as a surge slot in use.
//!
//! So [`rolling_update`] may run in the same round as the manage plan it follows, with that plan's actions in
//! the context, and plans exactly what it would plan once they took effect. Its actions never repeat one in
//! flight. The burst cap (`ctx.burst`) applies to its creates and, separately, its deletes.
//!
//! Extensions (all off by default, which is upstream's behaviour), see [`RolloutOptions`]: `paused`,
//! `partition`, `node_selector` and `strict_budget`. Partition and node selector *hold back* nodes: the rolling
//! update starts nothing on a held-back node whose pod is old (no delete, no surge create, whatever the old pod's
//! availability). It still counts the node's availability, and an update already under way there (a new pod
//! beside an old one) finishes. manage itself is unaffected: a held-back node whose old pod is deleted by
//! someone gets a pod of the current revision (manage knows only the current template).
//!
//! Deviation from upstream: with surge, an old pod on a node missing from the view makes upstream's whole
//! rollingUpdate fail (node lookup error) until pod GC removes the pod. Here that node is skipped (no action; its
//! availability still counts) and the rest of the rollout goes on.
//!
//! [`manage`]: super::manage::manage

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::daemonset::CompiledDaemonSet;
use super::manage::{ClaimedPods, DeleteReason, ManageContext, PodDeletion, claimed_pods, is_available};
use super::model::{Node, Pod};
use super::view::{ClusterView, SlotId};
use crate::apiserver::intstr::scaled_value;

/// The rollout settings: apps/v1 RollingUpdate plus daemonplane's extensions (defaults = upstream behaviour).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutOptions {
    /// From spec.updateStrategy; None = OnDelete (no rolling update at all).
    pub rolling_update: Option<RollingParams>,
    /// Extension (OpenKruise partition): keep this many nodes (an int, or a percent of desiredNumberScheduled
    /// rounded DOWN) on old revisions; only the rest are updated. None or 0 = update all.
    ///
    /// Which nodes: among the nodes that should run the pod, those already updated or about to be (a pod of the
    /// current revision, a create in flight, or no live pod, which manage fills with the current revision) use up
    /// the `desired - partition` updatable places first; the remaining places go to nodes with an old pod (and
    /// matching `node_selector`) in slot order, and the rest, the last ones in slot order, are held back.
    pub partition: Option<IntOrString>,
    /// Extension: paused = no rolling-update deletes or surge creates at all (manage still runs).
    pub paused: bool,
    /// Extension: only nodes whose labels match this equality selector are updated (canary by node label); the
    /// others are held back. A node missing from the view never matches a non-empty selector. Empty = all nodes.
    pub node_selector: BTreeMap<String, String>,
    /// Extension (kubernetes#123232): unavailable OLD pods also count against the budget instead of bypassing
    /// it. Without surge, replacing them needs room under maxUnavailable left by the nodes already mid-update
    /// (empty, terminating, duplicate, old+new, or new and unavailable); with surge, the immediate new pod beside
    /// an unavailable old one needs room under maxSurge. Unavailable old pods still go first.
    pub strict_budget: bool,
}

/// spec.updateStrategy.rollingUpdate, defaulted.
#[derive(Clone, Debug, PartialEq)]
pub struct RollingParams {
    pub max_unavailable: IntOrString,
    pub max_surge: IntOrString,
}

impl Default for RollingParams {
    /// apps/v1 defaults: maxUnavailable 1, maxSurge 0.
    fn default() -> Self {
        RollingParams { max_unavailable: IntOrString::Int(1), max_surge: IntOrString::Int(0) }
    }
}

impl RolloutOptions {
    /// The upstream settings of a spec: type RollingUpdate (also when unset, the apps/v1 default) gives
    /// [`RollingParams`] with unset fields at their apps/v1 defaults (maxUnavailable 1, maxSurge 0); OnDelete or
    /// any other type gives None. The extensions stay at their defaults.
    pub fn from_spec(spec: &DaemonSetSpec) -> RolloutOptions {
        let strategy = spec.update_strategy.as_ref();
        let kind = strategy.and_then(|s| s.type_.as_deref()).filter(|t| !t.is_empty()).unwrap_or("RollingUpdate");
        let rolling_update = (kind == "RollingUpdate").then(|| {
            let ru = strategy.and_then(|s| s.rolling_update.as_ref());
            let defaults = RollingParams::default();
            RollingParams {
                max_unavailable: ru.and_then(|r| r.max_unavailable.clone()).unwrap_or(defaults.max_unavailable),
                max_surge: ru.and_then(|r| r.max_surge.clone()).unwrap_or(defaults.max_surge),
            }
        });
        RolloutOptions { rolling_update, ..RolloutOptions::default() }
    }
}

/// Why the rolling update deletes a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RolloutReason {
    /// No surge: an available pod of an old revision, deleted within maxUnavailable; manage recreates it at the
    /// current revision.
    Outdated,
    /// No surge: an old pod that is not available, replaced whatever the budget (upstream), or first within it
    /// (`strict_budget`).
    OutdatedUnavailable,
    /// Surge: the new pod beside it is available, so the old one retires.
    Superseded,
    /// Surge: an old pod that is not available, on a node that should no longer run the pod (shouldRun false,
    /// shouldContinueRunning true, e.g. an untolerated NoSchedule taint).
    UnavailableOnRetiredNode,
    /// Surge: an available old pod on a node that should no longer run the pod, retired once more pods are
    /// available than desired.
    SurplusOnRetiredNode,
}

impl RolloutReason {
    /// The nearest [`DeleteReason`] manage has, for the `reason` of the [`PodDeletion`]: `Duplicate` for the
    /// three replacements (manage's surge branch says Duplicate when it retires an old pod beside an available new
    /// one), `NodeNoLongerQualifies` for the two retired-node cases. A placeholder until `DeleteReason` gains a
    /// rolling-update variant; [`Replacement::why`] is the precise reason.
    pub fn delete_reason(self) -> DeleteReason {
        match self {
            RolloutReason::Outdated | RolloutReason::OutdatedUnavailable | RolloutReason::Superseded => {
                DeleteReason::RollingUpdate
            }
            RolloutReason::UnavailableOnRetiredNode | RolloutReason::SurplusOnRetiredNode => {
                DeleteReason::NodeNoLongerQualifies
            }
        }
    }

    /// The reason as a phrase, for explanations.
    pub fn phrase(self) -> &'static str {
        match self {
            RolloutReason::Outdated => "old revision, replaced within maxUnavailable",
            RolloutReason::OutdatedUnavailable => "old revision and not available, replaced",
            RolloutReason::Superseded => "old revision, its replacement on the node is available",
            RolloutReason::UnavailableOnRetiredNode => {
                "old revision, not available, on a node that no longer qualifies"
            }
            RolloutReason::SurplusOnRetiredNode => {
                "old revision on a node that no longer qualifies, and more pods are available than desired"
            }
        }
    }
}

/// One pod the rolling update deletes: the deletion as manage's plans carry it (its `reason` is
/// [`RolloutReason::delete_reason`]) and the precise reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub deletion: PodDeletion,
    pub why: RolloutReason,
}

/// What one rollingUpdate round decides (reference 3.4). Actions in flight are already taken into account (see
/// the module documentation), so nothing here repeats one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutRound {
    /// Deletes: without surge, unavailable old pods first, then available ones within the budget; with surge, in
    /// slot order, then the retired-node surplus. Capped at `ctx.burst`.
    pub deletes: Vec<Replacement>,
    /// Surge creates (node names): nodes with an unavailable old pod first, then candidates within maxSurge.
    /// Capped at `ctx.burst`. Always empty without surge (manage creates the replacements).
    pub creates: Vec<String>,
    /// maxUnavailable resolved against `desired` (with upstream's fallback to 1 when both budgets are 0).
    pub max_unavailable: i32,
    /// maxSurge resolved against `desired`.
    pub max_surge: i32,
    /// desiredNumberScheduled: nodes where shouldRun holds.
    pub desired: i32,
    /// Nodes counted unavailable by upstream's no-surge rule, before this round's actions: no live pod, duplicate
    /// pods, an old and a new pod, or only one pod and it is not available.
    pub num_unavailable: i32,
    /// Surge only: nodes using a surge slot before this round's creates (an old pod beside a new one that is not
    /// available yet, or duplicates).
    pub num_surge: i32,
    /// Nodes with an old pod that the extensions (partition, node selector) keep from being updated, slot order.
    pub held_back: Vec<String>,
    /// When a Ready pod reaches minReadySeconds, which may allow more (None if no pod is waiting for that).
    pub wake_at: Option<DateTime<Utc>>,
    /// An unusable budget (malformed percent): upstream's sync error. No actions then.
    pub error: Option<String>,
}

impl RolloutRound {
    /// No creates and no deletes.
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.deletes.is_empty()
    }

    /// The deletes as manage's plans carry them.
    pub fn pod_deletions(&self) -> Vec<PodDeletion> {
        self.deletes.iter().map(|r| r.deletion.clone()).collect()
    }
}

/// upstream updatedDesiredNodeCounts, and the shape of its TestGetUnavailableNumbers: the budgets, the desired
/// number, and how many should-run nodes have no pod at all (upstream's empty `nodeToDaemonPods` entries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnavailableNumbers {
    pub max_surge: i32,
    pub max_unavailable: i32,
    pub desired: i32,
    pub empty_slots: i32,
}

/// upstream updatedDesiredNodeCounts (scenario 73): maxSurge and maxUnavailable resolved against the nodes that
/// should run the pod (percents round up), with the fallback to maxUnavailable 1 when both are 0 and some node
/// should run it. Without rolling-update settings (OnDelete) both resolve to 0, then the same fallback applies.
/// A node with a create in flight is not empty.
pub fn unavailable_numbers(
    ds: &CompiledDaemonSet,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    options: &RolloutOptions,
) -> Result<UnavailableNumbers, String> {
    let (entries, _, _) = entries(ds, view, ctx, |_, node| ds.policy.evaluate(node).should_run, |_| Skip::Examine);
    let desired = entries.iter().filter(|e| e.should_run).count() as i32;
    let empty_slots = entries.iter().filter(|e| e.should_run && e.claimed.is_empty() && !e.creating).count() as i32;
    let (max_surge, max_unavailable) = budgets(options, desired)?;
    Ok(UnavailableNumbers { max_surge, max_unavailable, desired, empty_slots })
}

/// The partition extension's count: an int as is, a percent of `desired` rounded down; clamped to [0, desired].
pub fn partition_count(partition: &IntOrString, desired: i32) -> Result<i32, String> {
    // scaled_value validates the form (and gives upstream's error text); the percent is then rounded down.
    let up = scaled_value(partition, desired).map_err(|e| format!("invalid value for partition: {e}"))?;
    let n = match partition {
        IntOrString::Int(_) => up,
        IntOrString::String(raw) => {
            let pct: i64 =
                raw.trim_end_matches('%').parse().map_err(|e| format!("invalid value for partition: {e}"))?;
            (pct.saturating_mul(i64::from(desired)) / 100).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
        }
    };
    Ok(n.clamp(0, desired.max(0)))
}

/// upstream rollingUpdate for one DaemonSet in one cluster (reference 3.4), with the extensions of `options`.
pub fn rolling_update(
    ds: &CompiledDaemonSet,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    options: &RolloutOptions,
) -> RolloutRound {
    rolling_update_with(ds, view, ctx, options, |_, node| ds.policy.evaluate(node).should_run, |_| Skip::Examine)
}

/// How a caller that tracks nodes (a planner) classifies one for the rolling update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Examine the node's pods.
    Examine,
    /// Should run, and runs exactly one available pod of the current revision, nothing in flight: only counted.
    Settled,
    /// Should run, and runs exactly one available pod of an old revision, nothing in flight: a replacement
    /// candidate that adds nothing to the unavailable count, looked at only if its turn comes.
    Candidate,
}

/// [`rolling_update`] for a caller that already evaluated every node (a planner): `should_run` answers shouldRun,
/// and `skip` classifies nodes (see [`Skip`]) so that a round costs what it can change, not the cluster's size:
/// settled nodes are only counted, and candidates are looked at in node order only until the budget is spent.
/// Candidates are deferred only without a partition or rollout node selector, which rank every node.
pub fn rolling_update_with(
    ds: &CompiledDaemonSet,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    options: &RolloutOptions,
    should_run: impl Fn(SlotId, &Node) -> bool,
    skip: impl Fn(SlotId) -> Skip,
) -> RolloutRound {
    let may_defer = options.partition.is_none() && options.node_selector.is_empty();
    let classify = |id| match skip(id) {
        Skip::Candidate if !may_defer => Skip::Examine,
        other => other,
    };
    let (entries, settled, deferred) = entries(ds, view, ctx, should_run, classify);
    let deferred = Deferred { ids: deferred, ds, view, ctx };
    let desired = entries.iter().filter(|e| e.should_run).count() as i32 + settled + deferred.ids.len() as i32;
    let mut round = RolloutRound { desired, ..RolloutRound::default() };
    match budgets(options, desired) {
        Ok((max_surge, max_unavailable)) => {
            round.max_surge = max_surge;
            round.max_unavailable = max_unavailable;
        }
        Err(e) => {
            round.error = Some(e);
            return round;
        }
    }
    let nodes: Vec<OnNode<'_>> = entries.iter().map(|e| find_updated_pods_on_node(ds, e, ctx)).collect();
    let available = |pod: &Pod| is_available(pod, ds.min_ready_seconds, ctx.now);
    round.num_unavailable = nodes.iter().map(|n| i32::from(n.unavailable(&available))).sum();
    round.wake_at = wake_at(ds, &entries, ctx);
    let held = match held_back(&entries, &nodes, desired, settled, options) {
        Ok(held) => held,
        Err(e) => {
            round.error = Some(e);
            return round;
        }
    };
    round.held_back = entries.iter().zip(&held).filter(|(_, h)| **h).map(|(e, _)| e.name.to_string()).collect();
    if options.rolling_update.is_none() || options.paused {
        return round;
    }
    if round.max_surge == 0 {
        without_surge(&entries, &nodes, &held, &deferred, options.strict_budget, &available, &mut round);
    } else {
        with_surge(&entries, &nodes, &held, settled, &deferred, options.strict_budget, &available, &mut round);
    }
    round.deletes.truncate(ctx.burst);
    round.creates.truncate(ctx.burst);
    round
}

/// Delete first (maxSurge 0): unavailable old pods are replaced at once (within the budget too with
/// `strict_budget`); available old pods only while fewer than maxUnavailable nodes are unavailable.
fn without_surge(
    entries: &[Entry<'_>],
    nodes: &[OnNode<'_>],
    held: &[bool],
    deferred: &Deferred<'_, '_>,
    strict: bool,
    available: &impl Fn(&Pod) -> bool,
    round: &mut RolloutRound,
) {
    // Nodes unavailable because of the update itself (strict_budget's count); num_unavailable adds the nodes
    // whose only pod is old and unavailable.
    let mut busy = 0;
    let mut replacements: Vec<&Pod> = Vec::new();
    let mut candidates: Vec<(SlotId, &Pod)> = Vec::new();
    for ((entry, node), &held) in entries.iter().zip(nodes).zip(held) {
        match node {
            OnNode::Pods { new: None, old: Some(old) } => {
                if held {
                    continue;
                }
                if available(old) {
                    candidates.push((entry.id, old));
                } else {
                    replacements.push(old);
                }
            }
            other => busy += i32::from(other.unavailable(available)),
        }
    }
    let replaced = if strict { room(round.max_unavailable - busy, replacements.len()) } else { replacements.len() };
    let allowed = room(round.max_unavailable - round.num_unavailable, candidates.len() + deferred.ids.len());
    let chosen = deferred.merge(candidates, allowed, |id| deferred.old_pod(id));
    let deletes = replacements[..replaced]
        .iter()
        .map(|p| replacement(p, RolloutReason::OutdatedUnavailable))
        .chain(chosen.into_iter().map(|p| replacement(p, RolloutReason::Outdated)));
    round.deletes.extend(deletes);
}

/// Candidates the caller deferred: slot ids in node order, each with exactly one available old pod.
struct Deferred<'v, 'c> {
    ids: Vec<SlotId>,
    ds: &'v CompiledDaemonSet,
    view: &'v ClusterView,
    ctx: &'v ManageContext<'c>,
}

impl<'v> Deferred<'v, '_> {
    /// The old pod of a deferred node.
    fn old_pod(&self, id: SlotId) -> Option<&'v Pod> {
        claimed_pods(self.ds, self.view.slot(id), self.ctx.live_owner_uids).first().copied()
    }

    /// The first `n` of the examined `candidates` and the deferred nodes, in node (slot) order.
    fn merge<T>(&self, candidates: Vec<(SlotId, T)>, n: usize, deferred: impl Fn(SlotId) -> Option<T>) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        let (mut examined, mut later) = (candidates.into_iter().peekable(), self.ids.iter().copied().peekable());
        while out.len() < n {
            let take_examined = match (examined.peek(), later.peek()) {
                (Some((a, _)), Some(b)) => a < b,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_examined {
                out.extend(examined.next().map(|(_, c)| c));
            } else if let Some(c) = later.next().and_then(&deferred) {
                out.push(c);
            }
        }
        out
    }
}

/// Create first (maxSurge > 0): a new pod beside every unavailable old pod at once (within maxSurge too with
/// `strict_budget`), beside available old pods within maxSurge; old pods retire once the new pod is available.
#[allow(clippy::too_many_arguments)]
fn with_surge(
    entries: &[Entry<'_>],
    nodes: &[OnNode<'_>],
    held: &[bool],
    settled: i32,
    deferred: &Deferred<'_, '_>,
    strict: bool,
    available: &impl Fn(&Pod) -> bool,
    round: &mut RolloutRound,
) {
    let mut num_surge = 0;
    // Settled and deferred nodes are available; deferred ones are surge candidates.
    let mut num_available = settled + deferred.ids.len() as i32;
    let mut not_run: Vec<&Pod> = Vec::new();
    let mut allowed_new: Vec<&str> = Vec::new();
    let mut candidates: Vec<(SlotId, &str)> = Vec::new();
    for ((entry, node), &held) in entries.iter().zip(nodes).zip(held) {
        let OnNode::Pods { new, old } = node else {
            // Duplicates: manage prunes them first; the node counts as a surge slot in use.
            num_surge += 1;
            continue;
        };
        // Availability counts every node, the retiring ones included.
        match (old, new) {
            (Some(old), _) => num_available += i32::from(available(old)),
            (None, Some(new)) => num_available += i32::from(new.available(available)),
            (None, None) => {}
        }
        let Some(old) = old else { continue };
        match new {
            Some(new) if !new.available(available) => num_surge += 1,
            Some(_) => round.deletes.push(replacement(old, RolloutReason::Superseded)),
            None if held || entry.node.is_none() => {}
            None if !available(old) => {
                if entry.should_run {
                    allowed_new.push(entry.name);
                } else {
                    round.deletes.push(replacement(old, RolloutReason::UnavailableOnRetiredNode));
                }
            }
            None if !entry.should_run => not_run.push(old),
            None => candidates.push((entry.id, entry.name)),
        }
    }
    // With surge the owner expects full availability: a pod on a node that no longer qualifies goes only once
    // more pods are available than desired.
    let surplus = room(num_available - round.desired, not_run.len());
    round.deletes.extend(not_run[..surplus].iter().map(|p| replacement(p, RolloutReason::SurplusOnRetiredNode)));
    let mut left = (round.max_surge - num_surge).max(0);
    let immediate = if strict { room(left, allowed_new.len()) } else { allowed_new.len() };
    if strict {
        left -= immediate as i32;
    }
    let surged = room(left, candidates.len() + deferred.ids.len());
    let chosen = deferred.merge(candidates, surged, |id| Some(deferred.view.slot(id).name.as_str()));
    round.creates.extend(allowed_new[..immediate].iter().chain(&chosen).map(|n| n.to_string()));
    round.num_surge = num_surge;
}

/// `n` clamped to [0, len].
fn room(n: i32, len: usize) -> usize {
    usize::try_from(n.max(0)).unwrap_or(0).min(len)
}

fn replacement(pod: &Pod, why: RolloutReason) -> Replacement {
    Replacement {
        deletion: PodDeletion {
            namespace: pod.namespace.to_string(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            node: pod.target_node_name().unwrap_or_default().to_string(),
            reason: why.delete_reason(),
        },
        why,
    }
}

/// upstream GetScaledValueFromIntOrPercent (rounding up) for both budgets, then the 0/0 fallback.
fn budgets(options: &RolloutOptions, desired: i32) -> Result<(i32, i32), String> {
    let (max_unavailable, max_surge) = match &options.rolling_update {
        None => (0, 0),
        Some(p) => (
            scaled_value(&p.max_unavailable, desired).map_err(|e| format!("invalid value for MaxUnavailable: {e}"))?,
            scaled_value(&p.max_surge, desired).map_err(|e| format!("invalid value for MaxSurge: {e}"))?,
        ),
    };
    // An impossible configuration (validation bypassed): accept unavailability, as upstream does.
    let max_unavailable = if desired > 0 && max_unavailable == 0 && max_surge == 0 { 1 } else { max_unavailable };
    Ok((max_surge, max_unavailable))
}

/// One entry of upstream's `nodeToDaemonPods` after updatedDesiredNodeCounts: a node that should run the pod,
/// or any node (existing or not) with claimed pods, or with a create in flight.
struct Entry<'v> {
    id: SlotId,
    name: &'v str,
    node: Option<&'v Node>,
    should_run: bool,
    /// Claimed pods in upstream's order, terminating ones included (terminal ones being deleted excluded).
    claimed: ClaimedPods<'v>,
    /// A create for this DaemonSet is in flight on the node.
    creating: bool,
}

/// The nodes the rolling update examines, how many settled nodes it only counts, and the deferred candidates.
fn entries<'v>(
    ds: &CompiledDaemonSet,
    view: &'v ClusterView,
    ctx: &ManageContext<'_>,
    should_run: impl Fn(SlotId, &Node) -> bool,
    skip: impl Fn(SlotId) -> Skip,
) -> (Vec<Entry<'v>>, i32, Vec<SlotId>) {
    let mut entries = Vec::new();
    let mut settled_nodes = 0;
    let mut deferred = Vec::new();
    for (id, slot) in view.slots().iter().enumerate() {
        if slot.name.is_empty() {
            continue;
        }
        match skip(id as SlotId) {
            Skip::Settled => {
                settled_nodes += 1;
                continue;
            }
            Skip::Candidate => {
                deferred.push(id as SlotId);
                continue;
            }
            Skip::Examine => {}
        }
        let node = slot.node.as_ref();
        let should_run = node.is_some_and(|n| should_run(id as SlotId, n));
        let claimed =
            if slot.pods.is_empty() { ClaimedPods::new() } else { claimed_pods(ds, slot, ctx.live_owner_uids) };
        let creating = ctx.creating_nodes.contains(slot.name.as_str());
        if should_run || creating || !claimed.is_empty() {
            entries.push(Entry { id: id as SlotId, name: &slot.name, node, should_run, claimed, creating });
        }
    }
    (entries, settled_nodes, deferred)
}

/// The pod of the current revision on a node.
#[derive(Clone, Copy)]
enum NewPod<'v> {
    Pod(&'v Pod),
    /// A create in flight: not available yet.
    InFlight,
}

impl NewPod<'_> {
    fn available(self, available: &impl Fn(&Pod) -> bool) -> bool {
        match self {
            NewPod::Pod(p) => available(p),
            NewPod::InFlight => false,
        }
    }
}

/// upstream findUpdatedPodsOnNode.
#[derive(Clone, Copy)]
enum OnNode<'v> {
    /// More than one live pod of the current revision, or of old ones: manage prunes the node first.
    Excess {
        has_new: bool,
    },
    Pods {
        new: Option<NewPod<'v>>,
        old: Option<&'v Pod>,
    },
}

impl OnNode<'_> {
    /// upstream's no-surge unavailability rule for one node.
    fn unavailable(&self, available: &impl Fn(&Pod) -> bool) -> bool {
        match *self {
            OnNode::Excess { .. } => true,
            OnNode::Pods { new: None, old: None } | OnNode::Pods { new: Some(_), old: Some(_) } => true,
            OnNode::Pods { new: Some(new), old: None } => !new.available(available),
            OnNode::Pods { new: None, old: Some(old) } => !available(old),
        }
    }

    /// The node runs old revisions only (duplicates included): not updated yet, for the partition's count and
    /// the held-back list.
    fn not_updated(&self) -> bool {
        matches!(self, OnNode::Excess { has_new: false } | OnNode::Pods { new: None, old: Some(_) })
    }
}

fn is_current(ds: &CompiledDaemonSet, pod: &Pod) -> bool {
    !ds.hash.is_empty() && pod.revision_hash() == Some(ds.hash.as_str())
}

/// upstream findUpdatedPodsOnNode over the live pods (not terminating, no delete in flight), plus the virtual
/// pod of a create in flight.
fn find_updated_pods_on_node<'v>(ds: &CompiledDaemonSet, entry: &Entry<'v>, ctx: &ManageContext<'_>) -> OnNode<'v> {
    let (mut new, mut old, mut excess) = (None, None, false);
    for &pod in entry.claimed.iter().filter(|p| !p.is_terminating() && !ctx.deleting_pods.contains(&p.uid)) {
        let slot = if is_current(ds, pod) { &mut new } else { &mut old };
        excess |= slot.replace(pod).is_some();
    }
    if excess {
        return OnNode::Excess { has_new: new.is_some() || entry.creating };
    }
    let new = match new {
        Some(p) => Some(NewPod::Pod(p)),
        None if entry.creating => Some(NewPod::InFlight),
        None => None,
    };
    OnNode::Pods { new, old }
}

/// Which entries the extensions hold back (partition, node selector), among those with only an old pod.
fn held_back(
    entries: &[Entry<'_>],
    nodes: &[OnNode<'_>],
    desired: i32,
    settled: i32,
    options: &RolloutOptions,
) -> Result<Vec<bool>, String> {
    let selected = |e: &Entry<'_>| {
        options.node_selector.is_empty()
            || e.node.is_some_and(|n| options.node_selector.iter().all(|(k, v)| n.labels.get(k) == Some(v)))
    };
    let mut held: Vec<bool> = entries.iter().zip(nodes).map(|(e, n)| n.not_updated() && !selected(e)).collect();
    let partition = match &options.partition {
        Some(p) => partition_count(p, desired)?,
        None => 0,
    };
    if partition > 0 {
        // Updated (or about to be) should-run nodes take the updatable places first.
        let updated = entries.iter().zip(nodes).filter(|(e, n)| e.should_run && !n.not_updated()).count()
            + usize::try_from(settled).unwrap_or(0);
        let mut places = usize::try_from(desired - partition).unwrap_or(0).saturating_sub(updated);
        for ((e, n), h) in entries.iter().zip(nodes).zip(held.iter_mut()) {
            if !e.should_run || *h || !n.not_updated() {
                continue;
            }
            if places > 0 {
                places -= 1;
            } else {
                *h = true;
            }
        }
    }
    Ok(held)
}

/// The earliest instant a Ready pod that is not available yet becomes available (minReadySeconds).
fn wake_at(ds: &CompiledDaemonSet, entries: &[Entry<'_>], ctx: &ManageContext<'_>) -> Option<DateTime<Utc>> {
    if ds.min_ready_seconds <= 0 {
        return None;
    }
    entries
        .iter()
        .flat_map(|e| &e.claimed)
        .filter(|p| p.ready && !p.is_terminating())
        .filter_map(|p| p.ready_since.map(|since| since + Duration::seconds(i64::from(ds.min_ready_seconds))))
        .filter(|at| *at >= ctx.now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSetUpdateStrategy, RollingUpdateDaemonSet};

    fn spec(strategy: Option<DaemonSetUpdateStrategy>) -> DaemonSetSpec {
        DaemonSetSpec { update_strategy: strategy, ..DaemonSetSpec::default() }
    }

    #[test]
    fn from_spec_follows_the_apps_v1_defaults() {
        let rolling = |ru: Option<RollingUpdateDaemonSet>| DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: ru,
        };
        assert_eq!(RolloutOptions::from_spec(&spec(None)).rolling_update, Some(RollingParams::default()));
        assert_eq!(
            RolloutOptions::from_spec(&spec(Some(rolling(None)))).rolling_update,
            Some(RollingParams::default())
        );
        let surge = RollingUpdateDaemonSet {
            max_surge: Some(IntOrString::String("25%".to_string())),
            max_unavailable: Some(IntOrString::Int(0)),
        };
        assert_eq!(
            RolloutOptions::from_spec(&spec(Some(rolling(Some(surge))))).rolling_update,
            Some(RollingParams {
                max_unavailable: IntOrString::Int(0),
                max_surge: IntOrString::String("25%".to_string())
            })
        );
        let on_delete = DaemonSetUpdateStrategy { type_: Some("OnDelete".to_string()), rolling_update: None };
        let options = RolloutOptions::from_spec(&spec(Some(on_delete)));
        assert_eq!(options, RolloutOptions::default());
    }

    #[test]
    fn budgets_round_up_and_fall_back_to_one_unavailable() {
        let opts = |mu: IntOrString, ms: IntOrString| RolloutOptions {
            rolling_update: Some(RollingParams { max_unavailable: mu, max_surge: ms }),
            ..RolloutOptions::default()
        };
        let pct = |s: &str| IntOrString::String(s.to_string());
        assert_eq!(budgets(&opts(pct("50%"), IntOrString::Int(0)), 3), Ok((0, 2)));
        assert_eq!(budgets(&opts(IntOrString::Int(0), pct("10%")), 5), Ok((1, 0)));
        assert_eq!(budgets(&opts(IntOrString::Int(0), IntOrString::Int(0)), 2), Ok((0, 1)));
        assert_eq!(budgets(&opts(IntOrString::Int(0), IntOrString::Int(0)), 0), Ok((0, 0)));
        assert_eq!(budgets(&RolloutOptions::default(), 4), Ok((0, 1)), "OnDelete resolves to 0/0, then falls back");
        assert!(
            budgets(&opts(pct("x%"), IntOrString::Int(0)), 3)
                .unwrap_err()
                .starts_with("invalid value for MaxUnavailable")
        );
    }

    #[test]
    fn partition_percent_rounds_down_and_is_clamped() {
        let pct = |s: &str| IntOrString::String(s.to_string());
        assert_eq!(partition_count(&pct("50%"), 5), Ok(2));
        assert_eq!(partition_count(&pct("99%"), 10), Ok(9));
        assert_eq!(partition_count(&pct("100%"), 7), Ok(7));
        assert_eq!(partition_count(&pct("0%"), 7), Ok(0));
        assert_eq!(partition_count(&IntOrString::Int(9), 4), Ok(4));
        assert_eq!(partition_count(&IntOrString::Int(-3), 4), Ok(0));
        assert!(partition_count(&pct("abc"), 4).is_err());
    }

    #[test]
    fn room_clamps() {
        assert_eq!(room(-2, 5), 0);
        assert_eq!(room(3, 5), 3);
        assert_eq!(room(9, 5), 5);
    }
}
