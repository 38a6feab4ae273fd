//! Fleet errors as gRPC statuses.

use tonic::Status;

use crate::fleet::{CloseReason, FleetError};

pub fn to_status(e: FleetError) -> Status {
    match e {
        FleetError::InvalidArgument(m) => Status::invalid_argument(m),
        FleetError::NotFound(m) => Status::not_found(m),
        FleetError::AlreadyExists(m) => Status::already_exists(m),
        FleetError::FailedPrecondition(m) => Status::failed_precondition(m),
        FleetError::Unauthenticated(m) => Status::unauthenticated(m),
        FleetError::PermissionDenied(m) => Status::permission_denied(m),
        FleetError::ResourceExhausted(m) => Status::resource_exhausted(m),
        FleetError::Aborted(m) => Status::aborted(m),
        FleetError::Unavailable(m) => Status::unavailable(m),
        FleetError::Internal(m) => Status::internal(m),
    }
}

/// The status that ends a shim stream the service closes.
pub fn close_status(cluster: &str, reason: CloseReason) -> Status {
    match reason {
        CloseReason::Replaced => Status::aborted(format!("a newer stream for cluster {cluster:?} replaced this one")),
        CloseReason::CredentialsRevoked => {
            Status::unauthenticated(format!("the token of cluster {cluster:?} was rotated or revoked"))
        }
        CloseReason::HeartbeatTimeout => Status::unavailable("no message from the shim within the heartbeat timeout"),
        CloseReason::Protocol(m) => Status::failed_precondition(m),
        CloseReason::Unavailable(m) => Status::unavailable(m),
    }
}
