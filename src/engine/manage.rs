//! Per-node reconcile (upstream syncDaemonSet -> manage -> podsShouldBeOnNode) and status (reference sections
//! 2 and 5), kept incrementally: a [`Planner`] holds one outcome per node slot, so an event re-evaluates only
//! the slots it touched, and a plan costs what is pending, not the cluster's size. Pure: the clock, in-flight
//! actions and backoff state are arguments.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::backoff::FailedPodBackoff;
use super::daemonset::CompiledDaemonSet;
use smallvec::SmallVec;

use super::fit::{Fit, PodDemand, predict};
use super::model::{Pod, PodPhase};
use super::placement::{Placement, PlacementEvaluator};
use super::rolling_update::{Skip, rolling_update_with};
use super::status::StatusCounts;
use super::view::{ClusterView, Slot, SlotId};

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
    /// Phase Failed: replaced once it is gone (with backoff).
    Failed,
    /// Phase Succeeded: replaced once it is gone.
    Succeeded,
    /// Never scheduled, and its node no longer exists.
    NodeGone,
    /// The DaemonSet was deleted, or this cluster dropped from its targets.
    Removed,
    /// An old revision replaced by the rolling update.
    RollingUpdate,
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
            namespace: pod.namespace.to_string(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            node: pod.target_node_name().unwrap_or_default().to_string(),
            reason,
        }
    }
}

/// The actions of one round for one DaemonSet in one cluster, and its status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Nodes that get a new pod, in slot order (node-name order for a snapshot).
    pub creates: Vec<String>,
    pub deletes: Vec<PodDeletion>,
    /// Status of the view as it is (before these actions take effect).
    pub status: StatusCounts,
    /// When planning again could give more (a failed pod's backoff or a pod's minReadySeconds ends).
    pub wake_at: Option<DateTime<Utc>>,
    /// Why the rolling update could not run this round (a malformed budget).
    pub rollout_error: Option<String>,
}

/// Per-node outcome, as bits: what placement said, whether a pod is wanted, and the node's status share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeOutcome(u16);

impl NodeOutcome {
    const SHOULD_RUN: u16 = 1;
    const SHOULD_CONTINUE: u16 = 1 << 1;
    const CREATE: u16 = 1 << 2;
    const CURRENT: u16 = 1 << 3;
    const MISSCHEDULED: u16 = 1 << 4;
    const READY: u16 = 1 << 5;
    const AVAILABLE: u16 = 1 << 6;
    const UPDATED: u16 = 1 << 7;
    const EXISTS: u16 = 1 << 8;
    const PENDING: u16 = 1 << 9;
    const RUNS_CURRENT: u16 = 1 << 10;
    const SETTLED: u16 = 1 << 11;
    const CANDIDATE: u16 = 1 << 12;

    fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// Sets `bit` when `on` (never clears), without a branch.
    #[inline(always)]
    fn set(&mut self, bit: u16, on: bool) {
        self.0 |= bit * u16::from(on);
    }

    pub fn placement(self) -> Placement {
        Placement { should_run: self.has(Self::SHOULD_RUN), should_continue_running: self.has(Self::SHOULD_CONTINUE) }
    }

    /// The node wants a new pod (before in-flight creates are taken into account).
    pub fn wants_create(self) -> bool {
        self.has(Self::CREATE)
    }

    /// Adds (sign 1) or removes (sign -1) this node's share of the status counters.
    fn count(self, s: &mut StatusCounts, sign: i32) {
        if !self.has(Self::EXISTS) {
            return;
        }
        let n = |bit| if self.has(bit) { sign } else { 0 };
        s.desired_number_scheduled += n(Self::SHOULD_RUN);
        s.current_number_scheduled += n(Self::CURRENT);
        s.number_misscheduled += n(Self::MISSCHEDULED);
        s.number_ready += n(Self::READY);
        s.number_available += n(Self::AVAILABLE);
        s.updated_number_scheduled += n(Self::UPDATED);
        s.predicted_pending += n(Self::PENDING);
    }
}

