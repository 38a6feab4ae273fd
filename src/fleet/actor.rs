//! One actor per connected cluster. It alone changes that cluster's view: it applies the shim's snapshot and
//! deltas, asks the engine for a plan per DaemonSet, commits the actions as intents, then sends them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::session::{CloseReason, Control, Report, ReportQuery, ShimAction, ShimEvent, ToShim};
use super::slow_start::SlowStart;
use super::{Catalog, CatalogEntry, Fleet, FleetError, SessionInfo};
use crate::engine::backoff::FailedPodBackoff;
use crate::engine::explain::{explain_node, report_cluster};
use crate::engine::manage::{ManageContext, Planner, PodDeletion, all_removed, remove_all};
use crate::engine::model::{Node, Pod};
use crate::engine::pod::{PodOwner, daemon_pod, pod_name};
use crate::engine::status::StatusCounts;
use crate::engine::view::{Applied, ClusterView, SlotId};
use crate::store::{ActionIntent, ClusterSeen, IntentKind};

/// A failed create on a node is retried after 1 s, doubling up to this (upstream's failed-pod backoff).
const MAX_CREATE_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// An action sent and not yet confirmed.
#[derive(Clone, Debug)]
struct InFlight {
    intent: ActionIntent,
    sent: Instant,
}

/// A snapshot being received in chunks.
struct PartialSnapshot {
    id: u64,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
}

pub(super) struct ClusterActor {
    fleet: Fleet,
    cluster: String,
    session_id: u64,
    info: Arc<Mutex<SessionInfo>>,
    catalog: watch::Receiver<Arc<Catalog>>,
    outbound: mpsc::Sender<ToShim>,
    view: ClusterView,
    synced: bool,
    snapshot: Option<PartialSnapshot>,
    in_flight: HashMap<String, InFlight>,
    /// Intents committed by an earlier session, adopted once this one is synced.
    earlier: Vec<ActionIntent>,
    /// Adopted intents still to be re-sent.
    resend: Vec<String>,
    /// Failed creates per (DaemonSet uid, node): retry not before, and the next delay.
    create_backoff: HashMap<(String, String), (Instant, Duration)>,
    /// Last status stored per DaemonSet uid.
    stored_status: HashMap<String, StatusCounts>,
    /// One planner per DaemonSet targeting this cluster, with the catalog entry it was built from.
    planners: HashMap<String, (Arc<CatalogEntry>, Planner)>,
    /// Slots touched by events since the last reconcile.
    touched: Vec<SlotId>,
    /// The view was replaced: every planner starts over.
    replan_all: bool,
    failed_pods: FailedPodBackoff,
    /// Revision usage last stored per DaemonSet uid.
    stored_usage: HashMap<String, std::collections::BTreeMap<String, i32>>,
    /// Slow start of creates per DaemonSet uid.
    slow_start: HashMap<String, SlowStart>,
    /// Intents that ended (failed, or given up on) and are to be removed from the store.
    ended: Vec<String>,
    /// The catalog the planners were built with.
    planned_with: Option<Arc<Catalog>>,
    last_message: Instant,
}

