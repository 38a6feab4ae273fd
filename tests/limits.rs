//! Every configured limit, hit: what the caller sees, and that nobody else is disturbed.

mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use daemonplane::client::FleetClient;
use daemonplane::pb;
use daemonplane::server::ServerConfig;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

async fn start(dir: &tempfile::TempDir, configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = server_config();
    configure(&mut config);
    TestServer::start_configured(sqlite_store(dir).await, config).await
}

fn upsert(node: pb::Node) -> pb::shim_message::Kind {
    pb::shim_message::Kind::NodeUpsert(pb::NodeUpsert { node: Some(node) })
}

async fn cluster(fleet: &mut FleetClient, name: &str) -> pb::Cluster {
    fleet.get_cluster(pb::GetClusterRequest { name: name.into() }).await.unwrap().into_inner()
}

#[tokio::test]
async fn a_connection_holds_calls_past_its_stream_limit_while_another_connection_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, |c| c.transport.max_concurrent_streams = 3).await;
    // Three health watches fill one connection: they never end by themselves.
    let mut crowded = HealthClient::new(server.channel().await);
    let mut watches = Vec::new();
    for _ in 0..3 {
        let mut watch = crowded.watch(health_request()).await.unwrap().into_inner();
        watch.message().await.unwrap().expect("the current status");
        watches.push(watch);
    }
    // A fourth stream on that connection waits for a free one, as SETTINGS_MAX_CONCURRENT_STREAMS asks.
    let mut held = crowded.clone();
    let held = tokio::spawn(async move { held.check(health_request()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "a fourth stream was served on a connection limited to three");
    // Another connection is not held.
    let mut other = HealthClient::new(server.channel().await);
    let answer = tokio::time::timeout(WAIT, other.check(health_request())).await.expect("served").unwrap();
    assert_eq!(answer.into_inner(), HealthCheckResponse { status: 1 });
    // Ending one stream lets the held call through.
    drop(watches.pop());
    let answer = tokio::time::timeout(WAIT, held).await.expect("served once a stream ended").unwrap().unwrap();
    assert_eq!(answer.into_inner(), HealthCheckResponse { status: 1 });
    server.stop().await;
}

fn health_request() -> HealthCheckRequest {
    HealthCheckRequest { service: String::new() }
}

#[tokio::test]
async fn a_unary_call_past_the_request_timeout_is_deadline_exceeded_and_streams_are_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(300);
    let server = start(&dir, |c| c.transport.request_timeout = timeout).await;
    let mut fleet = server.fleet().await;
    // The server is up (its admin token written) before the database is taken away from it.
    fleet.list_clusters(pb::ListClustersRequest::default()).await.unwrap();
    // Another writer holds the database: a registration cannot write until it lets go.
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    let mut blocker = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut blocker).await.unwrap();
    let started = Instant::now();
    let err = fleet
        .register_cluster(pb::RegisterClusterRequest { name: "c1".into(), labels: Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        err.message()
            .starts_with("RegisterCluster did not finish within the 300ms request timeout (--request-timeout)"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    // The call went on: once the database is free, the cluster is registered.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    eventually("the registration completes", async || {
        fleet.get_cluster(pb::GetClusterRequest { name: "c1".into() }).await.ok()
    })
    .await;
    // A shorter client deadline wins.
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut blocker).await.unwrap();
    let mut request = tonic::Request::new(pb::RegisterClusterRequest { name: "c2".into(), labels: Default::default() });
    request.set_timeout(Duration::from_millis(100));
    let err = fleet.register_cluster(request).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(err.message().contains("the client's deadline of 100ms (grpc-timeout)"), "{err:?}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Streams outlive the request timeout: a shim session and a rollout watch.
    let token = fleet
        .rotate_cluster_token(pb::RotateClusterTokenRequest { name: "c1".into(), overlap_seconds: 0 })
        .await
        .unwrap()
        .into_inner()
        .token;
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[])], vec![]).await;
    apply(&mut fleet, &daemonset_json("agent", "img:1", &[]), &["c1"]).await.unwrap();
    let (creates, _) = shim.actions(1).await;
    let mut watch = fleet
        .watch_rollout(pb::GetRolloutStatusRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().expect("the current rollout status");
    assert!(!first.done);
    tokio::time::sleep(timeout * 2).await;
    shim.run_pod(&creates[0], true).await;
    let last = loop {
        let status = tokio::time::timeout(WAIT, watch.message()).await.expect("a status").unwrap();
        match status {
            Some(s) if s.done => break s,
            Some(_) => continue,
            None => panic!("the watch ended before the rollout was done"),
        }
    };
    assert_eq!(last.phase, pb::RolloutPhase::Complete as i32);
    server.stop().await;
}