/// upstream podByCreationTimestampAndPhase: scheduled pods first, then older first, then by name.
pub fn pod_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    a.node_name
        .is_empty()
        .cmp(&b.node_name.is_empty())
        // A pod without a creation time sorts as Go's zero time: oldest.
        .then_with(|| a.created_at.cmp(&b.created_at))
        .then_with(|| a.name.cmp(&b.name))
}

/// Ready and, with minReadySeconds, Ready for strictly longer than that (reference 3.2).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    available_at(pod, min_ready_seconds).is_some_and(|at| at < now)
}

/// The instant after which a Ready pod counts as available (None while not Ready).
fn available_at(pod: &Pod, min_ready_seconds: i32) -> Option<DateTime<Utc>> {
    if !pod.ready {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(DateTime::<Utc>::MIN_UTC);
    }
    // upstream reads a missing lastTransitionTime as the zero time: long enough ago.
    let since = pod.ready_since.unwrap_or(DateTime::<Utc>::MIN_UTC);
    since.checked_add_signed(Duration::seconds(i64::from(min_ready_seconds))).or(Some(since))
}

/// A node's claimed pods: almost always one, kept inline so the per-node hot path does not allocate.
pub type ClaimedPods<'v> = SmallVec<[&'v Pod; 2]>;

/// upstream getNodesToDaemonPods for one node: the pods the DaemonSet claims, minus terminal pods that are
/// already being deleted, in upstream's order.
pub fn claimed_pods<'v>(ds: &CompiledDaemonSet, slot: &'v Slot, live_owner_uids: &HashSet<String>) -> ClaimedPods<'v> {
    let keep =
        |p: &&Pod| !(p.phase.is_terminal() && p.is_terminating()) && ds.claims(p, |uid| live_owner_uids.contains(uid));
    // The usual case, one pod, without the iterator machinery.
    if let [only] = slot.pods.as_slice() {
        let mut pods = ClaimedPods::new();
        if keep(&only) {
            pods.push(only);
        }
        return pods;
    }
    let mut pods: ClaimedPods<'v> = slot.pods.iter().filter(keep).collect();
    if pods.len() > 1 {
        pods.sort_by(|a, b| pod_order(a, b));
    }
    pods
}

/// One node's evaluation.
struct Evaluation {
    outcome: NodeOutcome,
    deletes: Vec<PodDeletion>,
    /// When the node's first pod becomes available, if that is still ahead.
    wake_at: Option<DateTime<Utc>>,
    /// Distinct revision hashes of the node's pods other than the current one (empty in the steady state).
    old_hashes: Vec<String>,
}

