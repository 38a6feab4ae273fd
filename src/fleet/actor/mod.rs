//! One actor per connected cluster. It alone changes that cluster's view: it applies the shim's snapshot and
//! deltas, and after each batch of events runs a round — settle what took effect, plan every DaemonSet, commit
//! the new actions as intents, send them, publish status — then sleeps until the next event or until the
//! earliest moment the round said planning again could give more.

mod expectations;
mod ingest;
mod publish;
mod report;
mod round;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::messages::{CloseReason, Control, ShimAction, ShimEvent, ToShim};
use super::{Catalog, Fleet, FleetConfig, FleetError, SessionInfo};
use crate::store::{ActionIntent, ClusterSeen, IntentKind};
use expectations::Expectations;
use ingest::{Ingest, Ingested};
use publish::Published;
use round::{Planning, RoundInput, earliest};

/// Slept past a wake-up time, so that the round that follows sees it as passed (the engine compares strictly).
const WAKE_MARGIN: std::time::Duration = std::time::Duration::from_millis(5);

pub(super) struct ClusterActor {
    fleet: Fleet,
    cluster: String,
    session_id: u64,
    info: Arc<Mutex<SessionInfo>>,
    catalog: watch::Receiver<Arc<Catalog>>,
    outbound: mpsc::Sender<ToShim>,
    ingest: Ingest,
    expectations: Expectations,
    planning: Planning,
    published: Published,
    /// Intents committed by an earlier session, adopted once this one is synced.
    earlier: Vec<ActionIntent>,
    last_message: DateTime<Utc>,
    last_seen_write: DateTime<Utc>,
    /// When the last round asked to run again without an event.
    wake_at: Option<DateTime<Utc>>,
}

