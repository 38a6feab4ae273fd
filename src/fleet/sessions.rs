//! Shim sessions: authentication of a shim's token, one session (and actor) per connected cluster, reports
//! asked of a session, and ending them at shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::actor::ClusterActor;
use super::{
    CloseReason, Control, Fleet, FleetError, Report, ReportQuery, Session, SessionCredential, SessionHandle,
    SessionInfo, token,
};
use crate::store::{ClusterRecord, ClusterSeen, TokenMatch};

/// Why a shim's credential does not open a stream.
#[derive(Debug, thiserror::Error)]
pub enum ShimRejected {
    #[error("invalid or revoked shim token")]
    UnknownToken,
    #[error("cluster {0:?} named by the client certificate is not registered")]
    UnknownCluster(String),
    #[error("the credentials of cluster {0:?} are revoked")]
    Revoked(String),
    #[error(transparent)]
    Store(#[from] FleetError),
}

impl Fleet {
    /// After a token change: sessions opened with a token that no longer works are closed now; with `overlap`,
    /// a session opened with the token just replaced is closed when the overlap ends. Certificate sessions stay
    /// unless the cluster's credentials are revoked.
    pub(super) fn token_replaced(&self, cluster: &str, overlap: Option<DateTime<Utc>>, revoked: bool) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        let Some(session) = sessions.get_mut(cluster) else { return };
        let close_now = match (&mut session.credential, overlap) {
            (SessionCredential::Certificate, _) => revoked,
            (SessionCredential::Token { valid_until: valid_until @ None }, Some(until)) => {
                *valid_until = Some(until);
                self.close_session_at(cluster, session.id, until);
                false
            }
            (SessionCredential::Token { .. }, _) => true,
        };
        if close_now && let Some(s) = sessions.remove(cluster) {
            let _ = s.control.send(Control::Close(CloseReason::CredentialsRevoked));
        }
    }

    /// Closes a cluster's session at `until` (its credential's end), if it is still the same session then.
    fn close_session_at(&self, cluster: &str, id: u64, until: DateTime<Utc>) {
        let (fleet, cluster) = (self.clone(), cluster.to_string());
        tokio::spawn(async move {
            tokio::time::sleep((until - Utc::now()).to_std().unwrap_or_default()).await;
            fleet.close_session_if(&cluster, id, CloseReason::CredentialsRevoked);
        });
    }

    /// Closes a cluster's session only if it is still the one with this id.
    fn close_session_if(&self, cluster: &str, id: u64, reason: CloseReason) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        if sessions.get(cluster).is_some_and(|s| s.id == id)
            && let Some(s) = sessions.remove(cluster)
        {
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
    pub(super) async fn query(
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

    /// The cluster a shim token belongs to at `now`, and which of its tokens it is.
    pub async fn authenticate_shim_token(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<(ClusterRecord, TokenMatch), ShimRejected> {
        self.inner
            .store
            .cluster_by_token_hash(&token::hash(secret), now)
            .await
            .map_err(FleetError::from)?
            .ok_or(ShimRejected::UnknownToken)
    }

    /// The cluster a client certificate names; refused while the cluster's credentials are revoked.
    pub async fn cluster_for_certificate(&self, name: &str) -> Result<ClusterRecord, ShimRejected> {
        let cluster = self.inner.store.get_cluster(name).await.map_err(FleetError::from)?;
        let cluster = cluster.ok_or_else(|| ShimRejected::UnknownCluster(name.to_string()))?;
        if !cluster.token_active {
            return Err(ShimRejected::Revoked(name.to_string()));
        }
        Ok(cluster)
    }

    /// Opens a session for an authenticated cluster after its hello; an older session of the cluster is closed.
    pub async fn open_session(
        &self,
        cluster: &ClusterRecord,
        credential: SessionCredential,
        hello_cluster: &str,
        shim_version: &str,
    ) -> Result<Session, FleetError> {
        if self.is_shutting_down() {
            return Err(FleetError::ShuttingDown);
        }
        if hello_cluster != cluster.name {
            return Err(FleetError::WrongCluster {
                credential: cluster.name.clone(),
                requested: hello_cluster.to_string(),
            });
        }
        let intents = self.inner.store.list_intents(&cluster.name).await?;
        // Recorded before any action can be sent: "never seen" means "cannot hold pods" to a Background delete.
        let seen = ClusterSeen {
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
        let previous = self.inner.sessions.lock().expect("sessions lock").insert(
            cluster.name.clone(),
            SessionHandle { id, control: control_tx, info: Arc::clone(&info), credential },
        );
        if let Some(previous) = previous {
            let _ = previous.control.send(Control::Close(CloseReason::Replaced));
        }
        // A stream opened with a replaced token lasts only as long as that token.
        if let SessionCredential::Token { valid_until: Some(until) } = credential {
            self.close_session_at(&cluster.name, id, until);
        }
        let actor = ClusterActor::new(
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
    pub(super) fn session_ended(&self, cluster: &str, id: u64) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        if sessions.get(cluster).is_some_and(|s| s.id == id) {
            sessions.remove(cluster);
        }
        drop(sessions);
        self.notify_status();
    }
}