/// podsShouldBeOnNode plus the node's status share (reference 2.4 and 5). `cached` is the node's placement
/// when it is known not to have changed since it was evaluated.
fn evaluate<'v>(
    ds: &CompiledDaemonSet,
    slot: &'v Slot,
    ctx: &ManageContext<'_>,
    placement: &mut PlacementEvaluator<'_, 'v>,
    cached: Option<Placement>,
) -> Evaluation {
    let mut ev =
        Evaluation { outcome: NodeOutcome::default(), deletes: Vec::new(), wake_at: None, old_hashes: Vec::new() };
    // The outcome is built in its own local and stored once at the end: kept apart from `ev` (which is lent
    // out), it stays in a register instead of being written bit by bit and read back from memory.
    let mut o = NodeOutcome::default();
    // A free slot has neither; its name is not read, which would cost a cache miss per node.
    if slot.node.is_none() && slot.pods.is_empty() {
        return ev;
    }
    let pods = if slot.pods.is_empty() { ClaimedPods::new() } else { claimed_pods(ds, slot, ctx.live_owner_uids) };
    // Which revisions run here: what revision history may not prune, and what ListRevisions reports.
    let mut first_is_current = false;
    for (i, pod) in pods.iter().enumerate() {
        let hash = ds.revision_hash_of(pod);
        first_is_current |= i == 0 && hash.is_some_and(|h| h.is(&ds.hash));
        match hash {
            Some(h) if h.is(&ds.hash) => o.set(NodeOutcome::RUNS_CURRENT, true),
            Some(h) if !ev.old_hashes.iter().any(|o| o == h) => ev.old_hashes.push(h.to_string()),
            _ => {}
        }
    }
    let Some(node) = &slot.node else {
        ev.outcome = o;
        // Pods pinned to a node that is gone and never scheduled: pod GC cannot remove them, so manage does.
        for pod in pods.iter().filter(|p| p.node_name.is_empty() && !p.is_terminating()) {
            ev.deletes.push(PodDeletion::of(pod, DeleteReason::NodeGone));
        }
        return ev;
    };
    let placement = cached.unwrap_or_else(|| placement.evaluate(node));
    o.set(NodeOutcome::EXISTS, true);
    o.set(NodeOutcome::SHOULD_RUN, placement.should_run);
    o.set(NodeOutcome::SHOULD_CONTINUE, placement.should_continue_running);
    if placement.should_run && pods.is_empty() {
        o.set(NodeOutcome::CREATE, true);
    } else if placement.should_continue_running {
        let mut running = ClaimedPods::new();
        for pod in pods.iter().filter(|p| !p.is_terminating()) {
            match pod.phase {
                PodPhase::Failed => ev.deletes.push(PodDeletion::of(pod, DeleteReason::Failed)),
                PodPhase::Succeeded => ev.deletes.push(PodDeletion::of(pod, DeleteReason::Succeeded)),
                _ => running.push(pod),
            }
        }
        // `pods`, and so `running`, is in upstream's order.
        if !ds.allows_surge {
            // The first running pod stays; the others are pruned.
            for pod in running.iter().skip(1) {
                ev.deletes.push(PodDeletion::of(pod, DeleteReason::Duplicate));
            }
        } else if running.is_empty() {
            // With surge a replacement starts even while old pods still terminate.
            o.set(NodeOutcome::CREATE, placement.should_run);
        } else if running.len() > 1 {
            surge_prune(ds, &running, ctx.now, &mut ev);
        }
    } else {
        for pod in pods.iter().filter(|p| !p.is_terminating()) {
            ev.deletes.push(PodDeletion::of(pod, DeleteReason::NodeNoLongerQualifies));
        }
    }
    if !placement.should_run {
        o.set(NodeOutcome::MISSCHEDULED, !pods.is_empty());
    } else if let Some(first) = pods.first() {
        o.set(NodeOutcome::CURRENT, true);
        o.set(NodeOutcome::READY, first.ready);
        if let Some(at) = available_at(first, ds.min_ready_seconds) {
            if at < ctx.now {
                o.set(NodeOutcome::AVAILABLE, true);
            } else {
                ev.wake_at = Some(ev.wake_at.map_or(at, |w| w.min(at)));
            }
        }
        o.set(NodeOutcome::UPDATED, !ds.hash.is_empty() && first_is_current);
    }
    // Settled: the node's only pod is available and of the current revision; a rolling update only counts it.
    let settled = placement.should_run
        && pods.len() == 1
        && !pods[0].is_terminating()
        && o.has(NodeOutcome::AVAILABLE)
        && o.has(NodeOutcome::UPDATED)
        && ev.old_hashes.is_empty();
    o.set(NodeOutcome::SETTLED, settled);
    // Candidate: the node's only pod is available and of an old revision (or none): the rolling update's
    // replacement candidate, which it may look at only when its turn comes.
    let candidate = placement.should_run
        && pods.len() == 1
        && !pods[0].is_terminating()
        && o.has(NodeOutcome::AVAILABLE)
        && !o.has(NodeOutcome::RUNS_CURRENT);
    o.set(NodeOutcome::CANDIDATE, candidate);
    // Fit prediction only where the pod has not been bound yet: a bound pod already passed the scheduler.
    if placement.should_run && pods.first().is_none_or(|p| p.node_name.is_empty()) {
        o.set(NodeOutcome::PENDING, !predict_fit(ds, node, slot).runs());
    }
    ev.outcome = o;
    ev
}

