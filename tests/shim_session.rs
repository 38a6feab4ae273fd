//! The shim's session against a scripted ShimService: the test plays the service message by message and
//! checks what the shim sends back — snapshot, resync, redelivered actions, heartbeats, reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use daemonplane::pb;
use daemonplane::pb::server_message::Kind as ServerKind;
use daemonplane::pb::shim_message::Kind;
use daemonplane::pb::shim_service_server::{ShimService, ShimServiceServer};
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use daemonplane::shim::{Applier, Outcome};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

const WAIT: Duration = Duration::from_secs(10);

/// One Connect stream as the test sees it: what the shim sends, and a sender for what the service answers.
struct Stream {
    from_shim: Streaming<pb::ShimMessage>,
    to_shim: mpsc::Sender<Result<pb::ServerMessage, Status>>,
    token: String,
}

impl Stream {
    async fn next(&mut self) -> Kind {
        let m = tokio::time::timeout(WAIT, self.from_shim.message()).await.expect("a message in time");
        m.expect("stream ok").expect("stream open").kind.expect("a kind")
    }

    /// The next message that is not a heartbeat.
    async fn next_non_heartbeat(&mut self) -> Kind {
        loop {
            match self.next().await {
                Kind::Heartbeat(_) => continue,
                other => return other,
            }
        }
    }

    async fn send(&self, kind: ServerKind) {
        self.to_shim.send(Ok(pb::ServerMessage { kind: Some(kind) })).await.expect("shim stream open");
    }

    /// Reads a whole snapshot; returns its id and node names.
    async fn snapshot(&mut self) -> (u64, Vec<String>) {
        let mut names = Vec::new();
        loop {
            let Kind::Snapshot(chunk) = self.next_non_heartbeat().await else { panic!("expected a snapshot chunk") };
            names.extend(chunk.nodes.iter().map(|n| n.name.clone()));
            if chunk.last {
                return (chunk.snapshot_id, names);
            }
        }
    }
}

struct Scripted {
    streams: mpsc::Sender<Stream>,
}

#[async_trait]
impl ShimService for Scripted {
    type ConnectStream = ReceiverStream<Result<pb::ServerMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<pb::ShimMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let token = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (tx, rx) = mpsc::channel(16);
        let _ = self.streams.send(Stream { from_shim: request.into_inner(), to_shim: tx, token }).await;
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[derive(Default)]
struct CountingApplier(AtomicUsize);

#[async_trait]
impl Applier for CountingApplier {
    async fn create_pod(&self, c: &pb::CreatePod) -> Outcome {
        self.0.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Outcome::succeeded(format!("uid-of-{}", c.name))
    }
    async fn delete_pod(&self, _: &pb::DeletePod) -> Outcome {
        Outcome::succeeded_with("already gone")
    }
}

fn create_action(id: &str) -> ServerKind {
    ServerKind::Action(pb::Action {
        action_id: id.into(),
        kind: Some(pb::action::Kind::CreatePod(pb::CreatePod {
            namespace: "kube-system".into(),
            name: format!("agent-{id}"),
            node_name: "node-a".into(),
            pod_json: "{}".into(),
        })),
    })
}

fn welcome() -> ServerKind {
    ServerKind::Welcome(pb::Welcome {
        cluster: "scripted".into(),
        server_version: "test".into(),
        heartbeat_interval_seconds: 1,
        max_message_bytes: 4 << 20,
    })
}

#[tokio::test]
async fn the_session_follows_the_protocol_through_resync_redelivery_and_reconnect() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (streams_tx, mut streams) = mpsc::channel(4);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ShimServiceServer::new(Scripted { streams: streams_tx }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let mirror = Arc::new(Mirror::new());
    for name in ["node-a", "node-b"] {
        mirror.upsert_node(pb::Node { name: name.into(), resource_version: "1".into(), ..Default::default() });
    }
    mirror.mark_synced();
    let applier = Arc::new(CountingApplier::default());
    let mut config = SessionConfig::new(format!("http://{addr}"), "scripted", TokenSource::Value("s3cret".into()));
    config.reconnect_initial = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    let (state, state_rx) = watch::channel(ShimState::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shim = tokio::spawn(session::run(config, Arc::clone(&mirror), applier.clone(), state, async move {
        let _ = stopped.await;
    }));

    // Hello with the token, then the snapshot after welcome.
    let mut s = tokio::time::timeout(WAIT, streams.recv()).await.unwrap().unwrap();
    assert_eq!(s.token, "Bearer s3cret");
    let Kind::Hello(hello) = s.next().await else { panic!("hello first") };
    assert_eq!(hello.cluster, "scripted");
    s.send(welcome()).await;
    let (first_id, names) = s.snapshot().await;
    assert_eq!(names, ["node-a", "node-b"]);

    // A change after the snapshot arrives as a delta.
    mirror.upsert_node(pb::Node { name: "node-c".into(), resource_version: "2".into(), ..Default::default() });
    let Kind::NodeUpsert(u) = s.next_non_heartbeat().await else { panic!("expected the node-c upsert") };
    assert_eq!(u.node.unwrap().name, "node-c");

    // A resync request is answered with a fresh snapshot under a new id.
    s.send(ServerKind::Resync(pb::ResyncRequest { reason: "test".into() })).await;
    let (second_id, names) = s.snapshot().await;
    assert_ne!(first_id, second_id);
    assert_eq!(names, ["node-a", "node-b", "node-c"]);

    // The same action three times: applied once; the redelivery after it finished gets the same result.
    s.send(create_action("a1")).await;
    s.send(create_action("a1")).await;
    let Kind::ActionResult(r) = s.next_non_heartbeat().await else { panic!("expected a result") };
    assert_eq!((r.action_id.as_str(), r.pod_uid.as_str()), ("a1", "uid-of-agent-a1"));
    assert_eq!(r.outcome, pb::ActionOutcome::Succeeded as i32);
    s.send(create_action("a1")).await;
    let Kind::ActionResult(again) = s.next_non_heartbeat().await else { panic!("expected the result again") };
    assert_eq!(again, r);
    assert_eq!(applier.0.load(Ordering::SeqCst), 1);

    // Heartbeats keep coming at the welcome's interval.
    loop {
        if let Kind::Heartbeat(h) = s.next().await {
            assert!(h.sent_at.is_some());
            break;
        }
    }

    // The service drops the stream: the shim reconnects and starts over with hello and a snapshot.
    s.to_shim.send(Err(Status::unavailable("service restarting"))).await.unwrap();
    drop(s);
    let mut s = tokio::time::timeout(WAIT, streams.recv()).await.unwrap().unwrap();
    assert!(matches!(s.next().await, Kind::Hello(_)));
    s.send(welcome()).await;
    let (_, names) = s.snapshot().await;
    assert_eq!(names.len(), 3);
    assert!(state_rx.borrow().sessions >= 2);

    let _ = stop.send(());
    tokio::time::timeout(WAIT, shim).await.unwrap().unwrap().unwrap();
}
