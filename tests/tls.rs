//! TLS between shims, platforms and the service: a service given a certificate serves only TLS; a shim
//! trusting its CA connects; one that does not trust it keeps retrying with the certificate error as reason.
//! With a client CA (mutual TLS) only clients presenting a certificate signed by it get through.
//!
//! The certificates in tests/data/tls are valid until 2126. client.pem is signed by client-ca.pem;
//! stranger.pem by a CA the service is never told about (its key was discarded).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::client::{FleetClient, fleet_client};
use daemonplane::pb;
use daemonplane::server::ServerTls;
use daemonplane::shim::Applier;
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use daemonplane::shim::simulate::{SimCluster, SimConfig};
use tokio::sync::{oneshot, watch};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const CA: &[u8] = include_bytes!("data/tls/ca.pem");
const CERT: &[u8] = include_bytes!("data/tls/server.pem");
const KEY: &[u8] = include_bytes!("data/tls/server.key");
const CLIENT_CA: &[u8] = include_bytes!("data/tls/client-ca.pem");
const CLIENT_CERT: &[u8] = include_bytes!("data/tls/client.pem");
const CLIENT_KEY: &[u8] = include_bytes!("data/tls/client.key");
const STRANGER_CERT: &[u8] = include_bytes!("data/tls/stranger.pem");
const STRANGER_KEY: &[u8] = include_bytes!("data/tls/stranger.key");

async fn tls_server(dir: &tempfile::TempDir) -> TestServer {
    start(dir, None).await
}

/// A service that also requires client certificates signed by the test client CA.
async fn mtls_server(dir: &tempfile::TempDir) -> TestServer {
    start(dir, Some(CLIENT_CA)).await
}

async fn start(dir: &tempfile::TempDir, client_ca: Option<&[u8]>) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let tls =
        ServerTls { cert_pem: CERT.to_vec(), key_pem: KEY.to_vec(), client_ca_pem: client_ca.map(<[u8]>::to_vec) };
    let store = sqlite_store(dir).await;
    let mut config = server_config();
    config.tls = Some(tls);
    let handle = tokio::spawn(daemonplane::server::serve(listener, store, config, async {
        let _ = rx.await;
    }));
    TestServer::from_parts(addr, tx, handle)
}

async fn tls_fleet(server: &TestServer) -> FleetClient {
    fleet_with(server, None).await.expect("connects")
}

/// A platform client, presenting `identity` (certificate, key) when given.
async fn fleet_with(
    server: &TestServer,
    identity: Option<(&[u8], &[u8])>,
) -> Result<FleetClient, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(CA)).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://localhost:{}", server.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(fleet_client(channel, ADMIN_TOKEN).unwrap())
}

fn shim(server: &TestServer, token: String, ca: Option<&[u8]>) -> (watch::Receiver<ShimState>, oneshot::Sender<()>) {
    shim_with(server, token, ca, None)
}