/// Fit of the DaemonSet's pod on a node, counting the other daemonplane pods there (the shim's summary of
/// other pods leaves them out).
pub fn predict_fit(ds: &CompiledDaemonSet, node: &super::model::Node, slot: &Slot) -> Fit {
    let others: Vec<&PodDemand> = slot
        .pods
        .iter()
        .filter(|p| p.owner_uid() != Some(ds.uid.as_str()) && !p.phase.is_terminal())
        .map(|p| &p.demand)
        .collect();
    predict(&ds.demand, node, &others)
}

/// Surge with several running pods on a node (reference 2.4 step 6): keep the oldest pod of the current revision
/// and the oldest other one, delete the rest; retire the old one once it is unready or the new one available.
fn surge_prune(ds: &CompiledDaemonSet, running: &[&Pod], now: DateTime<Utc>, ev: &mut Evaluation) {
    let is_new = |p: &Pod| !ds.hash.is_empty() && p.revision_hash() == Some(ds.hash.as_str());
    let oldest_new = running.iter().position(|p| is_new(p));
    let oldest_old = running.iter().position(|p| !is_new(p));
    for (i, pod) in running.iter().enumerate() {
        if Some(i) != oldest_new && Some(i) != oldest_old {
            ev.deletes.push(PodDeletion::of(pod, DeleteReason::Duplicate));
        }
    }
    let Some(old) = oldest_old.map(|i| running[i]) else { return };
    if !old.ready {
        ev.deletes.push(PodDeletion::of(old, DeleteReason::Duplicate));
    } else if let Some(new) = oldest_new.map(|i| running[i]) {
        match available_at(new, ds.min_ready_seconds) {
            Some(at) if at < now => ev.deletes.push(PodDeletion::of(old, DeleteReason::Duplicate)),
            Some(at) => ev.wake_at = Some(ev.wake_at.map_or(at, |w| w.min(at))),
            None => {}
        }
    }
}

/// The plan of one DaemonSet in one cluster, kept up to date slot by slot.
#[derive(Clone, Debug)]
pub struct Planner {
    ds: Arc<CompiledDaemonSet>,
    outcomes: Vec<NodeOutcome>,
    /// The slot's node_version each outcome's placement was computed for: placement is reused while it holds.
    placed_at: Vec<u64>,
    /// Slots wanting a create, as a bitset over slot ids.
    creates: Vec<u64>,
    deletes: BTreeMap<SlotId, Vec<PodDeletion>>,
    /// Slots whose first pod becomes available later (minReadySeconds), by when.
    wakes: BTreeSet<(DateTime<Utc>, SlotId)>,
    wake_of: BTreeMap<SlotId, DateTime<Utc>>,
    status: StatusCounts,
    /// Old revision hashes per slot, only for slots that have any.
    old_hashes: BTreeMap<SlotId, Vec<String>>,
    /// Nodes running each revision hash (the current one included).
    usage: BTreeMap<String, i32>,
}

impl Planner {
    /// Evaluates every node of the view.
    pub fn new(ds: Arc<CompiledDaemonSet>, view: &ClusterView, ctx: &ManageContext<'_>) -> Self {
        let slots = view.slots().len();
        let mut planner = Planner {
            ds,
            outcomes: vec![NodeOutcome::default(); slots],
            placed_at: vec![0; slots],
            creates: vec![0; slots.div_ceil(64)],
            deletes: BTreeMap::new(),
            wakes: BTreeSet::new(),
            wake_of: BTreeMap::new(),
            status: StatusCounts::default(),
            old_hashes: BTreeMap::new(),
            usage: BTreeMap::new(),
        };
        let ds = Arc::clone(&planner.ds);
        let mut placement = ds.policy.evaluator();
        for (id, slot) in view.slots().iter().enumerate() {
            planner.placed_at[id] = slot.node_version;
            let ev = evaluate(&ds, slot, ctx, &mut placement, None);
            planner.store_first(id as SlotId, ev);
        }
        // Status and the nodes running the current revision, summed in one tight pass rather than per store.
        let mut runs_current = 0;
        for outcome in &planner.outcomes {
            outcome.count(&mut planner.status, 1);
            runs_current += i32::from(outcome.has(NodeOutcome::RUNS_CURRENT));
        }
        if runs_current != 0 {
            let hash = planner.ds.hash.clone();
            bump(&mut planner.usage, &hash, runs_current);
        }
        planner
    }

