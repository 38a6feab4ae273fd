//! Wiring: store, fleet, gRPC services, health and reflection, served on a listener until shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::api::auth::{AuthConfig, Authenticator};
use crate::api::{DeadlineLayer, FleetApi, ShimApi, limit_request};
use crate::fleet::api_tokens::BOOTSTRAP_TOKEN_NAME;
use crate::fleet::{Fleet, FleetConfig};
use crate::pb;
use crate::pb::fleet_service_server::FleetServiceServer;
use crate::pb::shim_service_server::ShimServiceServer;
use crate::store::Store;

/// How long shutdown waits for peers to close their streams.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long shutdown waits for cluster actors to finish their last writes.
const ACTOR_DRAIN: Duration = Duration::from_secs(5);

/// The codec's own ceiling, above the fleet's limit so that the limit layer, which can say why, answers first.
pub const TRANSPORT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// hyper's own bound on streams a peer's frames made the server reset, which tonic turns off unless set:
/// without it a peer can make the server do the work of an unbounded stream of resets.
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// Limits of the gRPC transport: per HTTP/2 connection, and per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportLimits {
    /// Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS): a client holds further
    /// calls until one ends, and a stream opened anyway is reset with REFUSED_STREAM. Bounds what a peer can
    /// make the server do by opening and resetting streams (Rapid Reset, CVE-2023-44487).
    pub max_concurrent_streams: u32,
    /// How often an idle connection is pinged.
    pub http2_keepalive_interval: Duration,
    /// A ping not answered within this time closes the connection.
    pub http2_keepalive_timeout: Duration,
    /// Longest a unary FleetService call may take; a client's shorter `grpc-timeout` wins.
    pub request_timeout: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_concurrent_streams: 128,
            http2_keepalive_interval: Duration::from_secs(20),
            http2_keepalive_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The certificate chain and private key the service presents, PEM-encoded, and optionally the CA that
/// client certificates must chain to.
#[derive(Clone)]
pub struct ServerTls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// With it, every client (platforms and shims alike) must present a certificate signed by one of these CA
    /// certificates (mutual TLS); the handshake fails otherwise. Bearer tokens are still required on top.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl ServerTls {
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<ServerTls> {
        let cert_pem = std::fs::read(cert).with_context(|| format!("reading TLS certificate {}", cert.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading TLS key {}", key.display()))?;
        Ok(ServerTls { cert_pem, key_pem, client_ca_pem: None })
    }

    /// Requires client certificates signed by the CA certificates in `path` (PEM).
    pub fn require_client_certificates(mut self, path: &std::path::Path) -> anyhow::Result<ServerTls> {
        let ca = std::fs::read(path).with_context(|| format!("reading client CA {}", path.display()))?;
        self.client_ca_pem = Some(ca);
        Ok(self)
    }

    fn config(self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(Identity::from_pem(self.cert_pem, self.key_pem));
        match self.client_ca_pem {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)).client_auth_optional(false),
            None => config,
        }
    }
}

/// How the first admin API token comes to be on a database with none.
#[derive(Clone, Debug)]
pub enum Bootstrap {
    /// A new token is generated and written to this file, readable by its owner only.
    File(PathBuf),
    /// This secret becomes the token (`DAEMONPLANE_BOOTSTRAP_TOKEN`).
    Token(String),
}

/// Everything `serve` is configured with.
#[derive(Clone)]
pub struct ServerConfig {
    pub fleet: FleetConfig,
    pub transport: TransportLimits,
    /// TLS (and client certificates); plaintext without it.
    pub tls: Option<ServerTls>,
    /// How callers are identified.
    pub auth: AuthConfig,
    pub bootstrap: Bootstrap,
}

impl ServerConfig {
    /// Plaintext, default tunables, the first admin token taken from `bootstrap`.
    pub fn new(bootstrap: Bootstrap) -> Self {
        ServerConfig {
            fleet: FleetConfig::default(),
            transport: TransportLimits::default(),
            tls: None,
            auth: AuthConfig { trust_domain: DEFAULT_TRUST_DOMAIN.to_string(), ..AuthConfig::default() },
            bootstrap,
        }
    }
}