fn shim_with(
    server: &TestServer,
    token: String,
    ca: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> (watch::Receiver<ShimState>, oneshot::Sender<()>) {
    let mirror = Arc::new(Mirror::new());
    let mut sim_config = SimConfig::fleet_like("tls", 4);
    sim_config.ready_after = Duration::from_millis(20);
    let sim: Arc<dyn Applier> = Arc::new(SimCluster::start(sim_config, Arc::clone(&mirror)));
    let url = format!("https://localhost:{}", server.addr.port());
    let mut config = SessionConfig::new(url, "tls-1", TokenSource::Value(token));
    config.ca_pem = ca.map(<[u8]>::to_vec);
    config.client_identity = identity.map(|(cert, key)| (cert.to_vec(), key.to_vec()));
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
        fleet_client(Endpoint::from_shared(format!("http://{}", server.addr)).unwrap().connect_lazy(), ADMIN_TOKEN)
            .unwrap();
    let answer =
        tokio::time::timeout(WAIT, plaintext.list_clusters(pb::ListClustersRequest { label_selector: String::new() }))
            .await
            .expect("answers in time");
    assert!(answer.is_err());
    server.stop().await;
}

/// Registers `name` through a platform client presenting the trusted client certificate.
async fn register_with_certificate(server: &TestServer, name: &str) -> String {
    let mut fleet = fleet_with(server, Some((CLIENT_CERT, CLIENT_KEY))).await.expect("connects with a certificate");
    register(&mut fleet, name).await
}

/// Runs a shim presenting `identity` against a service requiring client certificates; waits until it reports
/// an error, checks it never got a session, and returns the error.
async fn refused(identity: Option<(&[u8], &[u8])>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let server = mtls_server(&dir).await;
    let token = register_with_certificate(&server, "tls-1").await;
    let (mut state, stop) = shim_with(&server, token, Some(CA), identity);
    let reached = tokio::time::timeout(WAIT, state.wait_for(|s| s.last_error.is_some())).await.is_ok();
    // Give a wrongly accepted session time to show up before judging.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = state.borrow().clone();
    assert!(reached, "no error reported: {last:?}");
    assert!(!last.connected && last.sessions == 0, "a session got through: {last:?}");
    let _ = stop.send(());
    server.stop().await;
    last.last_error.unwrap_or_default()
}

#[tokio::test]
async fn with_a_client_ca_a_shim_presenting_a_signed_certificate_connects() {
    let dir = tempfile::tempdir().unwrap();
    let server = mtls_server(&dir).await;
    let token = register_with_certificate(&server, "tls-1").await;
    let (mut state, stop) = shim_with(&server, token, Some(CA), Some((CLIENT_CERT, CLIENT_KEY)));
    tokio::time::timeout(WAIT, state.wait_for(|s| s.connected)).await.expect("connects").unwrap();
    let mut fleet = fleet_with(&server, Some((CLIENT_CERT, CLIENT_KEY))).await.unwrap();
    eventually("the cluster reports its nodes", async || {
        let c = fleet.get_cluster(pb::GetClusterRequest { name: "tls-1".into() }).await.unwrap().into_inner();
        (c.connected && c.node_count == 4).then_some(c)
    })
    .await;
    let _ = stop.send(());
    server.stop().await;
}

#[tokio::test]
async fn with_a_client_ca_a_shim_without_a_certificate_is_refused_and_keeps_retrying() {
    let error = refused(None).await;
    assert!(error.contains("CertificateRequired"), "{error}");
}

#[tokio::test]
async fn with_a_client_ca_a_certificate_from_another_ca_is_refused() {
    let error = refused(Some((STRANGER_CERT, STRANGER_KEY))).await;
    assert!(error.contains("UnknownCA"), "{error}");
}

#[tokio::test]
async fn with_a_client_ca_platform_calls_need_a_certificate_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = mtls_server(&dir).await;
    // Without a certificate the handshake, or at the latest the first call, fails.
    let without = async {
        let mut fleet = fleet_with(&server, None).await.ok()?;
        fleet.list_clusters(pb::ListClustersRequest { label_selector: String::new() }).await.ok()
    };
    let answer = tokio::time::timeout(WAIT, without).await.expect("fails in time");
    assert!(answer.is_none(), "a call without a client certificate was answered");
    let mut fleet = fleet_with(&server, Some((CLIENT_CERT, CLIENT_KEY))).await.unwrap();
    let listed = fleet.list_clusters(pb::ListClustersRequest { label_selector: String::new() }).await;
    assert!(listed.is_ok(), "{listed:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_client_ca_flag_is_loaded_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("client-ca.pem");
    std::fs::write(&path, CLIENT_CA).unwrap();
    let tls = ServerTls { cert_pem: CERT.to_vec(), key_pem: KEY.to_vec(), client_ca_pem: None };
    let tls = tls.require_client_certificates(&path).unwrap();
    assert_eq!(tls.client_ca_pem.as_deref(), Some(CLIENT_CA));
    let missing = ServerTls { cert_pem: CERT.to_vec(), key_pem: KEY.to_vec(), client_ca_pem: None }
        .require_client_certificates(&dir.path().join("absent.pem"));
    let error = format!("{:#}", missing.err().expect("a missing file is an error"));
    assert!(error.contains("absent.pem"), "{error}");
}