#[tokio::test]
async fn clusters_and_daemonsets_stop_at_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, |c| {
        c.fleet.max_clusters = 2;
        c.fleet.max_daemonsets = 1;
    })
    .await;
    let mut fleet = server.fleet().await;
    register(&mut fleet, "c1").await;
    register(&mut fleet, "c2").await;
    let err = fleet
        .register_cluster(pb::RegisterClusterRequest { name: "c3".into(), labels: Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), "cannot register cluster \"c3\": daemonplane holds at most 2 clusters (--max-clusters)");

    apply(&mut fleet, &daemonset_json("a", "img:1", &[]), &["c1"]).await.unwrap();
    // Changing the one DaemonSet there is stays possible.
    let changed = apply(&mut fleet, &daemonset_json("a", "img:2", &[]), &["c1", "c2"]).await.unwrap();
    assert_eq!(changed.outcome, pb::ApplyOutcome::Configured as i32);
    let err = apply(&mut fleet, &daemonset_json("b", "img:1", &[]), &["c1"]).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(
        err.message(),
        "cannot create daemonset default/b: daemonplane holds at most 1 DaemonSets (--max-daemonsets)"
    );
    let list = fleet.list_daemon_sets(pb::ListDaemonSetsRequest::default()).await.unwrap().into_inner();
    assert_eq!(list.daemonsets.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_cluster_past_the_node_limit_loses_its_stream_and_other_clusters_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, |c| c.fleet.max_nodes_per_cluster = 3).await;
    let mut fleet = server.fleet().await;
    let (small, big, growing) =
        (register(&mut fleet, "small").await, register(&mut fleet, "big").await, register(&mut fleet, "growing").await);
    apply(&mut fleet, &daemonset_json("agent", "img:1", &[]), &["small", "big", "growing"]).await.unwrap();
    let mut small = FakeShim::connect(&server, &small, "small", vec![node("s1", &[])], vec![]).await;
    small.actions(1).await;

    // A snapshot above the limit.
    let nodes = (1..=4).map(|i| node(&format!("b{i}"), &[])).collect();
    let mut big = FakeShim::connect(&server, &big, "big", nodes, vec![]).await;
    let err = big.next().await.expect_err("the stream ends");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        err.message(),
        "the snapshot takes the cluster above 3 nodes, the most one cluster may have (--max-nodes-per-cluster)"
    );

    // A node upsert past it.
    let nodes = (1..=3).map(|i| node(&format!("g{i}"), &[])).collect();
    let mut growing = FakeShim::connect(&server, &growing, "growing", nodes, vec![]).await;
    growing.actions(3).await;
    growing.send(upsert(node("g4", &[]))).await;
    let err = growing.next().await.expect_err("the stream ends");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().starts_with("node \"g4\" takes the cluster above 3 nodes"), "{err:?}");

    // The small cluster is served as before.
    small.send(upsert(node("s2", &[]))).await;
    let (creates, _) = small.actions(1).await;
    assert_eq!(creates[0].node, "s2");
    server.stop().await;
}

