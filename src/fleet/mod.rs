//! The fleet: registered clusters, one actor per connected cluster, and the DaemonSet catalog they plan from.
//! Everything durable goes through the store first; in-memory state is only what a session holds.

pub mod access;
mod actor;
pub mod api_tokens;
pub mod catalog;
mod clusters;
mod daemonsets;
pub mod error;
pub mod messages;
mod planning;
mod revisions;
mod rollout;
mod sessions;
mod slow_start;
pub mod token;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

pub use catalog::{Catalog, CatalogEntry};
pub use daemonsets::{ApplyOutcome, Change, DaemonSetView, TargetView};
pub use error::FleetError;
pub use messages::{CloseReason, Control, Report, ReportQuery, ShimAction, ShimEvent, ToShim};
pub use planning::{ClusterPlan, PlanSource};
pub use revisions::{RevisionView, RollbackOutcome};
pub use rollout::{ClusterRollout, Rollout};
pub use sessions::ShimRejected;

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
    /// Most registered clusters.
    pub max_clusters: usize,
    /// Most DaemonSets (those being deleted included).
    pub max_daemonsets: usize,
    /// Most nodes in one cluster's view, whether a snapshot or node upserts bring them.
    pub max_nodes_per_cluster: usize,
    /// Messages per second one shim session may send, sustained; a snapshot chunk is one message.
    pub shim_events_per_second: NonZeroU32,
    /// Messages a shim session may send at once above that rate (a token bucket's size).
    pub shim_event_burst: NonZeroU32,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_timeout: Duration::from_secs(45),
            burst: crate::engine::manage::DEFAULT_BURST,
            max_message_bytes: 4 * 1024 * 1024,
            action_timeout: Duration::from_secs(300),
            max_clusters: 1_000,
            max_daemonsets: 1_000,
            // Room for 5,000-node clusters growing fourfold.
            max_nodes_per_cluster: 20_000,
            // A 5,000-node cluster may report every node and its daemon pod at once, twice over, unthrottled.
            shim_events_per_second: NonZeroU32::new(20_000).expect("not zero"),
            shim_event_burst: NonZeroU32::new(20_000).expect("not zero"),
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
    credential: SessionCredential,
}

/// What proved a session's cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCredential {
    /// A shim token; `valid_until` is set once it has been replaced with an overlap.
    Token { valid_until: Option<DateTime<Utc>> },
    /// A client certificate naming the cluster.
    Certificate,
}

impl SessionCredential {
    /// The credential of a stream opened with this token match (None: a certificate alone).
    pub fn from_token(matched: Option<crate::store::TokenMatch>) -> Self {
        match matched {
            None => SessionCredential::Certificate,
            Some(crate::store::TokenMatch::Current) => SessionCredential::Token { valid_until: None },
            Some(crate::store::TokenMatch::Previous { valid_until }) => {
                SessionCredential::Token { valid_until: Some(valid_until) }
            }
        }
    }
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
    /// Serializes cluster registrations, so that concurrent ones cannot pass the cluster limit together.
    registrations: tokio::sync::Mutex<()>,
    /// Bumped whenever a stored status or DaemonSet changes; rollout watchers wait on it.
    status_epoch: watch::Sender<u64>,
    shutting_down: std::sync::atomic::AtomicBool,
    /// Cluster actors still running, so shutdown can wait for their last writes.
    live_actors: watch::Sender<usize>,
    /// Bumped when a credential is revoked.
    credentials_changed: watch::Sender<u64>,
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
                registrations: tokio::sync::Mutex::new(()),
                status_epoch: watch::channel(0).0,
                shutting_down: std::sync::atomic::AtomicBool::new(false),
                live_actors: watch::channel(0).0,
                credentials_changed: watch::channel(0).0,
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
}