    /// Re-evaluates the given slots (those an event touched).
    pub fn refresh(&mut self, view: &ClusterView, slots: &[SlotId], ctx: &ManageContext<'_>) {
        let len = view.slots().len();
        if self.outcomes.len() < len {
            self.outcomes.resize(len, NodeOutcome::default());
            self.placed_at.resize(len, 0);
            self.creates.resize(len.div_ceil(64), 0);
        }
        let ds = Arc::clone(&self.ds);
        let mut placement = ds.policy.evaluator();
        for &id in slots {
            let slot = view.slot(id);
            // Only the pods changed (a rollout's usual event): the node's placement still holds.
            let outcome = self.outcomes[id as usize];
            let cached = (self.placed_at[id as usize] == slot.node_version && outcome.has(NodeOutcome::EXISTS))
                .then(|| outcome.placement());
            self.placed_at[id as usize] = slot.node_version;
            let ev = evaluate(&ds, slot, ctx, &mut placement, cached);
            self.store(id, ev);
        }
    }

    /// Re-evaluates the slots whose time has come (a pod reached minReadySeconds).
    pub fn advance(&mut self, view: &ClusterView, ctx: &ManageContext<'_>) {
        let due: Vec<SlotId> = self.wakes.iter().take_while(|(at, _)| *at < ctx.now).map(|(_, id)| *id).collect();
        if !due.is_empty() {
            self.refresh(view, &due, ctx);
        }
    }

    /// Stores a slot's first evaluation: nothing to undo; status and the current revision's usage are left to
    /// the caller, which sums them over all slots at once.
    fn store_first(&mut self, id: SlotId, ev: Evaluation) {
        let i = id as usize;
        self.outcomes[i] = ev.outcome;
        if !ev.old_hashes.is_empty() {
            for hash in &ev.old_hashes {
                bump(&mut self.usage, hash, 1);
            }
            self.old_hashes.insert(id, ev.old_hashes);
        }
        if ev.outcome.wants_create() {
            self.creates[i / 64] |= 1u64 << (i % 64);
        }
        if !ev.deletes.is_empty() {
            self.deletes.insert(id, ev.deletes);
        }
        if let Some(at) = ev.wake_at {
            self.wakes.insert((at, id));
            self.wake_of.insert(id, at);
        }
    }

    /// Replaces a slot's evaluation, undoing the old one's share of status and usage.
    fn store(&mut self, id: SlotId, ev: Evaluation) {
        let i = id as usize;
        let old = std::mem::replace(&mut self.outcomes[i], ev.outcome);
        old.count(&mut self.status, -1);
        ev.outcome.count(&mut self.status, 1);
        if old.has(NodeOutcome::RUNS_CURRENT) != ev.outcome.has(NodeOutcome::RUNS_CURRENT) {
            let delta = if ev.outcome.has(NodeOutcome::RUNS_CURRENT) { 1 } else { -1 };
            bump(&mut self.usage, &self.ds.hash, delta);
        }
        if !self.old_hashes.is_empty() || !ev.old_hashes.is_empty() {
            for hash in self.old_hashes.remove(&id).unwrap_or_default() {
                bump(&mut self.usage, &hash, -1);
            }
            for hash in &ev.old_hashes {
                bump(&mut self.usage, hash, 1);
            }
            if !ev.old_hashes.is_empty() {
                self.old_hashes.insert(id, ev.old_hashes);
            }
        }
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if ev.outcome.wants_create() {
            self.creates[word] |= bit;
        } else {
            self.creates[word] &= !bit;
        }
        if ev.deletes.is_empty() {
            if !self.deletes.is_empty() {
                self.deletes.remove(&id);
            }
        } else {
            self.deletes.insert(id, ev.deletes);
        }
        if !self.wake_of.is_empty()
            && let Some(at) = self.wake_of.remove(&id)
        {
            self.wakes.remove(&(at, id));
        }
        if let Some(at) = ev.wake_at {
            self.wakes.insert((at, id));
            self.wake_of.insert(id, at);
        }
    }

