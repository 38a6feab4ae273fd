//! TLS between shims, platforms and the service: a service given a certificate serves only TLS; a shim
//! trusting its CA connects; one that does not trust it keeps retrying with the certificate error as reason.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::pb;
use daemonplane::pb::fleet_service_client::FleetServiceClient;
use daemonplane::server::ServerTls;
use daemonplane::shim::Applier;
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use daemonplane::shim::simulate::{SimCluster, SimConfig};
use tokio::sync::{oneshot, watch};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const CA: &[u8] = include_bytes!("data/tls/ca.pem");
const CERT: &[u8] = include_bytes!("data/tls/server.pem");
const KEY: &[u8] = include_bytes!("data/tls/server.key");

async fn tls_server(dir: &tempfile::TempDir) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let tls = ServerTls { cert_pem: CERT.to_vec(), key_pem: KEY.to_vec() };
    let store = sqlite_store(dir).await;
    let handle = tokio::spawn(daemonplane::server::serve_with(listener, store, Default::default(), Some(tls), async {
        let _ = rx.await;
    }));
    TestServer::from_parts(addr, tx, handle)
}

async fn tls_fleet(server: &TestServer) -> FleetServiceClient<tonic::transport::Channel> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(CA)).domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://localhost:{}", server.addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    FleetServiceClient::new(channel)
}

fn shim(server: &TestServer, token: String, ca: Option<&[u8]>) -> (watch::Receiver<ShimState>, oneshot::Sender<()>) {
    let mirror = Arc::new(Mirror::new());
    let mut sim_config = SimConfig::fleet_like("tls", 4);
    sim_config.ready_after = Duration::from_millis(20);
    let sim: Arc<dyn Applier> = Arc::new(SimCluster::start(sim_config, Arc::clone(&mirror)));
    let url = format!("https://localhost:{}", server.addr.port());
    let mut config = SessionConfig::new(url, "tls-1", TokenSource::Value(token));
    config.ca_pem = ca.map(<[u8]>::to_vec);
    config.reconnect_initial = Duration::from_millis(50);
    config.reconnect_max = Duration::from_millis(200);
    let (state, state_rx) = watch::channel(ShimState::default());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(session::run(config, mirror, sim, state, async move {
        let _ = stopped.await;
    }));
    (state_rx, stop)
}

#[tokio::test]
async fn a_shim_trusting_the_ca_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = tls_server(&dir).await;
    let mut fleet = tls_fleet(&server).await;
    let token = register(&mut fleet, "tls-1").await;
    let (mut state, stop) = shim(&server, token, Some(CA));
    tokio::time::timeout(WAIT, state.wait_for(|s| s.connected)).await.expect("connects").unwrap();
    let cluster = eventually("the cluster reports its nodes", async || {
        let c = fleet.get_cluster(pb::GetClusterRequest { name: "tls-1".into() }).await.unwrap().into_inner();
        (c.connected && c.node_count == 4).then_some(c)
    })
    .await;
    assert!(cluster.synced);
    let _ = stop.send(());
    server.stop().await;
}

#[tokio::test]
async fn a_shim_not_trusting_the_certificate_retries_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = tls_server(&dir).await;
    let mut fleet = tls_fleet(&server).await;
    let token = register(&mut fleet, "tls-1").await;
    let (mut state, stop) = shim(&server, token, None);
    let reached = tokio::time::timeout(
        WAIT,
        state.wait_for(|s| s.last_error.as_deref().is_some_and(|e| e.to_lowercase().contains("certificate"))),
    )
    .await
    .is_ok();
    let last = state.borrow().clone();
    assert!(reached, "no certificate error reported: {last:?}");
    assert!(!last.connected && last.sessions == 0);
    let _ = stop.send(());
    server.stop().await;
}

#[tokio::test]
async fn a_plaintext_client_cannot_talk_to_a_tls_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = tls_server(&dir).await;
    let mut plaintext =
        FleetServiceClient::new(Endpoint::from_shared(format!("http://{}", server.addr)).unwrap().connect_lazy());
    let answer =
        tokio::time::timeout(WAIT, plaintext.list_clusters(pb::ListClustersRequest { label_selector: String::new() }))
            .await
            .expect("answers in time");
    assert!(answer.is_err());
    server.stop().await;
}
