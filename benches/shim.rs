//! End-to-end load: a simulated cluster connects through a real shim session to a real service (SQLite in a
//! temporary directory), sends its snapshot, and gets the fluentd-elasticsearch DaemonSet placed on every node
//! that qualifies. Reports the median of several runs per cluster size.
//!
//! Run: `cargo bench --bench shim`

use std::sync::Arc;
use std::time::{Duration, Instant};

use daemonplane::client::fleet_client;
use daemonplane::pb;
use daemonplane::server::{Bootstrap, ServerConfig};
use daemonplane::shim::Applier;
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use daemonplane::shim::simulate::{SimCluster, SimConfig};
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

const RUNS: usize = 5;

/// The benchmark service's admin API token.
const ADMIN_TOKEN: &str = "dpa_bench-admin-0123456789abcdef0123456789abcdef";

struct Run {
    /// From starting the shim to the service holding the whole snapshot.
    synced: Duration,
    /// From ApplyDaemonSet to every qualifying node running a Ready pod.
    converged: Duration,
    pods: i32,
}

async fn wait_until<T>(mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "no convergence within 5 minutes");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn one_run(nodes: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    let store = daemonplane::store::connect(&url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let config = ServerConfig::new(Bootstrap::Token(ADMIN_TOKEN.into()));
    let server = tokio::spawn(daemonplane::server::serve(listener, store, config, stopped(stop_rx.clone())));
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut fleet = fleet_client(channel, ADMIN_TOKEN).unwrap();
    let token = fleet
        .register_cluster(pb::RegisterClusterRequest { name: "load".into(), labels: Default::default() })
        .await
        .unwrap()
        .into_inner()
        .token;

    let started = Instant::now();
    let mirror = Arc::new(Mirror::new());
    let mut config = SimConfig::fleet_like("load", nodes);
    config.ready_after = Duration::ZERO;
    let sim = Arc::new(SimCluster::start(config, Arc::clone(&mirror)));
    let applier: Arc<dyn Applier> = sim.clone();
    let (state, _) = watch::channel(ShimState::default());
    let session_config = SessionConfig::new(format!("http://{addr}"), "load", TokenSource::Value(token));
    let shim = tokio::spawn(session::run(session_config, mirror, applier, state, stopped(stop_rx.clone())));
    wait_until(async || {
        let c = fleet.get_cluster(pb::GetClusterRequest { name: "load".into() }).await.unwrap().into_inner();
        (c.synced && c.node_count as usize == nodes).then_some(())
    })
    .await;
    let synced = started.elapsed();

    let manifest = daemonplane::demo::FLUENTD;
    let applied = Instant::now();
    fleet
        .apply_daemon_set(pb::ApplyDaemonSetRequest {
            manifest: manifest.into(),
            targets: Some(pb::Targeting { clusters: vec!["load".into()] }),
            rollout: None,
        })
        .await
        .unwrap();
    let pods = wait_until(async || {
        let ds = fleet
            .get_daemon_set(pb::GetDaemonSetRequest {
                namespace: "kube-system".into(),
                name: "fluentd-elasticsearch".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let s = ds.fleet.unwrap_or_default();
        (s.desired_number_scheduled > 0 && s.number_ready == s.desired_number_scheduled)
            .then_some(s.desired_number_scheduled)
    })
    .await;
    let converged = applied.elapsed();
    let _ = stop_tx.send(true);
    let _ = shim.await;
    let _ = server.await;
    Run { synced, converged, pods }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: both just run the measurement.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{:>7} {:>6} {:>16} {:>16} {:>12}", "nodes", "pods", "snapshot synced", "all pods ready", "per pod");
    for nodes in [1_000usize, 5_000] {
        let runs: Vec<Run> = (0..RUNS).map(|_| runtime.block_on(one_run(nodes))).collect();
        let pods = runs[0].pods;
        let synced = median(runs.iter().map(|r| r.synced).collect());
        let converged = median(runs.iter().map(|r| r.converged).collect());
        println!(
            "{nodes:>7} {pods:>6} {:>13.1} ms {:>13.1} ms {:>9.1} µs",
            synced.as_secs_f64() * 1e3,
            converged.as_secs_f64() * 1e3,
            converged.as_secs_f64() * 1e6 / f64::from(pods)
        );
    }
}
