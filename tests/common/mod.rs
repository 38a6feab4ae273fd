//! Test harness: a real daemonplane server on an ephemeral port, a fleet client, and a scripted shim that
//! speaks the real ShimService protocol over loopback.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use daemonplane::client::{FleetClient, fleet_client};
use daemonplane::fleet::FleetConfig;
use daemonplane::pb;
use daemonplane::pb::shim_service_client::ShimServiceClient;
use daemonplane::server::{Bootstrap, ServerConfig};
use daemonplane::store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};

pub const FLUENTD: &str = include_str!("../../deploy/examples/fluentd-elasticsearch.yaml");

/// The first admin token of every test server.
pub const ADMIN_TOKEN: &str = "dpa_test-admin-0123456789abcdef0123456789abcdef";

/// A test server's configuration: plaintext, default tunables, [`ADMIN_TOKEN`] as its first admin token.
pub fn server_config() -> ServerConfig {
    ServerConfig::new(Bootstrap::Token(ADMIN_TOKEN.to_string()))
}

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start(store: Arc<dyn Store>) -> TestServer {
        Self::start_with(store, FleetConfig::default()).await
    }

    pub async fn start_with(store: Arc<dyn Store>, config: FleetConfig) -> TestServer {
        let mut server = server_config();
        server.fleet = config;
        Self::start_configured(store, server).await
    }

    pub async fn start_configured(store: Arc<dyn Store>, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(daemonplane::server::serve(listener, store, config, async move {
            let _ = rx.await;
        }));
        TestServer { addr, shutdown: Some(tx), handle: Some(handle) }
    }

    /// A server started elsewhere (e.g. a restart on the same address), stopped through `shutdown`.
    pub fn from_parts(addr: SocketAddr, shutdown: oneshot::Sender<()>, handle: JoinHandle<anyhow::Result<()>>) -> Self {
        TestServer { addr, shutdown: Some(shutdown), handle: Some(handle) }
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr)).unwrap().connect().await.unwrap()
    }

    /// A FleetService client with the admin token.
    pub async fn fleet(&self) -> FleetClient {
        self.fleet_as(ADMIN_TOKEN).await
    }

    /// A FleetService client presenting `token`.
    pub async fn fleet_as(&self, token: &str) -> FleetClient {
        fleet_client(self.channel().await, token).unwrap()
    }

    /// Stops the server: a graceful shutdown, cut short after a moment when a test's shim keeps its stream
    /// open (a real shim drops it on the closing status).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut h) = self.handle.take()
            && tokio::time::timeout(Duration::from_millis(500), &mut h).await.is_err()
        {
            h.abort();
            let _ = h.await;
        }
    }
}

/// Polls `check` until it yields a value, failing the test with `what` after WAIT.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A store on a fresh SQLite file.
pub async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    daemonplane::store::connect(&url).await.unwrap()
}

pub async fn register(fleet: &mut FleetClient, name: &str) -> String {
    fleet
        .register_cluster(pb::RegisterClusterRequest { name: name.into(), labels: Default::default() })
        .await
        .unwrap()
        .into_inner()
        .token
}

pub async fn apply(
    fleet: &mut FleetClient,
    manifest: &str,
    clusters: &[&str],
) -> Result<pb::ApplyDaemonSetResponse, Status> {
    fleet
        .apply_daemon_set(pb::ApplyDaemonSetRequest {
            manifest: manifest.into(),
            targets: Some(pb::Targeting { clusters: clusters.iter().map(|c| c.to_string()).collect() }),
            rollout: None,
        })
        .await
        .map(|r| r.into_inner())
}

/// A manifest with a nodeSelector, in JSON.
pub fn daemonset_json(name: &str, image: &str, node_selector: &[(&str, &str)]) -> String {
    let selector: BTreeMap<&str, &str> = node_selector.iter().copied().collect();
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": selector, "containers": [{"name": "main", "image": image}]}
            }
        }
    })
    .to_string()
}