    /// How many nodes run a pod of each revision hash.
    pub fn revision_usage(&self) -> &BTreeMap<String, i32> {
        &self.usage
    }

    /// The outcome of one node slot.
    pub fn outcome(&self, id: SlotId) -> NodeOutcome {
        self.outcomes.get(id as usize).copied().unwrap_or_default()
    }

    /// Status from the current outcomes; observedGeneration follows upstream's expectations rule.
    pub fn status(&self, in_flight: bool, observed_generation: i64) -> StatusCounts {
        let mut s = self.status;
        s.number_unavailable = s.desired_number_scheduled - s.number_available;
        s.observed_generation = if in_flight { observed_generation } else { self.ds.generation };
        s
    }

    /// The actions to take now: creates not already in flight, deletes not already in flight, Failed pods only
    /// outside their backoff (starting the next one), each list capped at the burst.
    pub fn plan(&self, view: &ClusterView, ctx: &ManageContext<'_>, backoff: &mut FailedPodBackoff) -> Plan {
        let mut plan = Plan::default();
        'creates: for (w, word) in self.creates.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let id = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let name = &view.slot(id as SlotId).name;
                if !ctx.creating_nodes.contains(name.as_str()) {
                    if plan.creates.len() == ctx.burst {
                        break 'creates;
                    }
                    plan.creates.push(name.to_string());
                }
            }
        }
        for deletion in self.deletes.values().flatten() {
            if plan.deletes.len() == ctx.burst {
                break;
            }
            if ctx.deleting_pods.contains(&deletion.uid) {
                continue;
            }
            if deletion.reason == DeleteReason::Failed {
                let key = FailedPodBackoff::key(&self.ds.uid, ctx.observed_generation, &deletion.node);
                if backoff.is_in_backoff(&key, ctx.now) {
                    plan.wake_at = min_time(plan.wake_at, backoff.until(&key));
                    continue;
                }
                backoff.next(&key, ctx.now);
            }
            plan.deletes.push(deletion.clone());
        }
        plan.wake_at = min_time(plan.wake_at, self.wakes.first().map(|(at, _)| *at));
        let in_flight = !ctx.creating_nodes.is_empty()
            || ctx.deleting_pods.iter().any(|uid| view.pod(uid).is_some_and(|p| p.owner_uid() == Some(&self.ds.uid)));
        plan.status = self.status(in_flight, ctx.observed_generation);
        plan
    }
}

impl Planner {
    /// One full round, as upstream's syncDaemonSet: manage, then rollingUpdate (RollingUpdate strategy only).
    pub fn plan_round(&self, view: &ClusterView, ctx: &ManageContext<'_>, backoff: &mut FailedPodBackoff) -> Plan {
        let mut plan = self.plan(view, ctx, backoff);
        self.roll(view, ctx, &mut plan);
        plan
    }