/// Waits for the create action of `node`, and plays its pod running; returns how long it took from `since`.
async fn create_latency(shim: &mut FakeShim, node_name: &str) -> Duration {
    let since = Instant::now();
    shim.send(upsert(node(node_name, &[]))).await;
    loop {
        let message = shim.next().await.expect("stream ok");
        if let Some(pb::server_message::Kind::Action(pb::Action {
            action_id,
            kind: Some(pb::action::Kind::CreatePod(c)),
        })) = message.kind
        {
            let elapsed = since.elapsed();
            assert_eq!(c.node_name, node_name);
            let create = Create {
                action_id,
                pod: serde_json::from_str(&c.pod_json).unwrap(),
                namespace: c.namespace,
                name: c.name,
                node: c.node_name,
            };
            shim.run_pod(&create, true).await;
            return elapsed;
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_shim_is_read_at_its_rate_and_another_cluster_keeps_its_latency() {
    const RATE: u32 = 1_000;
    const SAMPLES: usize = 7;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, |c| {
        c.fleet.shim_events_per_second = NonZeroU32::new(RATE).unwrap();
        c.fleet.shim_event_burst = NonZeroU32::new(RATE).unwrap();
    })
    .await;
    let mut fleet = server.fleet().await;
    let (calm, flood) = (register(&mut fleet, "calm").await, register(&mut fleet, "flood").await);
    apply(&mut fleet, &daemonset_json("agent", "img:1", &[]), &["calm"]).await.unwrap();
    let mut calm = FakeShim::connect(&server, &calm, "calm", vec![], vec![]).await;
    let flood = FakeShim::connect(&server, &flood, "flood", vec![], vec![]).await;

    let mut idle = Vec::new();
    for i in 0..SAMPLES {
        idle.push(create_latency(&mut calm, &format!("idle-{i}")).await);
    }

    // The flood: new nodes as fast as the stream takes them.
    let started = Instant::now();
    let sent = Arc::new(AtomicU32::new(0));
    let flooding = tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            for i in 0.. {
                flood.send(upsert(node(&format!("f{i}"), &[]))).await;
                sent.store(i, Ordering::Relaxed);
            }
        }
    });
    // Until the stream's flow-control window is full the flooder sends at full speed; then it is held to its
    // rate, the state this test is about.
    let mut before = 0;
    eventually("the flooding shim is held", async || {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(Ordering::Relaxed);
        let step = now - std::mem::replace(&mut before, now);
        (step <= RATE * 2 / 5).then_some(())
    })
    .await;
    assert!(cluster(&mut fleet, "flood").await.node_count >= RATE, "the flood used up its burst");
    let mut flooded = Vec::new();
    for i in 0..SAMPLES {
        flooded.push(create_latency(&mut calm, &format!("busy-{i}")).await);
    }
    let admitted = cluster(&mut fleet, "flood").await.node_count;
    let elapsed = started.elapsed();
    flooding.abort();

    // The flooding shim got its burst and its rate, no more: the rest waited in its own stream.
    let allowed = f64::from(RATE) * (1.0 + elapsed.as_secs_f64()) * 1.05;
    assert!(f64::from(admitted) <= allowed, "{admitted} events taken in {elapsed:?}; at most {allowed} allowed");
    let (idle, flooded) = (median(idle), median(flooded));
    let bound = (idle * 2).max(Duration::from_millis(50));
    assert!(flooded <= bound, "create latency {flooded:?} during the flood, {idle:?} before it (bound {bound:?})");
    server.stop().await;
}

#[tokio::test]
async fn a_snapshot_chunk_costs_one_event_so_snapshots_arrive_at_full_speed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, |c| {
        c.fleet.shim_events_per_second = NonZeroU32::new(20).unwrap();
        c.fleet.shim_event_burst = NonZeroU32::new(10).unwrap();
    })
    .await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    let (tx, mut rx) = open_stream(&server, Some(&token), "c1").await.unwrap();
    rx.message().await.unwrap().expect("welcome");
    // 10,000 nodes in 5 chunks: 5 events, within the burst.
    let started = Instant::now();
    for chunk in 0..5 {
        let nodes = (0..2_000).map(|i| node(&format!("n{chunk}-{i}"), &[])).collect();
        let snapshot = pb::SnapshotChunk { snapshot_id: 1, nodes, pods: vec![], last: chunk == 4 };
        tx.send(msg(pb::shim_message::Kind::Snapshot(snapshot))).await.unwrap();
    }
    eventually("the snapshot is taken", async || {
        let c = cluster(&mut fleet, "c1").await;
        (c.synced && c.node_count == 10_000).then_some(())
    })
    .await;
    let snapshot_took = started.elapsed();
    // 30 deltas: at most the burst of 10 at once, then 20 a second.
    let started = Instant::now();
    for i in 0..30 {
        tx.send(msg(upsert(node(&format!("late-{i}"), &[])))).await.unwrap();
    }
    eventually("the deltas are taken", async || (cluster(&mut fleet, "c1").await.node_count == 10_030).then_some(()))
        .await;
    let deltas_took = started.elapsed();
    // However much of the burst is left, the last 20 wait 50 ms each.
    assert!(deltas_took >= Duration::from_millis(900), "30 deltas taken in {deltas_took:?}");
    assert!(snapshot_took < deltas_took, "the snapshot took {snapshot_took:?}, the deltas {deltas_took:?}");
    server.stop().await;
}
