//! The shim session against a real service: a simulated cluster converges, the shim survives a service
//! restart and a revoked token, refuses a token of another cluster, keeps retrying an unreachable service,
//! and the binary exits cleanly on SIGTERM.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::pb;
use daemonplane::shim::Applier;
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use daemonplane::shim::simulate::{SimCluster, SimConfig};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A shim session running in the background against `server_url`.
struct RunningShim {
    state: watch::Receiver<ShimState>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
    sim: Arc<SimCluster>,
}

fn fast(config: &mut SessionConfig) {
    config.reconnect_initial = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(400);
    config.connect_timeout = Duration::from_secs(3);
}

fn start_shim(server_url: String, cluster: &str, token: TokenSource, nodes: usize) -> RunningShim {
    start_shim_with(server_url, cluster, token, nodes, |_| {})
}

fn start_shim_with(
    server_url: String,
    cluster: &str,
    token: TokenSource,
    nodes: usize,
    tweak: impl FnOnce(&mut SimConfig),
) -> RunningShim {
    let mirror = Arc::new(Mirror::new());
    let mut sim_config = SimConfig::fleet_like(cluster, nodes);
    sim_config.ready_after = Duration::from_millis(50);
    tweak(&mut sim_config);
    let sim = Arc::new(SimCluster::start(sim_config, Arc::clone(&mirror)));
    let mut config = SessionConfig::new(server_url, cluster, token);
    fast(&mut config);
    let (state_tx, state) = watch::channel(ShimState::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let applier: Arc<dyn Applier> = sim.clone();
    let handle = tokio::spawn(session::run(config, mirror, applier, state_tx, async move {
        let _ = stopped.await;
    }));
    RunningShim { state, stop: Some(stop), handle, sim }
}

impl RunningShim {
    async fn wait_for(&mut self, what: &str, f: impl Fn(&ShimState) -> bool) -> ShimState {
        let reached = match tokio::time::timeout(WAIT, self.state.wait_for(|s| f(s))).await {
            Ok(Ok(s)) => Some(s.clone()),
            _ => None,
        };
        reached.unwrap_or_else(|| panic!("shim never reached: {what}; last state {:?}", *self.state.borrow()))
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.handle).await.expect("shim stops in time").expect("shim task")
    }
}

