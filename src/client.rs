//! Calling daemonplane's own FleetService as a platform does: with an API token in `authorization` metadata.
//! The demo, the benchmarks and the tests use it.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::pb::fleet_service_client::FleetServiceClient;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone, Debug)]
pub struct BearerToken(MetadataValue<Ascii>);

impl BearerToken {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(BearerToken(format!("Bearer {token}").parse().map_err(|_| anyhow::anyhow!("a token must be ASCII text"))?))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A FleetService client that authenticates with an API token.
pub type FleetClient = FleetServiceClient<InterceptedService<Channel, BearerToken>>;

/// A FleetService client on `channel` presenting `token`.
pub fn fleet_client(channel: Channel, token: &str) -> anyhow::Result<FleetClient> {
    Ok(FleetServiceClient::with_interceptor(channel, BearerToken::new(token)?))
}
