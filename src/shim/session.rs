//! The shim's connection to the service: hello, a chunked snapshot, then deltas, heartbeats and action
//! results out, actions and resync requests in. When the stream breaks the shim reconnects with backoff and
//! jitter and starts over with a fresh snapshot, which the service reconciles its view against.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status, Streaming};

use super::Applier;
use super::backoff::Backoff;
use super::dispatch::{Accepted, Dispatcher};
use super::mirror::{Mirror, Snapshot};
use crate::pb;
use crate::pb::server_message::Kind as ServerKind;
use crate::pb::shim_message::Kind;
use crate::pb::shim_service_client::ShimServiceClient;

/// Where the shim's token comes from. A file is re-read on every connect, so a rotated Secret takes effect
/// without a restart.
#[derive(Clone, Debug)]
pub enum TokenSource {
    File(PathBuf),
    Value(String),
}

impl TokenSource {
    fn read(&self) -> Result<String, String> {
        match self {
            TokenSource::Value(t) => Ok(t.trim().to_string()),
            TokenSource::File(path) => match std::fs::read_to_string(path) {
                Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
                Ok(_) => Err(format!("token file {} is empty", path.display())),
                Err(e) => Err(format!("cannot read token file {}: {e}", path.display())),
            },
        }
    }
}

/// How the shim reaches the service.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The service's URL, e.g. `http://daemonplane:50051`, or `https://…` for a service serving TLS.
    pub server: String,
    /// PEM CA certificates trusted for an https service, besides the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM certificate chain and private key presented to a service that requires client certificates.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The cluster this shim acts for.
    pub cluster: String,
    pub token: TokenSource,
    /// Actions run at the same time.
    pub parallel_actions: usize,
    /// Limit on establishing the connection and on the service's welcome.
    pub connect_timeout: Duration,
    /// First and largest reconnect delay.
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
}

