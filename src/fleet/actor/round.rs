//! One planning round of a cluster: for every DaemonSet that targets the cluster, the engine's plan from the
//! view (upstream syncDaemonSet → manage → rollingUpdate), shaped into action intents with slow start applied.
//! Nothing here does I/O; the actor commits and publishes what a round returns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::expectations::Expectations;
use crate::engine::backoff::FailedPodBackoff;
use crate::engine::manage::{ManageContext, Planner, PodDeletion, all_removed, remove_all};
use crate::engine::pod::{PodOwner, daemon_pod, pod_name};
use crate::engine::status::StatusCounts;
use crate::engine::view::{ClusterView, SlotId};
use crate::fleet::slow_start::SlowStart;
use crate::fleet::{Catalog, CatalogEntry};
use crate::store::{ActionIntent, IntentKind};

/// What a round decided.
#[derive(Debug, Default)]
pub(super) struct Round {
    /// Actions to commit, then send.
    pub intents: Vec<ActionIntent>,
    /// Status per DaemonSet uid, as the view stands.
    pub statuses: Vec<(String, StatusCounts)>,
    /// Nodes running each revision hash, per DaemonSet uid.
    pub usages: Vec<(String, BTreeMap<String, i32>)>,
    /// DaemonSets whose pods are all gone from a cluster they are being removed from.
    pub removed: Vec<String>,
    /// When planning again could give more without any event (a backoff or minReadySeconds ends).
    pub wake_at: Option<DateTime<Utc>>,
}

/// The planning state of one cluster: one incremental planner per DaemonSet, failed-pod backoff, slow start.
#[derive(Default)]
pub(super) struct Planning {
    /// Per DaemonSet uid, with the catalog entry it was built from.
    planners: HashMap<String, (Arc<CatalogEntry>, Planner)>,
    pub failed_pods: FailedPodBackoff,
    slow_start: HashMap<String, SlowStart>,
    /// The catalog the planners were built with.
    planned_with: Option<Arc<Catalog>>,
}

/// What a round reads besides the view.
pub(super) struct RoundInput<'a> {
    pub cluster: &'a str,
    pub catalog: &'a Arc<Catalog>,
    /// Slots touched since the last round; None when the view was replaced.
    pub changes: Option<Vec<SlotId>>,
    pub expectations: &'a Expectations,
    /// observedGeneration last published per DaemonSet uid.
    pub observed: &'a HashMap<String, StatusCounts>,
    pub now: DateTime<Utc>,
    pub burst: usize,
}

impl Planning {
    /// A create's or delete's result reached the slow start of its DaemonSet.
    pub fn finished(&mut self, ds_uid: &str, action_id: &str, succeeded: bool, burst: usize) {
        if let Some(slow) = self.slow_start.get_mut(ds_uid) {
            slow.finished(action_id, succeeded, burst);
        }
    }

    pub fn round(&mut self, view: &ClusterView, input: RoundInput<'_>) -> Round {
        let RoundInput { cluster, catalog, changes, expectations, observed, now, burst } = input;
        // A new catalog (another DaemonSet changed) can change which pods are orphans: every planner starts over.
        let catalog_changed = !self.planned_with.as_ref().is_some_and(|c| Arc::ptr_eq(c, catalog));
        self.planned_with = Some(Arc::clone(catalog));
        let (creating, deleting) = expectations.pending(now);
        let no_nodes = HashSet::new();
        self.failed_pods.gc(now);
        self.planners.retain(|uid, (entry, _)| {
            catalog.for_cluster(cluster).any(|e| e.record.uid == *uid && Arc::ptr_eq(e, entry))
        });
        let mut round = Round::default();
        for entry in catalog.for_cluster(cluster) {
            let uid = entry.record.uid.as_str();
            let ds = &entry.compiled;
            if entry.record.deleting || entry.target(cluster).is_some_and(|t| t.removing) {
                let deletes = remove_all(ds, view, &catalog.live_uids, &deleting, burst);
                if deletes.is_empty() && !expectations.any_for(uid) && all_removed(ds, view, &catalog.live_uids) {
                    round.removed.push(uid.to_string());
                }
                round.intents.extend(deletes.into_iter().map(|d| delete_intent(cluster, uid, d, now)));
                continue;
            }
            let ctx = ManageContext {
                now,
                live_owner_uids: &catalog.live_uids,
                creating_nodes: creating.get(uid).unwrap_or(&no_nodes),
                deleting_pods: &deleting,
                observed_generation: observed.get(uid).map_or(0, |s| s.observed_generation),
                burst,
            };
            let planner = match (self.planners.get_mut(uid), &changes) {
                (Some((_, planner)), Some(touched)) if !catalog_changed => {
                    planner.refresh(view, touched, &ctx);
                    planner.advance(view, &ctx);
                    planner
                }
                _ => {
                    let planner = Planner::new(Arc::clone(ds), view, &ctx);
                    &mut self.planners.entry(uid.to_string()).insert_entry((Arc::clone(entry), planner)).into_mut().1
                }
            };
            let plan = planner.plan_round(view, &ctx, &mut self.failed_pods);
            round.usages.push((uid.to_string(), planner.revision_usage().clone()));
            round.statuses.push((uid.to_string(), plan.status));
            round.wake_at = earliest(round.wake_at, plan.wake_at);
            let slow = self.slow_start.entry(uid.to_string()).or_default();
            let allowed = slow.allowance(plan.creates.len());
            let creates: Vec<ActionIntent> =
                plan.creates.iter().take(allowed).map(|node| create_intent(cluster, entry, node, now)).collect();
            slow.sent(creates.iter().map(|c| c.id.clone()));
            round.intents.extend(creates);
            round.intents.extend(plan.deletes.into_iter().map(|d| delete_intent(cluster, uid, d, now)));
        }
        round
    }
}

pub(super) fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn create_intent(cluster: &str, entry: &CatalogEntry, node: &str, now: DateTime<Utc>) -> ActionIntent {
    let ds = &entry.compiled;
    let id = uuid::Uuid::new_v4().to_string();
    let name = pod_name(&ds.name, &id);
    let owner = PodOwner { namespace: &ds.namespace, name: &ds.name, uid: &ds.uid, revision_hash: &ds.hash };
    let pod = daemon_pod(&ds.template, owner, node, &name, &id);
    ActionIntent {
        cluster: cluster.to_string(),
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

fn delete_intent(cluster: &str, ds_uid: &str, d: PodDeletion, now: DateTime<Utc>) -> ActionIntent {
    tracing::debug!(cluster, pod = %d.name, reason = ?d.reason, "deleting pod");
    ActionIntent {
        id: uuid::Uuid::new_v4().to_string(),
        cluster: cluster.to_string(),
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
