//! The actions a cluster actor has sent and not yet seen take effect: upstream's ControllerExpectations
//! (`pkg/controller/controller_utils.go`), kept per action instead of per count so that a reconnecting shim can
//! be sent exactly what is still open. While a create is open for a node and DaemonSet no second one is planned;
//! a failed create is retried only after a backoff (1 s doubling to 15 min, upstream's failed-pod backoff).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::engine::backoff::FailedPodBackoff;
use crate::engine::model::Pod;
use crate::engine::view::ClusterView;
use crate::store::{ActionIntent, IntentKind};

/// An action sent and not yet confirmed.
#[derive(Clone, Debug)]
struct InFlight {
    intent: ActionIntent,
    sent: DateTime<Utc>,
}

/// What is in flight for one DaemonSet, in the engine's terms.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Nodes with a create in flight or in backoff.
    pub creating: HashSet<String>,
    /// Pods with a delete in flight (of any DaemonSet: a pod is deleted once).
    pub deleting: HashSet<String>,
}

#[derive(Debug, Default)]
pub(super) struct Expectations {
    in_flight: HashMap<String, InFlight>,
    /// Adopted from an earlier session and not yet sent on this one.
    resend: Vec<String>,
    /// Ended without effect (failed, or dropped) and still to be removed from the store.
    ended: Vec<String>,
    /// Failed creates, keyed `<DaemonSet uid>/<node>`.
    failed_creates: FailedPodBackoff,
}

fn create_key(ds_uid: &str, node: &str) -> String {
    format!("{ds_uid}/{node}")
}

impl Expectations {
    /// Intents of an earlier session count as in flight at once, so planning never duplicates them; they are
    /// re-sent by [`Expectations::take_resend`] unless settled first.
    pub fn adopt(&mut self, intents: Vec<ActionIntent>, now: DateTime<Utc>) {
        for intent in intents {
            self.resend.push(intent.id.clone());
            self.in_flight.insert(intent.id.clone(), InFlight { intent, sent: now });
        }
    }

    /// Adopted intents still to send. Creates for DaemonSets that no longer exist are dropped instead.
    pub fn take_resend(&mut self, live: &HashSet<String>) -> Vec<ActionIntent> {
        let mut send = Vec::new();
        for id in std::mem::take(&mut self.resend) {
            let Some(f) = self.in_flight.get(&id) else { continue };
            if f.intent.kind == IntentKind::Create && !live.contains(&f.intent.ds_uid) {
                self.in_flight.remove(&id);
                self.ended.push(id);
            } else {
                send.push(f.intent.clone());
            }
        }
        send
    }

    /// Records an action as sent.
    pub fn sent(&mut self, intent: ActionIntent, now: DateTime<Utc>) {
        self.in_flight.insert(intent.id.clone(), InFlight { intent, sent: now });
    }

    /// The DaemonSet an open action belongs to.
    pub fn ds_of(&self, id: &str) -> Option<&str> {
        self.in_flight.get(id).map(|f| f.intent.ds_uid.as_str())
    }

    /// A failed action is over: a new one may be planned, after backoff for a create. A successful one stays in
    /// flight until the view shows its effect, as upstream's expectations wait for the informer.
    pub fn failed(&mut self, id: &str, now: DateTime<Utc>) -> Option<ActionIntent> {
        let done = self.in_flight.remove(id)?;
        self.ended.push(id.to_string());
        if done.intent.kind == IntentKind::Create {
            self.failed_creates.next(&create_key(&done.intent.ds_uid, &done.intent.node), now);
        }
        Some(done.intent)
    }

    /// Drops the actions whose effect the view shows, or that have waited longer than `timeout`; returns their
    /// ids with their DaemonSet's uid. Only the pods the open actions name are looked up.
    pub fn settle(&mut self, view: &ClusterView, now: DateTime<Utc>, timeout: Duration) -> Vec<(String, String)> {
        let mut done = Vec::new();
        self.in_flight.retain(|id, f| {
            let i = &f.intent;
            let settled = match i.kind {
                IntentKind::Create => view.slot_of(&i.node).is_some_and(|slot| {
                    view.slot(slot).pods.iter().any(|p| p.name == i.pod_name && p.namespace.as_str() == i.pod_namespace)
                }),
                IntentKind::Delete => view.pod(&i.pod_uid).is_none_or(Pod::is_terminating),
            };
            if settled || now - f.sent > timeout {
                done.push((id.clone(), i.ds_uid.clone()));
                false
            } else {
                true
            }
        });
        self.failed_creates.gc(now);
        done
    }

    /// Ids of actions that ended without effect since the last call.
    pub fn take_ended(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ended)
    }

    /// What is open for every DaemonSet, as the engine's inputs.
    pub fn pending(&self, now: DateTime<Utc>) -> (HashMap<String, HashSet<String>>, HashSet<String>) {
        let mut creating: HashMap<String, HashSet<String>> = HashMap::new();
        let mut deleting = HashSet::new();
        for f in self.in_flight.values() {
            match f.intent.kind {
                IntentKind::Create => {
                    creating.entry(f.intent.ds_uid.clone()).or_default().insert(f.intent.node.clone());
                }
                IntentKind::Delete => {
                    deleting.insert(f.intent.pod_uid.clone());
                }
            }
        }
        for key in self.failed_creates.keys_in_backoff(now) {
            if let Some((uid, node)) = key.split_once('/') {
                creating.entry(uid.to_string()).or_default().insert(node.to_string());
            }
        }
        (creating, deleting)
    }

    /// What is open for one DaemonSet.
    pub fn pending_for(&self, ds_uid: &str, now: DateTime<Utc>) -> Pending {
        let (mut creating, deleting) = self.pending(now);
        Pending { creating: creating.remove(ds_uid).unwrap_or_default(), deleting }
    }

    /// True while any action of the DaemonSet is open.
    pub fn any_for(&self, ds_uid: &str) -> bool {
        self.in_flight.values().any(|f| f.intent.ds_uid == ds_uid)
    }

    /// Open actions per DaemonSet uid.
    pub fn counts(&self) -> HashMap<String, i32> {
        let mut counts: HashMap<String, i32> = HashMap::new();
        for f in self.in_flight.values() {
            *counts.entry(f.intent.ds_uid.clone()).or_default() += 1;
        }
        counts
    }

    /// When something here changes by itself: an action times out, or a create's backoff ends.
    pub fn next_deadline(&self, now: DateTime<Utc>, timeout: Duration) -> Option<DateTime<Utc>> {
        let expiry = self.in_flight.values().map(|f| f.sent + timeout).min();
        let backoff = self.failed_creates.next_end(now);
        match (expiry, backoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
