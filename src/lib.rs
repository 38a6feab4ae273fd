//! daemonplane: the Kubernetes DaemonSet controller as one fleet-wide gRPC service.
//!
//! Layers: [`engine`] is pure (placement, reconcile, revisions, status); [`fleet`] owns mutable state (one
//! actor per connected cluster); [`store`] is the only place with SQL; [`api`] translates protobuf.

pub mod api;
pub mod apiserver;
pub mod cli;
pub mod client;
pub mod demo;
pub mod engine;
pub mod fleet;
pub mod server;
pub mod shim;
pub mod store;
pub mod telemetry;

/// Generated protobuf types and services of `daemonplane.v1`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("daemonplane.v1");

    /// Encoded descriptors of the v1 protos, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("daemonplane_descriptor");
}

/// The version string reported to shims and in logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