pub fn node(name: &str, labels: &[(&str, &str)]) -> pb::Node {
    pb::Node {
        name: name.into(),
        resource_version: "1".into(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

pub fn now() -> prost_types::Timestamp {
    let t = chrono::Utc::now();
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// A create action as the shim receives it.
#[derive(Clone, Debug)]
pub struct Create {
    pub action_id: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub pod: k8s_openapi::api::core::v1::Pod,
}

/// A delete action as the shim receives it.
#[derive(Clone, Debug)]
pub struct Delete {
    pub action_id: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// A scripted shim on a real Connect stream.
pub struct FakeShim {
    pub cluster: String,
    tx: mpsc::Sender<pb::ShimMessage>,
    pub rx: Streaming<pb::ServerMessage>,
    pub welcome: pb::Welcome,
}

/// Opens a Connect stream with `token` and sends `hello` naming `cluster`; returns the stream's first answer.
pub async fn open_stream(
    server: &TestServer,
    token: Option<&str>,
    cluster: &str,
) -> Result<(mpsc::Sender<pb::ShimMessage>, Streaming<pb::ServerMessage>), Status> {
    let mut client = ShimServiceClient::new(server.channel().await);
    let (tx, rx) = mpsc::channel(64);
    tx.send(hello(cluster)).await.unwrap();
    let mut request = Request::new(ReceiverStream::new(rx));
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let stream = client.connect(request).await?.into_inner();
    Ok((tx, stream))
}

pub fn hello(cluster: &str) -> pb::ShimMessage {
    pb::ShimMessage {
        kind: Some(pb::shim_message::Kind::Hello(pb::Hello {
            cluster: cluster.into(),
            shim_version: "test-shim/1".into(),
        })),
    }
}

pub fn msg(kind: pb::shim_message::Kind) -> pb::ShimMessage {
    pb::ShimMessage { kind: Some(kind) }
}

impl FakeShim {
    /// Connects, expects Welcome, and sends a one-chunk snapshot.
    pub async fn connect(
        server: &TestServer,
        token: &str,
        cluster: &str,
        nodes: Vec<pb::Node>,
        pods: Vec<pb::Pod>,
    ) -> FakeShim {
        let (tx, mut rx) = open_stream(server, Some(token), cluster).await.expect("connect");
        let first = tokio::time::timeout(WAIT, rx.message()).await.expect("welcome in time").expect("stream ok");
        let Some(pb::ServerMessage { kind: Some(pb::server_message::Kind::Welcome(welcome)) }) = first else {
            panic!("expected welcome, got {first:?}");
        };
        let shim = FakeShim { cluster: cluster.into(), tx, rx, welcome };
        shim.send(pb::shim_message::Kind::Snapshot(pb::SnapshotChunk { snapshot_id: 1, nodes, pods, last: true }))
            .await;
        shim
    }

    pub async fn send(&self, kind: pb::shim_message::Kind) {
        self.send_raw(msg(kind)).await;
    }

    pub async fn send_raw(&self, message: pb::ShimMessage) {
        self.tx.send(message).await.expect("stream open");
    }

    /// The next resourceVersion: one counter for the whole test process, so versions only grow, across
    /// reconnects too, as the API server's do.
    pub fn rv(&mut self) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string()
    }

    /// The next message from the service, failing the test after WAIT.
    pub async fn next(&mut self) -> Result<pb::ServerMessage, Status> {
        match tokio::time::timeout(WAIT, self.rx.message()).await {
            Ok(Ok(Some(m))) => Ok(m),
            Ok(Ok(None)) => Err(Status::cancelled("stream ended")),
            Ok(Err(status)) => Err(status),
            Err(_) => panic!("no message from the service within {WAIT:?}"),
        }
    }

    /// Reports an action's outcome, as a shim does right after its API call.
    pub async fn ack(&self, action_id: &str, succeeded: bool) {
        let (outcome, message) = if succeeded {
            (pb::ActionOutcome::Succeeded, String::new())
        } else {
            (pb::ActionOutcome::Failed, "pods is forbidden: exceeded quota".to_string())
        };
        self.send(pb::shim_message::Kind::ActionResult(pb::ActionResult {
            action_id: action_id.into(),
            outcome: outcome as i32,
            message,
            pod_uid: String::new(),
        }))
        .await;
    }

    /// Waits for exactly `n` actions; returns them as creates and deletes. Creates are acknowledged as they
    /// arrive (the API accepted them), which lets the next slow-start batch go out.
    pub async fn actions(&mut self, n: usize) -> (Vec<Create>, Vec<Delete>) {
        let (mut creates, mut deletes) = (Vec::new(), Vec::new());
        while creates.len() + deletes.len() < n {
            let m = self.next().await.expect("stream ok");
            match m.kind {
                Some(pb::server_message::Kind::Action(a)) => match a.kind {
                    Some(pb::action::Kind::CreatePod(c)) => {
                        self.ack(&a.action_id, true).await;
                        creates.push(Create {
                            action_id: a.action_id,
                            pod: serde_json::from_str(&c.pod_json).expect("pod json"),
                            namespace: c.namespace,
                            name: c.name,
                            node: c.node_name,
                        })
                    }
                    Some(pb::action::Kind::DeletePod(d)) => deletes.push(Delete {
                        action_id: a.action_id,
                        namespace: d.namespace,
                        name: d.name,
                        uid: d.uid,
                    }),
                    None => panic!("empty action"),
                },
                other => panic!("expected an action, got {other:?}"),
            }
        }
        (creates, deletes)
    }

    /// Every message that arrives until the stream is quiet for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<pb::ServerMessage> {
        let mut out = Vec::new();
        while let Ok(m) = tokio::time::timeout(quiet, self.rx.message()).await {
            out.push(m.expect("stream ok").expect("stream open"));
        }
        out
    }

    /// Asserts nothing arrives for a short while.
    pub async fn expect_quiet(&mut self, for_: Duration) {
        if let Ok(m) = tokio::time::timeout(for_, self.rx.message()).await {
            panic!("expected no message, got {m:?}");
        }
    }

    /// Plays the Kubernetes side of a create: the pod exists, scheduled on its node, Running and Ready.
    pub async fn run_pod(&mut self, create: &Create, ready: bool) -> pb::Pod {
        let labels = create.pod.metadata.labels.clone().unwrap_or_default();
        let pod = pb::Pod {
            namespace: create.namespace.clone(),
            name: create.name.clone(),
            uid: format!("uid-{}", create.name),
            resource_version: self.rv(),
            node_name: create.node.clone(),
            target_node: create.node.clone(),
            revision_hash: labels.get("controller-revision-hash").cloned().unwrap_or_default(),
            labels: labels.into_iter().collect(),
            phase: pb::PodPhase::Running as i32,
            ready,
            ready_since: Some(now()),
            created_at: Some(now()),
            deletion_timestamp: None,
            controller: None,
            requests: None,
            host_ports: vec![],
        };
        self.send(pb::shim_message::Kind::ActionResult(pb::ActionResult {
            action_id: create.action_id.clone(),
            outcome: pb::ActionOutcome::Succeeded as i32,
            message: String::new(),
            pod_uid: pod.uid.clone(),
        }))
        .await;
        self.send(pb::shim_message::Kind::PodUpsert(pb::PodUpsert { pod: Some(pod.clone()) })).await;
        pod
    }

    /// Plays the Kubernetes side of a delete: the pod is gone.
    pub async fn delete_pod(&mut self, delete: &Delete) {
        self.send(pb::shim_message::Kind::ActionResult(pb::ActionResult {
            action_id: delete.action_id.clone(),
            outcome: pb::ActionOutcome::Succeeded as i32,
            message: String::new(),
            pod_uid: delete.uid.clone(),
        }))
        .await;
        let rv = self.rv();
        self.send(pb::shim_message::Kind::PodDelete(pb::PodDelete {
            namespace: delete.namespace.clone(),
            name: delete.name.clone(),
            uid: delete.uid.clone(),
            resource_version: rv,
        }))
        .await;
    }
}

/// Polls `GetDaemonSet` until `check` holds for it.
pub async fn wait_for_daemonset(
    fleet: &mut FleetClient,
    namespace: &str,
    name: &str,
    check: impl Fn(&pb::DaemonSet) -> bool,
) -> pb::DaemonSet {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ds = fleet
            .get_daemon_set(pb::GetDaemonSetRequest { namespace: namespace.into(), name: name.into() })
            .await
            .unwrap()
            .into_inner();
        if check(&ds) {
            return ds;
        }
        assert!(tokio::time::Instant::now() < deadline, "daemonset never reached the expected state: {ds:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
