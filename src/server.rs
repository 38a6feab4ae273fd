//! Wiring: store, fleet, gRPC services, health and reflection, served on a listener until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::api::{FleetApi, ShimApi, limit_request};
use crate::fleet::{Fleet, FleetConfig};
use crate::pb;
use crate::pb::fleet_service_server::FleetServiceServer;
use crate::pb::shim_service_server::ShimServiceServer;
use crate::store::Store;

/// The codec's own ceiling, above the fleet's limit so that the limit layer, which can say why, answers first.
const TRANSPORT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Serves daemonplane on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: FleetConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let message_limit = config.max_message_bytes;
    let fleet = Fleet::new(store, config).await?;
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
    let fleet_service =
        FleetServiceServer::new(FleetApi::new(fleet.clone())).max_decoding_message_size(TRANSPORT_MAX_MESSAGE);
    let shim_service = ShimServiceServer::new(ShimApi::new(fleet)).max_decoding_message_size(TRANSPORT_MAX_MESSAGE);
    tracing::info!(addr = %listener.local_addr()?, "daemonplane serving");
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
        // Every message of every service, unary or streamed, is at most the fleet's limit.
        .layer(tower::util::MapRequestLayer::new(limit_request(message_limit)))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(fleet_service)
        .add_service(shim_service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
