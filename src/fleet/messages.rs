//! What crosses between the api layer and a cluster actor: shim events in, commands to the shim out. These
//! are model types; api/ translates them to and from protobuf.

use crate::engine::model::{Node, Pod};

/// One message from a shim after its hello.
#[derive(Clone, Debug, PartialEq)]
pub enum ShimEvent {
    SnapshotChunk { snapshot_id: u64, nodes: Vec<Node>, pods: Vec<Pod>, last: bool },
    NodeUpsert(Node),
    NodeDelete { name: String, resource_version: String },
    PodUpsert(Pod),
    PodDelete { uid: String, resource_version: String },
    ActionResult { action_id: String, succeeded: bool, message: String },
    Heartbeat,
}

/// A pod action for the shim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShimAction {
    Create { id: String, namespace: String, name: String, node: String, pod_json: String },
    Delete { id: String, namespace: String, name: String, uid: String },
}

/// Why the service ends a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A newer stream for the same cluster took over.
    Replaced,
    /// The cluster's token was rotated or revoked.
    CredentialsRevoked,
    /// No message within the heartbeat timeout.
    HeartbeatTimeout,
    /// The shim broke the protocol.
    Protocol(String),
    /// The cluster grew past a configured limit.
    LimitExceeded(String),
    /// The store failed; the shim should reconnect.
    Unavailable(String),
}

/// One message to a shim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToShim {
    Welcome { cluster: String, heartbeat_interval_seconds: u32, max_message_bytes: u32 },
    Action(ShimAction),
    Resync { reason: String },
    Close(CloseReason),
}

/// A request to a cluster actor, answered from its view.
pub enum Control {
    /// End the session.
    Close(CloseReason),
    /// Report on a DaemonSet (stored or hypothetical) in this cluster.
    Report(ReportQuery),
}

/// What a report covers.
pub struct ReportQuery {
    pub daemon_set: std::sync::Arc<crate::engine::daemonset::CompiledDaemonSet>,
    /// One node (explain) or the whole cluster (plan).
    pub node: Option<String>,
    pub include_all_nodes: bool,
    pub reply: tokio::sync::oneshot::Sender<Report>,
}

/// A cluster actor's answer.
pub enum Report {
    Node(Option<crate::engine::explain::NodeReport>),
    Cluster(crate::engine::explain::ClusterReport),
    /// The session has no complete snapshot yet.
    NotSynced,
}
