//! The per-cluster shim (`daemonplane shim`): mirrors a cluster's nodes and daemon pods into the service over
//! `ShimService.Connect` and applies the pod actions the service sends back.
//!
//! Layers: a [`mirror::Mirror`] holds what the service should see; a source fills it (the kube-rs watchers in
//! [`kubernetes`], or the in-process [`simulate`]d cluster); an [`Applier`] carries out actions; the
//! [`session`] connects the two to the service and reconnects when the stream breaks.

pub mod backoff;
pub mod command;
pub mod dispatch;
pub mod kubernetes;
pub mod mirror;
pub mod session;
pub mod simulate;

use async_trait::async_trait;

use crate::pb;

/// How an action ended, as reported to the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// True when the cluster holds the result the action asked for.
    pub succeeded: bool,
    /// The API's error text on failure (or a note on success, e.g. "already gone").
    pub message: String,
    /// uid of the created pod, when known.
    pub pod_uid: String,
}

impl Outcome {
    pub fn succeeded(pod_uid: impl Into<String>) -> Outcome {
        Outcome { succeeded: true, message: String::new(), pod_uid: pod_uid.into() }
    }

    pub fn succeeded_with(message: impl Into<String>) -> Outcome {
        Outcome { succeeded: true, message: message.into(), pod_uid: String::new() }
    }

    pub fn failed(message: impl Into<String>) -> Outcome {
        Outcome { succeeded: false, message: message.into(), pod_uid: String::new() }
    }
}

/// Carries out pod actions in a cluster. Both calls must be idempotent: the service may send the same action
/// again after a reconnect.
#[async_trait]
pub trait Applier: Send + Sync + 'static {
    /// Creates the pod. AlreadyExists for a pod created by the same action counts as success.
    async fn create_pod(&self, create: &pb::CreatePod) -> Outcome;
    /// Deletes the pod with its uid as precondition. NotFound counts as success.
    async fn delete_pod(&self, delete: &pb::DeletePod) -> Outcome;
}