    /// upstream rollingUpdate, in the same round as manage with manage's actions counted as in flight (what
    /// upstream's sync sees once they are observed). It scans every node, so it runs only while some node
    /// still runs an old revision.
    fn roll(&self, view: &ClusterView, ctx: &ManageContext<'_>, plan: &mut Plan) {
        let options = &self.ds.rollout;
        if options.rolling_update.is_none() || !self.usage.keys().any(|h| *h != self.ds.hash) {
            return;
        }
        let mut creating = ctx.creating_nodes.clone();
        creating.extend(plan.creates.iter().cloned());
        let mut deleting = ctx.deleting_pods.clone();
        deleting.extend(plan.deletes.iter().map(|d| d.uid.clone()));
        let round_ctx = ManageContext { creating_nodes: &creating, deleting_pods: &deleting, ..*ctx };
        // The planner already knows which nodes should run the pod, and which are settled — except nodes with an
        // action in flight, which the rolling update must examine.
        let mut busy = vec![false; view.slots().len()];
        let in_flight_slots = creating
            .iter()
            .filter_map(|n| view.slot_of(n))
            .chain(deleting.iter().filter_map(|uid| view.pod(uid)?.target_node_name()).filter_map(|n| view.slot_of(n)));
        for id in in_flight_slots {
            busy[id as usize] = true;
        }
        let should_run = |id: SlotId, _: &super::model::Node| self.outcome(id).placement().should_run;
        let skip = |id: SlotId| {
            let outcome = self.outcome(id);
            if busy[id as usize] {
                Skip::Examine
            } else if outcome.has(NodeOutcome::SETTLED) {
                Skip::Settled
            } else if outcome.has(NodeOutcome::CANDIDATE) {
                Skip::Candidate
            } else {
                Skip::Examine
            }
        };
        let round = rolling_update_with(&self.ds, view, &round_ctx, options, should_run, skip);
        if let Some(error) = &round.error {
            // A malformed budget stops the rolling update, as upstream's sync error does; manage still runs.
            plan.rollout_error = Some(error.clone());
        }
        for create in round.creates {
            if plan.creates.len() < ctx.burst {
                plan.creates.push(create);
            }
        }
        for replacement in round.deletes {
            if plan.deletes.len() < ctx.burst {
                plan.deletes.push(replacement.deletion);
            }
        }
        plan.wake_at = min_time(plan.wake_at, round.wake_at);
    }
}

/// Adds `delta` to a hash's node count, dropping hashes no node runs.
fn bump(usage: &mut BTreeMap<String, i32>, hash: &str, delta: i32) {
    // Looked up before inserting: evaluating every node must not allocate a key per node.
    let n = match usage.get_mut(hash) {
        Some(n) => n,
        None => usage.entry(hash.to_string()).or_default(),
    };
    *n += delta;
    if *n <= 0 {
        usage.remove(hash);
    }
}

fn min_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One full reconcile round, as upstream's manage plus status: evaluates every node, then plans.
pub fn manage(
    ds: &Arc<CompiledDaemonSet>,
    view: &ClusterView,
    ctx: &ManageContext<'_>,
    backoff: &mut FailedPodBackoff,
) -> Plan {
    Planner::new(Arc::clone(ds), view, ctx).plan(view, ctx, backoff)
}

/// Deletes every pod a DaemonSet claims in the view, adopted orphans included, as the garbage collector does for
/// upstream's owned pods (deleted DaemonSet, or cluster dropped from its targets).
pub fn remove_all(
    ds: &CompiledDaemonSet,
    view: &ClusterView,
    live_owner_uids: &HashSet<String>,
    deleting_pods: &HashSet<String>,
    burst: usize,
) -> Vec<PodDeletion> {
    view.pods()
        .filter(|p| ds.claims(p, |uid| live_owner_uids.contains(uid)))
        .filter(|p| !p.is_terminating() && !deleting_pods.contains(&p.uid))
        .take(burst)
        .map(|p| PodDeletion::of(p, DeleteReason::Removed))
        .collect()
}

/// True when no pod the DaemonSet claims is left in the view, terminating ones included.
pub fn all_removed(ds: &CompiledDaemonSet, view: &ClusterView, live_owner_uids: &HashSet<String>) -> bool {
    !view.pods().any(|p| ds.claims(p, |uid| live_owner_uids.contains(uid)))
}