impl ClusterActor {
    pub(super) fn new(
        fleet: Fleet,
        cluster: String,
        session_id: u64,
        info: Arc<Mutex<SessionInfo>>,
        catalog: watch::Receiver<Arc<Catalog>>,
        outbound: mpsc::Sender<ToShim>,
        earlier: Vec<ActionIntent>,
    ) -> Self {
        let now = Utc::now();
        let ingest = Ingest::new(fleet.config().max_nodes_per_cluster);
        ClusterActor {
            fleet,
            cluster,
            session_id,
            info,
            catalog,
            outbound,
            ingest,
            expectations: Expectations::default(),
            planning: Planning::default(),
            published: Published::default(),
            earlier,
            last_message: now,
            last_seen_write: now,
            wake_at: None,
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
        config: &FleetConfig,
    ) -> Option<CloseReason> {
        let heartbeat_timeout = chrono::Duration::from_std(config.heartbeat_timeout).unwrap_or(chrono::Duration::MAX);
        loop {
            let silent_until = self.last_message + heartbeat_timeout;
            let wake = sleep_until(earliest(self.wake_at, Some(silent_until)).unwrap_or(silent_until));
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
                    if let Err(reason) = self.take_events(event, events, config).await {
                        return Some(reason);
                    }
                }
                changed = self.catalog.changed() => {
                    if changed.is_err() {
                        return Some(CloseReason::Unavailable("service shutting down".into()));
                    }
                }
                () = wake => {
                    if Utc::now() - self.last_message > heartbeat_timeout {
                        return Some(CloseReason::HeartbeatTimeout);
                    }
                }
            }
            if let Err(e) = self.reconcile(config).await {
                tracing::warn!(cluster = %self.cluster, error = %e, "reconcile failed");
                return Some(CloseReason::Unavailable(e.to_string()));
            }
        }
    }

    /// Applies `first` and whatever else is queued, so that a burst of deltas costs one round.
    async fn take_events(
        &mut self,
        first: ShimEvent,
        events: &mut mpsc::Receiver<ShimEvent>,
        config: &FleetConfig,
    ) -> Result<(), CloseReason> {
        let now = Utc::now();
        self.last_message = now;
        let mut heartbeat = self.take(first, now, config)?;
        while let Ok(event) = events.try_recv() {
            heartbeat |= self.take(event, now, config)?;
        }
        {
            let mut info = self.info.lock().expect("session info lock");
            info.last_seen = Some(now);
            info.synced = self.ingest.synced();
            info.node_count = self.ingest.view.node_count() as u32;
        }
        let interval = chrono::Duration::from_std(config.heartbeat_interval).unwrap_or(chrono::Duration::MAX);
        if heartbeat && now - self.last_seen_write >= interval {
            self.last_seen_write = now;
            self.record_seen().await;
        }
        Ok(())
    }

    /// Applies one event; true for a heartbeat.
    fn take(&mut self, event: ShimEvent, now: DateTime<Utc>, config: &FleetConfig) -> Result<bool, CloseReason> {
        match self.ingest.apply(event)? {
            Ingested::Synced { first: true } => {
                self.expectations.adopt(std::mem::take(&mut self.earlier), now);
            }
            Ingested::Synced { first: false } | Ingested::Changed => {}
            Ingested::ActionResult { action_id, succeeded, message } => {
                if let Some(uid) = self.expectations.ds_of(&action_id) {
                    let uid = uid.to_string();
                    self.planning.finished(&uid, &action_id, succeeded, config.burst);
                }
                if !succeeded && let Some(intent) = self.expectations.failed(&action_id, now) {
                    tracing::warn!(cluster = %self.cluster, action = %action_id, pod = %intent.pod_name, %message,
                        "action failed");
                }
            }
            Ingested::Heartbeat => return Ok(true),
        }
        Ok(false)
    }

    /// One round: settle → plan → commit → publish.
    async fn reconcile(&mut self, config: &FleetConfig) -> Result<(), FleetError> {
        if !self.ingest.synced() {
            return Ok(());
        }
        let now = Utc::now();
        let action_timeout = chrono::Duration::from_std(config.action_timeout).unwrap_or(chrono::Duration::MAX);
        let catalog = self.catalog.borrow_and_update().clone();

        // Settle: what took effect (or timed out) is forgotten; adopted intents not yet seen are sent again.
        let settled = self.expectations.settle(&self.ingest.view, now, action_timeout);
        for (id, uid) in &settled {
            self.planning.finished(uid, id, true, config.burst);
        }
        let resend = self.expectations.take_resend(&catalog.live_uids);
        let mut forget: Vec<String> = settled.into_iter().map(|(id, _)| id).collect();
        forget.extend(self.expectations.take_ended());
        if !forget.is_empty() {
            self.fleet.store().delete_intents(&forget).await?;
        }
        for intent in resend {
            self.send(intent, now).await;
        }

        // Plan.
        let changes = self.ingest.take_changes();
        let mut round = self.planning.round(
            &self.ingest.view,
            RoundInput {
                cluster: &self.cluster,
                catalog: &catalog,
                changes,
                expectations: &self.expectations,
                observed: &self.published.status,
                now,
                burst: config.burst,
            },
        );

        // Commit before sending: a crash after this point re-sends them from the store.
        if !round.intents.is_empty() {
            self.fleet.store().insert_intents(&round.intents).await?;
        }
        for intent in std::mem::take(&mut round.intents) {
            self.send(intent, now).await;
        }

        // Publish.
        self.wake_at = earliest(round.wake_at, self.expectations.next_deadline(now, action_timeout));
        self.published.publish(&self.fleet, &self.cluster, round).await?;
        self.info.lock().expect("session info lock").in_flight = self.expectations.counts();
        Ok(())
    }

    async fn send(&mut self, intent: ActionIntent, now: DateTime<Utc>) {
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
        self.expectations.sent(intent, now);
        // A closed stream ends the session through the event channel; the intent stays for the next one.
        let _ = self.outbound.send(ToShim::Action(action)).await;
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

/// Sleeps until a wall-clock moment (plus [`WAKE_MARGIN`]); the engine's times are wall-clock.
fn sleep_until(at: DateTime<Utc>) -> tokio::time::Sleep {
    let wait = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + WAKE_MARGIN)
}
