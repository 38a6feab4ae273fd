//! The fleet: registered clusters, one actor per connected cluster, and the DaemonSet catalog they plan from.
//! Everything durable goes through the store first; in-memory state is only what a session holds.

mod actor;
pub mod catalog;
mod daemonsets;
pub mod error;
mod planning;
mod revisions;
mod rollout;
pub mod session;
mod slow_start;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::core::SelectorExt;
use tokio::sync::{mpsc, watch};

pub use catalog::{Catalog, CatalogEntry};
pub use daemonsets::{ApplyOutcome, DaemonSetView, TargetView};
pub use error::FleetError;
pub use planning::{ClusterPlan, PlanSource};
pub use revisions::{RevisionView, RollbackOutcome};
pub use rollout::{ClusterRollout, Rollout};
pub use session::{CloseReason, Control, Report, ReportQuery, ShimAction, ShimEvent, ToShim};

use crate::engine::model::Labels;
use crate::engine::selector::parse_label_selector;
use crate::store::{ClusterRecord, Store};

/// Tunables of the fleet.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// How often shims send heartbeats.
    pub heartbeat_interval: Duration,
    /// A session with no message for this long is closed.
    pub heartbeat_timeout: Duration,
    /// Most creates and, separately, deletes per DaemonSet per round (upstream BurstReplicas).
    pub burst: usize,
    /// Largest message accepted from a shim, in bytes.
    pub max_message_bytes: usize,
    /// An action not confirmed within this time no longer blocks a new one (upstream's expectations TTL).
    pub action_timeout: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(45),
            burst: crate::engine::manage::DEFAULT_BURST,
            max_message_bytes: 4 * 1024 * 1024,
            action_timeout: Duration::from_secs(300),
        }
    }
}

/// Live facts about a connected session, shared between its actor and readers.
#[derive(Clone, Debug, Default)]
pub struct SessionInfo {
    pub shim_version: String,
    pub synced: bool,
    pub node_count: u32,
    pub last_seen: Option<DateTime<Utc>>,
    /// Unconfirmed actions per DaemonSet uid.
    pub in_flight: HashMap<String, i32>,
}

struct SessionHandle {
    id: u64,
    control: mpsc::UnboundedSender<Control>,
    info: Arc<Mutex<SessionInfo>>,
}

/// A cluster as reported to the platform: its record plus live session facts.
#[derive(Clone, Debug)]
pub struct ClusterView {
    pub record: ClusterRecord,
    pub session: Option<SessionInfo>,
}

/// A shim's open session: events go in, messages for the shim come out.
pub struct Session {
    pub cluster: String,
    pub events: mpsc::Sender<ShimEvent>,
    pub outbound: mpsc::Receiver<ToShim>,
}

pub(crate) struct Inner {
    store: Arc<dyn Store>,
    config: FleetConfig,
    catalog: watch::Sender<Arc<Catalog>>,
    sessions: Mutex<HashMap<String, SessionHandle>>,
    next_session: AtomicU64,
    /// Serializes DaemonSet writes within this replica; the store's generation check guards across replicas.
    writes: tokio::sync::Mutex<()>,
    /// Bumped whenever a stored status or DaemonSet changes; rollout watchers wait on it.
    status_epoch: watch::Sender<u64>,
    shutting_down: std::sync::atomic::AtomicBool,
    /// Cluster actors still running, so shutdown can wait for their last writes.
    live_actors: watch::Sender<usize>,
}