/// The SPIFFE trust domain client certificates are read in unless configured.
pub const DEFAULT_TRUST_DOMAIN: &str = "daemonplane";

/// Creates the first admin token on an empty database, as `bootstrap` says.
async fn bootstrap_admin(fleet: &Fleet, bootstrap: &Bootstrap) -> anyhow::Result<()> {
    match bootstrap {
        Bootstrap::Token(secret) => {
            if fleet.bootstrap_admin_token(Some(secret.clone())).await?.is_some() {
                tracing::info!(
                    token = BOOTSTRAP_TOKEN_NAME,
                    "admin API token created from DAEMONPLANE_BOOTSTRAP_TOKEN"
                );
            }
        }
        Bootstrap::File(path) => {
            let Some(secret) = fleet.bootstrap_admin_token(None).await? else {
                tracing::info!("API tokens exist; no bootstrap token written");
                return Ok(());
            };
            if let Err(e) = write_owner_only(path, &secret) {
                // Nobody could ever use a token whose secret was not written down.
                fleet.revoke_api_token(BOOTSTRAP_TOKEN_NAME).await?;
                return Err(e.context(format!("writing the admin token to {}", path.display())));
            }
            tracing::info!(path = %path.display(), token = BOOTSTRAP_TOKEN_NAME,
                "admin API token created; pass it as `authorization: Bearer <token>`");
        }
    }
    Ok(())
}

/// Writes `secret` to a new file only its owner can read (replacing any earlier one).
fn write_owner_only(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

/// Serves daemonplane on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ServerConfig { fleet: config, transport, tls, auth, bootstrap } = config;
    let message_limit = config.max_message_bytes;
    let fleet = Fleet::new(store, config).await?;
    bootstrap_admin(&fleet, &bootstrap).await?;
    let auth = Authenticator::new(fleet.clone(), auth);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<FleetServiceServer<FleetApi>>().await;
    health_reporter.set_serving::<ShimServiceServer<ShimApi>>().await;
    // grpcurl builds older than 1.8.7 speak only v1alpha reflection, so both are served.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    // At shutdown, shim sessions and rollout watches are ended first: they never end by themselves.
    let closing = fleet.clone();
    let draining = fleet.clone();
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        closing.shutdown();
        let _ = stopping_tx.send(());
    };
    let fleet_service = FleetServiceServer::new(FleetApi::new(fleet.clone(), auth.clone()))
        .max_decoding_message_size(TRANSPORT_MAX_MESSAGE);
    let shim_service =
        ShimServiceServer::new(ShimApi::new(fleet, auth)).max_decoding_message_size(TRANSPORT_MAX_MESSAGE);
    let client_certificates = tls.as_ref().is_some_and(|t| t.client_ca_pem.is_some());
    tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), client_certificates, "daemonplane serving");
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls.config()).context("configuring TLS")?;
    }
    let server = builder
        .max_concurrent_streams(transport.max_concurrent_streams)
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESET_STREAMS))
        .http2_keepalive_interval(Some(transport.http2_keepalive_interval))
        .http2_keepalive_timeout(Some(transport.http2_keepalive_timeout))
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
        // Every message of every service, unary or streamed, is at most the fleet's limit.
        .layer(tower::util::MapRequestLayer::new(limit_request(message_limit)))
        .layer(DeadlineLayer::new(transport.request_timeout))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(fleet_service)
        .add_service(shim_service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown);
    // Sessions and watches are closed at shutdown; a peer that keeps its half of a stream open gets a grace
    // period, not a veto.
    let grace = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        () = grace => tracing::warn!("shutdown grace period over; closing the remaining connections"),
    }
    // Each actor writes its session's last state (last seen, node count) as it ends; let those writes land.
    if !draining.wait_for_actors(ACTOR_DRAIN).await {
        tracing::warn!("cluster sessions still ending after {ACTOR_DRAIN:?}; exiting without them");
    }
    Ok(())
}