impl ClusterActor {
    pub(super) fn new(
        fleet: Fleet,
        cluster: String,
        session_id: u64,
        info: Arc<Mutex<SessionInfo>>,
        catalog: watch::Receiver<Arc<Catalog>>,
        outbound: mpsc::Sender<ToShim>,
        resend: Vec<ActionIntent>,
    ) -> Self {
        ClusterActor {
            fleet,
            cluster,
            session_id,
            info,
            catalog,
            outbound,
            view: ClusterView::default(),
            synced: false,
            snapshot: None,
            in_flight: HashMap::new(),
            earlier: resend,
            resend: Vec::new(),
            create_backoff: HashMap::new(),
            stored_status: HashMap::new(),
            planners: HashMap::new(),
            touched: Vec::new(),
            replan_all: true,
            failed_pods: FailedPodBackoff::default(),
            planned_with: None,
            slow_start: HashMap::new(),
            stored_usage: HashMap::new(),
            ended: Vec::new(),
            last_message: Instant::now(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut events: mpsc::Receiver<ShimEvent>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let config = self.fleet.config().clone();
        let welcome = ToShim::Welcome {
            cluster: self.cluster.clone(),
            heartbeat_interval_seconds: config.heartbeat_interval.as_secs().max(1) as u32,
            max_message_bytes: config.max_message_bytes as u32,
        };
        let reason = if self.outbound.send(welcome).await.is_err() {
            None
        } else {
            self.serve(&mut events, &mut control, &config).await
        };
        if let Some(reason) = reason {
            tracing::info!(cluster = %self.cluster, ?reason, "closing shim session");
            let _ = self.outbound.send(ToShim::Close(reason)).await;
        } else {
            tracing::info!(cluster = %self.cluster, "shim session ended");
        }
        self.fleet.session_ended(&self.cluster, self.session_id);
        self.record_seen().await;
    }

    /// The event loop; returns why the service closes the session, or None when the shim went away.
    async fn serve(
        &mut self,
        events: &mut mpsc::Receiver<ShimEvent>,
        control: &mut mpsc::UnboundedReceiver<Control>,
        config: &super::FleetConfig,
    ) -> Option<CloseReason> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_seen_write = Instant::now();
        loop {
            tokio::select! {
                control = control.recv() => match control {
                    Some(Control::Report(query)) => {
                        self.report(query);
                        continue;
                    }
                    Some(Control::Close(reason)) => return Some(reason),
                    None => return Some(CloseReason::Replaced),
                },
                event = events.recv() => {
                    // The shim went away: the session just ends.
                    let event = event?;
                    self.last_message = Instant::now();
                    self.info.lock().expect("session info lock").last_seen = Some(Utc::now());
                    let mut heartbeat = matches!(event, ShimEvent::Heartbeat);
                    if let Err(reason) = self.handle(event) {
                        return Some(reason);
                    }
                    // Take whatever else is queued before planning, so a burst of deltas costs one plan.
                    while let Ok(event) = events.try_recv() {
                        heartbeat |= matches!(event, ShimEvent::Heartbeat);
                        if let Err(reason) = self.handle(event) {
                            return Some(reason);
                        }
                    }
                    if heartbeat && last_seen_write.elapsed() >= config.heartbeat_interval {
                        last_seen_write = Instant::now();
                        self.record_seen().await;
                    }
                }
                changed = self.catalog.changed() => {
                    if changed.is_err() {
                        return Some(CloseReason::Unavailable("service shutting down".into()));
                    }
                }
                _ = tick.tick() => {
                    if self.last_message.elapsed() > config.heartbeat_timeout {
                        return Some(CloseReason::HeartbeatTimeout);
                    }
                }
            }
            if let Err(e) = self.reconcile().await {
                tracing::warn!(cluster = %self.cluster, error = %e, "reconcile failed");
                return Some(CloseReason::Unavailable(e.to_string()));
            }
        }
    }

    /// Applies one shim event to the view. Protocol violations end the session.
    fn handle(&mut self, event: ShimEvent) -> Result<(), CloseReason> {
        match event {
            ShimEvent::SnapshotChunk { snapshot_id, nodes, pods, last } => {
                let partial = match self.snapshot.take() {
                    Some(p) if p.id == snapshot_id => p,
                    // A new id abandons an unfinished snapshot.
                    _ => PartialSnapshot { id: snapshot_id, nodes: Vec::new(), pods: Vec::new() },
                };
                let mut partial = partial;
                partial.nodes.extend(nodes);
                partial.pods.extend(pods);
                if last {
                    self.view = ClusterView::from_snapshot(partial.nodes, partial.pods);
                    self.replan_all = true;
                    let first_sync = !self.synced;
                    self.synced = true;
                    let mut info = self.info.lock().expect("session info lock");
                    info.synced = true;
                    info.node_count = self.view.node_count() as u32;
                    drop(info);
                    if first_sync {
                        self.adopt_earlier_intents();
                    }
                } else {
                    self.snapshot = Some(partial);
                }
            }
            delta => {
                if !self.synced {
                    return Err(CloseReason::Protocol(
                        "deltas and action results must follow a complete snapshot".into(),
                    ));
                }
                self.apply_delta(delta);
            }
        }
        Ok(())
    }

    fn apply_delta(&mut self, delta: ShimEvent) {
        let applied = match delta {
            ShimEvent::NodeUpsert(node) => self.view.upsert_node(node),
            ShimEvent::NodeDelete { name, resource_version } => self.view.delete_node(&name, &resource_version),
            ShimEvent::PodUpsert(pod) => self.view.upsert_pod(pod),
            ShimEvent::PodDelete { uid, resource_version } => self.view.delete_pod(&uid, &resource_version),
            ShimEvent::ActionResult { action_id, succeeded, message } => {
                self.action_result(&action_id, succeeded, &message);
                Applied::Stale
            }
            ShimEvent::Heartbeat | ShimEvent::SnapshotChunk { .. } => Applied::Stale,
        };
        if let Applied::Changed(slots) = applied {
            self.touched.extend(slots);
            self.info.lock().expect("session info lock").node_count = self.view.node_count() as u32;
        }
    }

    /// A failed action is over (a new one may be planned, after backoff for creates); a successful one stays
    /// in flight until the view shows its effect, as upstream's expectations wait for the informer.
    fn action_result(&mut self, action_id: &str, succeeded: bool, message: &str) {
        if let Some(f) = self.in_flight.get(action_id)
            && let Some(slow) = self.slow_start.get_mut(&f.intent.ds_uid)
        {
            slow.finished(action_id, succeeded, self.fleet.config().burst);
        }
        if succeeded {
            return;
        }
        let Some(done) = self.in_flight.remove(action_id) else { return };
        self.ended.push(action_id.to_string());
        tracing::warn!(cluster = %self.cluster, action = %action_id, pod = %done.intent.pod_name, %message,
            "action failed");
        if done.intent.kind == IntentKind::Create {
            let key = (done.intent.ds_uid.clone(), done.intent.node.clone());
            let delay =
                self.create_backoff.get(&key).map_or(Duration::from_secs(1), |(_, d)| (*d * 2).min(MAX_CREATE_BACKOFF));
            self.create_backoff.insert(key, (Instant::now() + delay, delay));
        }
    }

    /// Intents of an earlier session are re-sent: creates use deterministic names and deletes carry the uid
    /// precondition, so a second delivery has no second effect.
    /// They count as in flight at once, so planning never duplicates them; reconcile re-sends those whose
    /// effect the snapshot does not already show.
    fn adopt_earlier_intents(&mut self) {
        let now = Instant::now();
        for intent in std::mem::take(&mut self.earlier) {
            self.resend.push(intent.id.clone());
            self.in_flight.insert(intent.id.clone(), InFlight { intent, sent: now });
        }
    }

    /// Drops in-flight actions whose effect is visible, or that timed out.
    fn settle_in_flight(&mut self, timeout: Duration) -> Vec<String> {
        let existing: HashSet<(&str, &str)> =
            self.view.pods().map(|p| (p.namespace.as_str(), p.name.as_str())).collect();
        let mut done = Vec::new();
        self.in_flight.retain(|id, f| {
            let settled = match f.intent.kind {
                IntentKind::Create => existing.contains(&(f.intent.pod_namespace.as_str(), f.intent.pod_name.as_str())),
                IntentKind::Delete => self.view.pod(&f.intent.pod_uid).is_none_or(Pod::is_terminating),
            };
            if settled || f.sent.elapsed() > timeout {
                done.push(id.clone());
                false
            } else {
                true
            }
        });
        done
    }

    async fn reconcile(&mut self) -> Result<(), FleetError> {
        if !self.synced {
            return Ok(());
        }
        let config = self.fleet.config().clone();
        let mut settled = self.settle_in_flight(config.action_timeout);
        for id in &settled {
            for slow in self.slow_start.values_mut() {
                slow.finished(id, true, config.burst);
            }
        }
        settled.append(&mut self.ended);
        if !settled.is_empty() {
            self.fleet.store().delete_intents(&settled).await?;
        }
        let now_instant = Instant::now();
        // upstream's backoff GC: an entry idle for twice the maximum starts over.
        self.create_backoff.retain(|_, (until, _)| now_instant < *until + 2 * MAX_CREATE_BACKOFF);
        let catalog = self.catalog.borrow_and_update().clone();
        let catalog_changed = !self.planned_with.as_ref().is_some_and(|c| Arc::ptr_eq(c, &catalog));
        self.planned_with = Some(Arc::clone(&catalog));
        self.resend_earlier(&catalog).await?;
        let now = Utc::now();
        let mut creating: HashMap<&str, HashSet<String>> = HashMap::new();
        let mut deleting: HashSet<String> = HashSet::new();
        for f in self.in_flight.values() {
            match f.intent.kind {
                IntentKind::Create => {
                    creating.entry(f.intent.ds_uid.as_str()).or_default().insert(f.intent.node.clone());
                }
                IntentKind::Delete => {
                    deleting.insert(f.intent.pod_uid.clone());
                }
            }
        }
        for ((uid, node), (until, _)) in &self.create_backoff {
            if *until > now_instant {
                creating.entry(uid.as_str()).or_default().insert(node.clone());
            }
        }
        let empty = HashSet::new();
        let mut intents = Vec::new();
        let mut statuses = Vec::new();
        let mut usages = Vec::new();
        let mut removed = Vec::new();
        let touched = std::mem::take(&mut self.touched);
        let replan_all = std::mem::take(&mut self.replan_all);
        self.failed_pods.gc(now);
        // Planners of DaemonSets that left this cluster (or the catalog) go.
        self.planners.retain(|uid, (entry, _)| {
            catalog.for_cluster(&self.cluster).any(|e| e.record.uid == *uid && Arc::ptr_eq(e, entry))
        });
        for entry in catalog.for_cluster(&self.cluster) {
            let uid = entry.record.uid.as_str();
            let removing = entry.record.deleting || entry.target(&self.cluster).is_some_and(|t| t.removing);
            if removing {
                let ds = &entry.compiled;
                let deletes = remove_all(ds, &self.view, &catalog.live_uids, &deleting, config.burst);
                let pending = self.in_flight.values().any(|f| f.intent.ds_uid == uid);
                if deletes.is_empty() && !pending && all_removed(ds, &self.view, &catalog.live_uids) {
                    removed.push(uid.to_string());
                }
                intents.extend(deletes.into_iter().map(|d| self.delete_intent(uid, d, now)));
                continue;
            }
            let ctx = ManageContext {
                now,
                live_owner_uids: &catalog.live_uids,
                creating_nodes: creating.get(uid).unwrap_or(&empty),
                deleting_pods: &deleting,
                observed_generation: self.stored_status.get(uid).map_or(0, |s| s.observed_generation),
                burst: config.burst,
            };
            let planner = match self.planners.get_mut(uid) {
                // A new catalog (another DaemonSet changed) can change which pods are orphans: start over.
                Some((_, planner)) if !replan_all && !catalog_changed => {
                    planner.refresh(&self.view, &touched, &ctx);
                    planner.advance(&self.view, &ctx);
                    planner
                }
                _ => {
                    let planner = Planner::new(Arc::clone(&entry.compiled), &self.view, &ctx);
                    &mut self.planners.entry(uid.to_string()).insert_entry((Arc::clone(entry), planner)).into_mut().1
                }
            };
            let plan = planner.plan_round(&self.view, &ctx, &mut self.failed_pods);
            if self.stored_usage.get(uid) != Some(planner.revision_usage()) {
                usages.push((uid.to_string(), planner.revision_usage().clone()));
            }
            if self.stored_status.get(uid) != Some(&plan.status) {
                statuses.push((uid.to_string(), plan.status));
            }
            let slow = self.slow_start.entry(uid.to_string()).or_default();
            let allowed = slow.allowance(plan.creates.len());
            let creates: Vec<ActionIntent> =
                plan.creates.iter().take(allowed).map(|node| self.create_intent(entry, node, now)).collect();
            if let Some(slow) = self.slow_start.get_mut(uid) {
                slow.sent(creates.iter().map(|c| c.id.clone()));
            }
            intents.extend(creates);
            intents.extend(plan.deletes.into_iter().map(|d| self.delete_intent(uid, d, now)));
        }
        if !intents.is_empty() {
            // Committed before sent: a crash after this point re-sends them from the store.
            self.fleet.store().insert_intents(&intents).await?;
        }
        for intent in intents {
            self.send(intent).await;
        }
        let status_changed = !statuses.is_empty();
        for (uid, status) in statuses {
            self.fleet.store().set_target_status(&uid, &self.cluster, &status).await?;
            self.stored_status.insert(uid, status);
        }
        if status_changed {
            self.fleet.notify_status();
        }
        for (uid, usage) in usages {
            self.fleet.store().set_target_revision_usage(&uid, &self.cluster, &usage).await?;
            let hashes_changed = self.stored_usage.get(&uid).is_none_or(|old| !old.keys().eq(usage.keys()));
            self.stored_usage.insert(uid.clone(), usage);
            // A revision no pod runs any more may now be pruned.
            if hashes_changed {
                self.fleet.cleanup_history(&uid).await?;
            }
        }
        if !removed.is_empty() {
            for uid in &removed {
                self.fleet.store().finish_target_removal(uid, &self.cluster).await?;
            }
            self.fleet.reload_catalog().await?;
        }
        self.publish_in_flight();
        Ok(())
    }

    /// Answers a report query from the view, with the same inputs a real round would use.
    fn report(&self, query: ReportQuery) {
        let report = if !self.synced {
            Report::NotSynced
        } else {
            let catalog = self.catalog.borrow().clone();
            let (creating, deleting) = self.in_flight_sets(&query.daemon_set.uid);
            let ctx = ManageContext {
                now: Utc::now(),
                live_owner_uids: &catalog.live_uids,
                creating_nodes: &creating,
                deleting_pods: &deleting,
                observed_generation: self
                    .stored_status
                    .get(query.daemon_set.uid.as_str())
                    .map_or(0, |s| s.observed_generation),
                burst: self.fleet.config().burst,
            };
            match &query.node {
                Some(node) => Report::Node(explain_node(&query.daemon_set, &self.view, node, &ctx, &self.failed_pods)),
                None => Report::Cluster(report_cluster(
                    &query.daemon_set,
                    &self.view,
                    &ctx,
                    &self.failed_pods,
                    query.include_all_nodes,
                )),
            }
        };
        let _ = query.reply.send(report);
    }

    /// Nodes with a create, and pods with a delete, in flight for one DaemonSet.
    fn in_flight_sets(&self, uid: &str) -> (HashSet<String>, HashSet<String>) {
        let mut creating = HashSet::new();
        let mut deleting = HashSet::new();
        for f in self.in_flight.values() {
            match f.intent.kind {
                IntentKind::Create if f.intent.ds_uid == uid => {
                    creating.insert(f.intent.node.clone());
                }
                IntentKind::Delete => {
                    deleting.insert(f.intent.pod_uid.clone());
                }
                IntentKind::Create => {}
            }
        }
        (creating, deleting)
    }

    fn create_intent(&self, entry: &CatalogEntry, node: &str, now: DateTime<Utc>) -> ActionIntent {
        let ds = &entry.compiled;
        let id = uuid::Uuid::new_v4().to_string();
        let name = pod_name(&ds.name, &id);
        let owner = PodOwner { namespace: &ds.namespace, name: &ds.name, uid: &ds.uid, revision_hash: &ds.hash };
        let pod = daemon_pod(&ds.template, owner, node, &name, &id);
        ActionIntent {
            cluster: self.cluster.clone(),
            ds_uid: ds.uid.to_string(),
            kind: IntentKind::Create,
            node: node.to_string(),
            pod_namespace: ds.namespace.to_string(),
            pod_name: name,
            pod_uid: String::new(),
            payload: serde_json::to_string(&pod).expect("a Pod serializes"),
            created_at: now,
            id,
        }
    }

    fn delete_intent(&self, ds_uid: &str, d: PodDeletion, now: DateTime<Utc>) -> ActionIntent {
        tracing::debug!(cluster = %self.cluster, pod = %d.name, reason = ?d.reason, "deleting pod");
        ActionIntent {
            id: uuid::Uuid::new_v4().to_string(),
            cluster: self.cluster.clone(),
            ds_uid: ds_uid.to_string(),
            kind: IntentKind::Delete,
            node: d.node,
            pod_namespace: d.namespace,
            pod_name: d.name,
            pod_uid: d.uid,
            payload: String::new(),
            created_at: now,
        }
    }

    /// Re-sends adopted intents, except creates for DaemonSets that no longer exist.
    async fn resend_earlier(&mut self, catalog: &Catalog) -> Result<(), FleetError> {
        let mut dropped = Vec::new();
        for id in std::mem::take(&mut self.resend) {
            let Some(f) = self.in_flight.get(&id) else { continue };
            if f.intent.kind == IntentKind::Create && !catalog.live_uids.contains(&f.intent.ds_uid) {
                self.in_flight.remove(&id);
                dropped.push(id);
            } else {
                let intent = f.intent.clone();
                self.send(intent).await;
            }
        }
        if !dropped.is_empty() {
            self.fleet.store().delete_intents(&dropped).await?;
        }
        Ok(())
    }

    async fn send(&mut self, intent: ActionIntent) {
        let action = match intent.kind {
            IntentKind::Create => ShimAction::Create {
                id: intent.id.clone(),
                namespace: intent.pod_namespace.clone(),
                name: intent.pod_name.clone(),
                node: intent.node.clone(),
                pod_json: intent.payload.clone(),
            },
            IntentKind::Delete => ShimAction::Delete {
                id: intent.id.clone(),
                namespace: intent.pod_namespace.clone(),
                name: intent.pod_name.clone(),
                uid: intent.pod_uid.clone(),
            },
        };
        self.in_flight.insert(intent.id.clone(), InFlight { intent, sent: Instant::now() });
        // A closed stream ends the session through the event channel; the intent stays for the next one.
        let _ = self.outbound.send(ToShim::Action(action)).await;
    }

    fn publish_in_flight(&self) {
        let mut counts: HashMap<String, i32> = HashMap::new();
        for f in self.in_flight.values() {
            *counts.entry(f.intent.ds_uid.clone()).or_default() += 1;
        }
        self.info.lock().expect("session info lock").in_flight = counts;
    }

    async fn record_seen(&self) {
        let info = self.info.lock().expect("session info lock").clone();
        let seen = ClusterSeen {
            name: self.cluster.clone(),
            at: info.last_seen.unwrap_or_else(Utc::now),
            shim_version: info.shim_version,
            node_count: info.node_count as i32,
        };
        if let Err(e) = self.fleet.store().record_cluster_seen(&seen).await {
            tracing::warn!(cluster = %self.cluster, error = %e, "could not record last seen");
        }
    }
}