/// The fleet service core. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl Fleet {
    /// Loads the catalog from the store.
    pub async fn new(store: Arc<dyn Store>, config: FleetConfig) -> Result<Fleet, FleetError> {
        let records = store.list_daemonsets(None).await?;
        let catalog = Catalog::build(records, &Catalog::default())?;
        let (catalog, _) = watch::channel(Arc::new(catalog));
        Ok(Fleet {
            inner: Arc::new(Inner {
                store,
                config,
                catalog,
                sessions: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(1),
                writes: tokio::sync::Mutex::new(()),
                status_epoch: watch::channel(0).0,
                shutting_down: std::sync::atomic::AtomicBool::new(false),
                live_actors: watch::channel(0).0,
            }),
        })
    }

    pub fn config(&self) -> &FleetConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Re-reads every DaemonSet and publishes a new catalog to the cluster actors.
    pub(crate) async fn reload_catalog(&self) -> Result<(), FleetError> {
        let records = self.inner.store.list_daemonsets(None).await?;
        let previous = self.inner.catalog.borrow().clone();
        let catalog = Catalog::build(records, &previous)?;
        self.inner.catalog.send_replace(Arc::new(catalog));
        self.notify_status();
        Ok(())
    }

    fn session_info(&self, cluster: &str) -> Option<SessionInfo> {
        let sessions = self.inner.sessions.lock().expect("sessions lock");
        sessions.get(cluster).map(|s| s.info.lock().expect("session info lock").clone())
    }

    // ---- clusters ----

    /// Registers a cluster and returns it with its one-time token.
    pub async fn register_cluster(&self, name: &str, labels: Labels) -> Result<(ClusterView, String), FleetError> {
        validate_cluster_name(name)?;
        for (key, value) in &labels {
            crate::engine::validation::validate_label(key, value)
                .map_err(|e| FleetError::InvalidArgument(format!("labels: {e}")))?;
        }
        let token = token::generate();
        let record = ClusterRecord {
            name: name.to_string(),
            labels,
            token_active: true,
            created_at: Utc::now(),
            last_seen_at: None,
            shim_version: String::new(),
            node_count: 0,
        };
        self.inner.store.create_cluster(&record, &token::hash(&token)).await?;
        Ok((ClusterView { record, session: None }, token))
    }

    pub async fn get_cluster(&self, name: &str) -> Result<ClusterView, FleetError> {
        let record = self
            .inner
            .store
            .get_cluster(name)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("cluster {name:?} not found")))?;
        Ok(ClusterView { session: self.session_info(name), record })
    }

    pub async fn list_clusters(&self, label_selector: &str) -> Result<Vec<ClusterView>, FleetError> {
        let selector = parse_label_selector(label_selector)
            .map_err(|e| FleetError::InvalidArgument(format!("label_selector: {e}")))?;
        let records = self.inner.store.list_clusters().await?;
        Ok(records
            .into_iter()
            .filter(|r| selector.matches(&r.labels))
            .map(|record| ClusterView { session: self.session_info(&record.name), record })
            .collect())
    }

    /// Replaces a cluster's token (Some) or revokes it (None); a connected shim is disconnected.
    pub async fn reset_cluster_token(
        &self,
        name: &str,
        issue_new: bool,
    ) -> Result<(ClusterView, Option<String>), FleetError> {
        let token = issue_new.then(token::generate);
        let hash = token.as_deref().map(token::hash);
        self.inner.store.set_cluster_token(name, hash.as_deref()).await?;
        self.close_session(name, CloseReason::CredentialsRevoked);
        Ok((self.get_cluster(name).await?, token))
    }

    fn close_session(&self, cluster: &str, reason: CloseReason) {
        if let Some(s) = self.inner.sessions.lock().expect("sessions lock").remove(cluster) {
            let _ = s.control.send(Control::Close(reason));
        }
    }

    /// Ends every shim session (the shims reconnect, to this replica or another) and every rollout watch, so
    /// that a graceful shutdown does not wait on streams that never end by themselves.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let sessions: Vec<SessionHandle> =
            self.inner.sessions.lock().expect("sessions lock").drain().map(|(_, s)| s).collect();
        for s in sessions {
            let _ = s
                .control
                .send(Control::Close(CloseReason::Unavailable("daemonplane is shutting down; reconnect".into())));
        }
        self.notify_status();
    }

    /// Waits (at most `limit`) until every cluster actor has ended and written its session's last state.
    pub async fn wait_for_actors(&self, limit: Duration) -> bool {
        let mut live = self.inner.live_actors.subscribe();
        tokio::time::timeout(limit, live.wait_for(|n| *n == 0)).await.is_ok()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Sends a report query to a cluster's actor; None when no session is open.
    async fn query(
        &self,
        cluster: &str,
        query: impl FnOnce(tokio::sync::oneshot::Sender<Report>) -> ReportQuery,
    ) -> Option<Report> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let sessions = self.inner.sessions.lock().expect("sessions lock");
            let session = sessions.get(cluster)?;
            session.control.send(Control::Report(query(tx))).ok()?;
        }
        rx.await.ok()
    }

    // ---- shim sessions ----

    /// The cluster a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<ClusterRecord, FleetError> {
        if token.is_empty() {
            return Err(FleetError::Unauthenticated(
                "missing shim token: send `authorization: Bearer <token>` metadata".into(),
            ));
        }
        self.inner
            .store
            .cluster_by_token_hash(&token::hash(token))
            .await?
            .ok_or_else(|| FleetError::Unauthenticated("invalid or revoked shim token".into()))
    }

    /// Opens a session for an authenticated cluster after its hello; an older session of the cluster is closed.
    pub async fn open_session(
        &self,
        cluster: &ClusterRecord,
        hello_cluster: &str,
        shim_version: &str,
    ) -> Result<Session, FleetError> {
        if self.is_shutting_down() {
            return Err(FleetError::Unavailable("daemonplane is shutting down; reconnect".into()));
        }
        if hello_cluster != cluster.name {
            return Err(FleetError::PermissionDenied(format!(
                "this token belongs to cluster {:?}; it cannot act for cluster {hello_cluster:?}",
                cluster.name
            )));
        }
        let intents = self.inner.store.list_intents(&cluster.name).await?;
        // Recorded before any action can be sent: "never seen" means "cannot hold pods" to a Background delete.
        let seen = crate::store::ClusterSeen {
            name: cluster.name.clone(),
            at: Utc::now(),
            shim_version: shim_version.to_string(),
            node_count: cluster.node_count,
        };
        self.inner.store.record_cluster_seen(&seen).await?;
        let (events_tx, events_rx) = mpsc::channel(1024);
        let (out_tx, out_rx) = mpsc::channel(4096);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let info = Arc::new(Mutex::new(SessionInfo {
            shim_version: shim_version.to_string(),
            last_seen: Some(Utc::now()),
            ..SessionInfo::default()
        }));
        let id = self.inner.next_session.fetch_add(1, Ordering::Relaxed);
        let previous = self
            .inner
            .sessions
            .lock()
            .expect("sessions lock")
            .insert(cluster.name.clone(), SessionHandle { id, control: control_tx, info: Arc::clone(&info) });
        if let Some(previous) = previous {
            let _ = previous.control.send(Control::Close(CloseReason::Replaced));
        }
        let actor = actor::ClusterActor::new(
            self.clone(),
            cluster.name.clone(),
            id,
            info,
            self.inner.catalog.subscribe(),
            out_tx,
            intents,
        );
        self.inner.live_actors.send_modify(|n| *n += 1);
        let fleet = self.clone();
        tokio::spawn(async move {
            actor.run(events_rx, control_rx).await;
            fleet.inner.live_actors.send_modify(|n| *n -= 1);
        });
        self.notify_status();
        Ok(Session { cluster: cluster.name.clone(), events: events_tx, outbound: out_rx })
    }

    /// Called by an actor when its session ends; only the current session unregisters itself.
    fn session_ended(&self, cluster: &str, id: u64) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        if sessions.get(cluster).is_some_and(|s| s.id == id) {
            sessions.remove(cluster);
        }
        drop(sessions);
        self.notify_status();
    }
}

/// Cluster names are DNS-1123 labels, so they fit in label values and hostnames.
fn validate_cluster_name(name: &str) -> Result<(), FleetError> {
    crate::engine::validation::validate_dns1123_label(name)
        .map_err(|e| FleetError::InvalidArgument(format!("name: Invalid value: {name:?}: {e}")))
}