impl SessionConfig {
    pub fn new(server: impl Into<String>, cluster: impl Into<String>, token: TokenSource) -> Self {
        SessionConfig {
            server: server.into(),
            ca_pem: None,
            client_identity: None,
            cluster: cluster.into(),
            token,
            parallel_actions: 32,
            connect_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// What the shim is doing, for logs, tests and the demo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShimState {
    /// True while a session is open (welcome received).
    pub connected: bool,
    /// Sessions opened so far.
    pub sessions: u64,
    /// Snapshots sent so far (one per session plus one per resync).
    pub snapshots: u64,
    /// Why the last session ended or the last attempt failed.
    pub last_error: Option<String>,
}

/// Why one session ended.
enum Ended {
    /// Shutdown was asked for.
    Shutdown,
    /// The stream broke or could not be opened; try again.
    Lost { reason: String, connected_for: Option<Duration> },
    /// Retrying cannot help (e.g. the token belongs to another cluster).
    Fatal(String),
}

/// A session that ran long enough counts as healthy: the next reconnect starts from the initial delay.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// Snapshot ids only need to differ within a stream; a process-wide counter also makes them unique per process.
static SNAPSHOT_IDS: AtomicU64 = AtomicU64::new(1);

/// Splits a snapshot into chunks whose encoding stays within `budget` bytes (a single larger object gets a
/// chunk of its own). Always at least one chunk, the last one flagged.
pub fn chunk_snapshot(snapshot: Snapshot, snapshot_id: u64, budget: usize) -> Vec<pb::SnapshotChunk> {
    // Per item: its bytes plus the field tag and length prefix.
    const FRAMING: usize = 16;
    let mut chunks = Vec::new();
    let mut current = pb::SnapshotChunk { snapshot_id, ..Default::default() };
    let mut used = 0usize;
    let flush = |current: &mut pb::SnapshotChunk, used: &mut usize, chunks: &mut Vec<pb::SnapshotChunk>| {
        chunks.push(std::mem::replace(current, pb::SnapshotChunk { snapshot_id, ..Default::default() }));
        *used = 0;
    };
    for node in snapshot.nodes {
        let size = node.encoded_len() + FRAMING;
        if used > 0 && used + size > budget {
            flush(&mut current, &mut used, &mut chunks);
        }
        used += size;
        current.nodes.push(node);
    }
    for pod in snapshot.pods {
        let size = pod.encoded_len() + FRAMING;
        if used > 0 && used + size > budget {
            flush(&mut current, &mut used, &mut chunks);
        }
        used += size;
        current.pods.push(pod);
    }
    current.last = true;
    chunks.push(current);
    chunks
}

/// Runs the shim until `shutdown` resolves (Ok) or retrying cannot help (Err with the reason).
pub async fn run(
    config: SessionConfig,
    mirror: Arc<Mirror>,
    applier: Arc<dyn Applier>,
    state: watch::Sender<ShimState>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (dispatcher, mut results) = Dispatcher::new(applier, config.parallel_actions);
    let mut backoff = Backoff::new(config.reconnect_initial, config.reconnect_max);
    tokio::pin!(shutdown);
    let synced = tokio::select! {
        _ = mirror.wait_synced() => true,
        _ = &mut shutdown => false,
    };
    if !synced {
        return Ok(());
    }
    loop {
        let ended = tokio::select! {
            ended = session(&config, &mirror, &dispatcher, &mut results, &state) => ended,
            _ = &mut shutdown => Ended::Shutdown,
        };
        mirror.unsubscribe();
        state.send_modify(|s| s.connected = false);
        match ended {
            Ended::Shutdown => {
                tracing::info!(cluster = %config.cluster, "shim stopped");
                return Ok(());
            }
            Ended::Fatal(reason) => {
                state.send_modify(|s| s.last_error = Some(reason.clone()));
                tracing::error!(cluster = %config.cluster, "{reason}");
                return Err(anyhow::anyhow!(reason));
            }
            Ended::Lost { reason, connected_for } => {
                if connected_for.is_some_and(|d| d >= HEALTHY_SESSION) {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::warn!(cluster = %config.cluster, retry_in_ms = delay.as_millis() as u64, "{reason}");
                state.send_modify(|s| s.last_error = Some(reason));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = &mut shutdown => {
                        tracing::info!(cluster = %config.cluster, "shim stopped");
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn lost(reason: String) -> Ended {
    Ended::Lost { reason, connected_for: None }
}

/// The end of a session from a gRPC status.
fn from_status(config: &SessionConfig, status: &Status, connected: Option<Instant>) -> Ended {
    let connected_for = connected.map(|t| t.elapsed());
    match status.code() {
        Code::PermissionDenied => Ended::Fatal(format!(
            "the service refused cluster {:?} for this token: {} (is --cluster the name the token was issued for?)",
            config.cluster,
            status.message()
        )),
        Code::Unauthenticated => Ended::Lost {
            reason: format!(
                "the service rejected the token for cluster {:?}: {} (revoked or rotated? the token is read again \
                 on the next attempt)",
                config.cluster,
                status.message()
            ),
            connected_for,
        },
        _ => Ended::Lost {
            reason: with_causes(
                format!("session with {} ended: {}: {}", config.server, status.code(), status.message()),
                status,
            ),
            connected_for,
        },
    }
}

/// `text` followed by what lies under `error`, e.g. the TLS alert under a "transport error", as
/// `: cause: deeper cause`.
fn with_causes(mut text: String, error: &dyn std::error::Error) -> String {
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        // Wrappers often repeat their cause's words; say each once.
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Sends a fresh snapshot of the mirror and returns the changes that follow it.
async fn send_snapshot(
    mirror: &Mirror,
    out: &mpsc::Sender<pb::ShimMessage>,
    budget: usize,
    state: &watch::Sender<ShimState>,
) -> Option<super::mirror::Deltas> {
    let (snapshot, deltas) = mirror.subscribe();
    let (nodes, pods) = (snapshot.nodes.len(), snapshot.pods.len());
    let id = SNAPSHOT_IDS.fetch_add(1, Ordering::Relaxed);
    let chunks = chunk_snapshot(snapshot, id, budget);
    let count = chunks.len();
    for chunk in chunks {
        out.send(pb::ShimMessage { kind: Some(Kind::Snapshot(chunk)) }).await.ok()?;
    }
    state.send_modify(|s| s.snapshots += 1);
    tracing::info!(nodes, pods, chunks = count, "snapshot sent");
    Some(deltas)
}

/// The service's endpoint: plaintext for http://, TLS (system roots plus the configured CA, and the client
/// certificate if one is configured) for https://.
fn endpoint(config: &SessionConfig) -> Result<Endpoint, String> {
    let endpoint = Endpoint::from_shared(config.server.clone())
        .map_err(|e| format!("--server {:?} is not a valid URL: {e}", config.server))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true);
    if config.server.starts_with("http://") {
        return Ok(endpoint);
    }
    if !config.server.starts_with("https://") {
        return Err(format!("--server {:?}: the URL must start with http:// or https://", config.server));
    }
    let mut tls = ClientTlsConfig::new().with_native_roots();
    if let Some(ca) = &config.ca_pem {
        tls = tls.ca_certificate(Certificate::from_pem(ca));
    }
    if let Some((cert, key)) = &config.client_identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    endpoint.tls_config(tls).map_err(|e| format!("TLS for {}: {e}", config.server))
}

/// One session, from connecting to the end of the stream.
async fn session(
    config: &SessionConfig,
    mirror: &Mirror,
    dispatcher: &Dispatcher,
    results: &mut mpsc::UnboundedReceiver<pb::ActionResult>,
    state: &watch::Sender<ShimState>,
) -> Ended {
    let token = match config.token.read() {
        Ok(t) => t,
        Err(e) => return lost(e),
    };
    let endpoint = match endpoint(config) {
        Ok(e) => e,
        Err(reason) => return Ended::Fatal(reason),
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => {
            let source = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            return lost(format!("cannot reach the service at {}: {e}{source}", config.server));
        }
    };
    let mut client = ShimServiceClient::new(channel);
    let (out, out_rx) = mpsc::channel::<pb::ShimMessage>(1024);
    let hello = pb::Hello { cluster: config.cluster.clone(), shim_version: crate::VERSION.to_string() };
    if out.send(pb::ShimMessage { kind: Some(Kind::Hello(hello)) }).await.is_err() {
        return lost("outgoing stream closed before hello".into());
    }
    let mut request = Request::new(ReceiverStream::new(out_rx));
    match format!("Bearer {token}").parse() {
        Ok(value) => {
            request.metadata_mut().insert("authorization", value);
        }
        Err(_) => return lost("the token contains characters not allowed in gRPC metadata".into()),
    }
    let opened = tokio::time::timeout(config.connect_timeout, async {
        let mut inbound: Streaming<pb::ServerMessage> = client.connect(request).await?.into_inner();
        match inbound.message().await? {
            Some(pb::ServerMessage { kind: Some(ServerKind::Welcome(w)) }) => Ok((inbound, w)),
            Some(other) => Err(Status::internal(format!("expected welcome, got {other:?}"))),
            None => Err(Status::unavailable("the service closed the stream before its welcome")),
        }
    })
    .await;
    let (mut inbound, welcome) = match opened {
        Err(_) => return lost(format!("no welcome from {} within {:?}", config.server, config.connect_timeout)),
        Ok(Err(status)) => return from_status(config, &status, None),
        Ok(Ok(v)) => v,
    };
    let connected = Instant::now();
    state.send_modify(|s| {
        s.connected = true;
        s.sessions += 1;
    });
    tracing::info!(cluster = %welcome.cluster, server_version = %welcome.server_version, "session open");
    let limit = if welcome.max_message_bytes == 0 { 4 << 20 } else { welcome.max_message_bytes as usize };
    let budget = limit / 2;
    let Some(mut deltas) = send_snapshot(mirror, &out, budget, state).await else {
        return lost("the stream closed while the snapshot was sent".into());
    };
    let mut heartbeat =
        tokio::time::interval(Duration::from_secs(u64::from(welcome.heartbeat_interval_seconds.max(1))));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    let closed =
        || Ended::Lost { reason: "the outgoing stream closed".into(), connected_for: Some(connected.elapsed()) };
    loop {
        // Each branch yields what to send, if anything; a fresh snapshot (after an overflow or on request)
        // replaces the delta stream.
        let mut resnapshot = false;
        let outgoing = tokio::select! {
            delta = deltas.recv() => {
                if delta.is_none() {
                    tracing::warn!("changes outpaced the stream; sending a fresh snapshot");
                    resnapshot = true;
                }
                delta
            }
            Some(result) = results.recv() => Some(Kind::ActionResult(result)),
            _ = heartbeat.tick() => {
                let now = chrono::Utc::now();
                let sent_at =
                    prost_types::Timestamp { seconds: now.timestamp(), nanos: now.timestamp_subsec_nanos() as i32 };
                Some(Kind::Heartbeat(pb::Heartbeat { sent_at: Some(sent_at) }))
            }
            message = inbound.message() => match message {
                Ok(Some(pb::ServerMessage { kind: Some(ServerKind::Action(action)) })) => match dispatcher.accept(action) {
                    Accepted::Finished(result) => Some(Kind::ActionResult(result)),
                    Accepted::Ignored(why) => {
                        tracing::warn!("ignored an action: {why}");
                        None
                    }
                    Accepted::Started | Accepted::AlreadyRunning => None,
                },
                Ok(Some(pb::ServerMessage { kind: Some(ServerKind::Resync(r)) })) => {
                    tracing::info!(reason = %r.reason, "the service asked for a resync");
                    resnapshot = true;
                    None
                }
                Ok(Some(other)) => {
                    tracing::warn!("ignored an unexpected message from the service: {other:?}");
                    None
                }
                Ok(None) => {
                    return Ended::Lost {
                        reason: format!("the service at {} closed the stream", config.server),
                        connected_for: Some(connected.elapsed()),
                    };
                }
                Err(status) => return from_status(config, &status, Some(connected)),
            },
        };
        if let Some(kind) = outgoing
            && out.send(pb::ShimMessage { kind: Some(kind) }).await.is_err()
        {
            return closed();
        }
        if resnapshot {
            match send_snapshot(mirror, &out, budget, state).await {
                Some(d) => deltas = d,
                None => return closed(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_chunked_within_the_budget_and_end_with_last() {
        let nodes: Vec<pb::Node> = (0..100)
            .map(|i| pb::Node {
                name: format!("node-{i:03}"),
                labels: [("zone".to_string(), "a".repeat(200))].into(),
                ..Default::default()
            })
            .collect();
        let pods: Vec<pb::Pod> = (0..10).map(|i| pb::Pod { uid: format!("u{i}"), ..Default::default() }).collect();
        let chunks = chunk_snapshot(Snapshot { nodes: nodes.clone(), pods: pods.clone() }, 7, 2000);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert_eq!(c.snapshot_id, 7);
            assert!(c.encoded_len() <= 2000 + 300, "chunk of {} bytes", c.encoded_len());
        }
        assert!(chunks[..chunks.len() - 1].iter().all(|c| !c.last));
        assert!(chunks.last().unwrap().last);
        let all_nodes: Vec<_> = chunks.iter().flat_map(|c| c.nodes.clone()).collect();
        let all_pods: Vec<_> = chunks.iter().flat_map(|c| c.pods.clone()).collect();
        assert_eq!((all_nodes, all_pods), (nodes, pods));
    }

    #[test]
    fn an_empty_snapshot_is_one_last_chunk() {
        let chunks = chunk_snapshot(Snapshot::default(), 1, 100);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].last && chunks[0].nodes.is_empty() && chunks[0].pods.is_empty());
    }

    #[test]
    fn token_files_are_trimmed_and_empty_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(TokenSource::File(path.clone()).read().unwrap(), "abc");
        std::fs::write(&path, "  \n").unwrap();
        assert!(TokenSource::File(path.clone()).read().unwrap_err().contains("is empty"));
        assert!(TokenSource::File(dir.path().join("missing")).read().unwrap_err().contains("cannot read"));
    }
}
