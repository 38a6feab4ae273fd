//! gRPC translation: protobuf in, model types to the fleet, protobuf out. No business logic lives here.

pub mod auth;
mod convert;
mod deadline;
mod fleet_service;
mod limit;
mod shim_service;
mod status;

pub use deadline::DeadlineLayer;
pub use fleet_service::FleetApi;
pub use limit::limit_request;
pub use shim_service::ShimApi;
pub use status::to_status;