fn url(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// Waits until every target cluster's status shows `want` ready pods of the current revision.
async fn wait_ready(server: &TestServer, want: i32) -> pb::DaemonSet {
    let mut fleet = server.fleet().await;
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let ds = fleet
            .get_daemon_set(pb::GetDaemonSetRequest {
                namespace: "kube-system".into(),
                name: "fluentd-elasticsearch".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let fleet_status = ds.fleet.unwrap_or_default();
        if fleet_status.number_ready == want && fleet_status.updated_number_scheduled == want {
            return ds;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {want} ready; status {fleet_status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn simulated_cluster_converges_through_a_real_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-1").await;
    let mut shim = start_shim(url(&server), "sim-1", TokenSource::Value(token), 30);
    shim.wait_for("connected", |s| s.connected && s.snapshots == 1).await;

    apply(&mut fleet, FLUENTD, &["sim-1"]).await.unwrap();
    // fluentd tolerates the control-plane taint but not the GPU pool's.
    let gpu_nodes = shim.sim.node_names().iter().filter(|n| n.contains("gpu")).count();
    assert!(gpu_nodes > 0);
    let want = (30 - gpu_nodes) as i32;
    let ds = wait_ready(&server, want).await;
    let status = ds.clusters[0].status.unwrap();
    assert_eq!(status.desired_number_scheduled, want);
    assert_eq!(status.number_misscheduled, 0);
    assert_eq!(shim.sim.pod_count(), want as usize);

    // ExplainPlacement names the GPU taint for an excluded node.
    let gpu = shim.sim.node_names().into_iter().find(|n| n.contains("gpu")).unwrap();
    let explained = fleet
        .explain_placement(pb::ExplainPlacementRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
            cluster: "sim-1".into(),
            node: gpu.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!explained.should_run);
    assert!(explained.summary.contains("nvidia.com/gpu"), "{}", explained.summary);
    shim.stop().await.unwrap();
    server.stop().await;
}

async fn rollout_status(server: &TestServer) -> pb::RolloutStatus {
    let mut fleet = server.fleet().await;
    fleet
        .get_rollout_status(pb::GetRolloutStatusRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn an_image_that_never_pulls_holds_the_rollout_to_its_budget_until_a_good_image_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-pull").await;
    let mut shim = start_shim_with(url(&server), "sim-pull", TokenSource::Value(token), 10, |c| {
        c.image_pull_failure = Some("v9.9.9-missing".into());
    });
    shim.wait_for("connected", |s| s.connected).await;
    apply(&mut fleet, FLUENTD, &["sim-pull"]).await.unwrap();
    let want = (10 - shim.sim.node_names().iter().filter(|n| n.contains("-gpu-")).count()) as i32;
    wait_ready(&server, want).await;

    let broken = FLUENTD.replace("fluentd:v5.0.1", "fluentd:v9.9.9-missing");
    apply(&mut fleet, &broken, &["sim-pull"]).await.unwrap();
    // maxUnavailable 1 (the default): one node gets the new pod, which never becomes ready, and the
    // rollout goes no further however long it waits.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = rollout_status(&server).await.clusters[0].clone();
        if c.updated == 1 && c.unavailable == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the first broken pod never appeared: {c:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = rollout_status(&server).await;
    assert!(!status.done);
    assert_eq!((status.clusters[0].updated, status.clusters[0].unavailable), (1, 1), "{status:?}");

    let fixed = FLUENTD.replace("fluentd:v5.0.1", "fluentd:v5.0.2");
    apply(&mut fleet, &fixed, &["sim-pull"]).await.unwrap();
    wait_ready(&server, want).await;
    shim.stop().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn shim_reconnects_after_a_service_restart_and_resends_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let server = TestServer::start(Arc::clone(&store)).await;
    let addr = server.addr;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-2").await;
    let mut shim = start_shim(url(&server), "sim-2", TokenSource::Value(token), 12);
    shim.wait_for("connected", |s| s.connected).await;
    apply(&mut fleet, FLUENTD, &["sim-2"]).await.unwrap();
    let want = (12 - shim.sim.node_names().iter().filter(|n| n.contains("gpu")).count()) as i32;
    wait_ready(&server, want).await;
    let pods_before = shim.sim.pod_count();

    server.stop().await;
    shim.wait_for("disconnected", |s| !s.connected).await;
    // The same address, the same store: a restarted service.
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(daemonplane::server::serve(listener, store, common::server_config(), async move {
        let _ = rx.await;
    }));
    let state = shim.wait_for("reconnected", |s| s.connected && s.sessions >= 2).await;
    assert!(state.snapshots >= 2, "a fresh snapshot on reconnect: {state:?}");
    let restarted = TestServer::from_parts(addr, tx, handle);
    wait_ready(&restarted, want).await;
    assert_eq!(shim.sim.pod_count(), pods_before, "nothing recreated after the restart");
    shim.stop().await.unwrap();
    restarted.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_reported_and_retried_until_the_rotated_token_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-3").await;
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut shim = start_shim(url(&server), "sim-3", TokenSource::File(token_file.clone()), 5);
    shim.wait_for("connected", |s| s.connected).await;

    fleet.revoke_cluster_token(pb::RevokeClusterTokenRequest { name: "sim-3".into() }).await.unwrap();
    let state = shim
        .wait_for("token rejected", |s| {
            !s.connected && s.last_error.as_deref().is_some_and(|e| e.contains("rejected the token"))
        })
        .await;
    assert!(state.last_error.unwrap().contains("sim-3"));

    let rotated = fleet
        .rotate_cluster_token(pb::RotateClusterTokenRequest { name: "sim-3".into(), overlap_seconds: 0 })
        .await
        .unwrap()
        .into_inner()
        .token;
    std::fs::write(&token_file, rotated).unwrap();
    shim.wait_for("reconnected with the rotated token", |s| s.connected && s.sessions >= 2).await;
    shim.stop().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_token_of_another_cluster_stops_the_shim_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-4").await;
    register(&mut fleet, "sim-5").await;
    let shim = start_shim(url(&server), "sim-5", TokenSource::Value(token), 3);
    let result = tokio::time::timeout(WAIT, shim.handle).await.expect("ends by itself").unwrap();
    let error = result.unwrap_err().to_string();
    assert!(error.contains("refused cluster \"sim-5\""), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_service_is_retried_with_a_clear_reason() {
    // A port nothing listens on.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut shim = start_shim(format!("http://{addr}"), "sim-6", TokenSource::Value("t".into()), 3);
    shim.wait_for("two failed attempts", |s| s.last_error.as_deref().is_some_and(|e| e.contains("cannot reach"))).await;
    assert!(!shim.state.borrow().connected);
    shim.stop().await.unwrap();
}

#[tokio::test]
async fn a_url_that_is_neither_http_nor_https_is_refused_at_once() {
    let shim = start_shim("grpc://example.invalid:443".into(), "sim-7", TokenSource::Value("t".into()), 1);
    let result = tokio::time::timeout(WAIT, shim.handle).await.expect("ends by itself").unwrap();
    assert!(result.unwrap_err().to_string().contains("must start with http:// or https://"));
}

#[tokio::test]
async fn the_binary_runs_a_simulated_shim_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "sim-bin").await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_daemonplane"))
        .args(["shim", "--simulate", "--sim-nodes", "8", "--sim-ready-after-ms", "50", "--cluster", "sim-bin"])
        .arg("--server")
        .arg(url(&server))
        .arg("--token-file")
        .arg(&token_file)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Connected once the cluster reports as such.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = fleet.get_cluster(pb::GetClusterRequest { name: "sim-bin".into() }).await.unwrap().into_inner();
        if c.connected && c.node_count == 8 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the binary's shim never connected: {c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "clean exit, got {status:?}");
    server.stop().await;
}
