//! Domain types the engine reasons about. They carry only what placement, reconcile and status need, and use
//! k8s-openapi types wherever Kubernetes already defines one (tolerations, selectors, templates). What a large
//! cluster holds thousands of, node and pod names, labels and taints, is interned instead ([`Atom`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::atom::Atom;
use super::label_set::LabelSet;
use super::taint::Taints;

/// Label and annotation maps, ordered so that every output built from them is deterministic.
pub type Labels = BTreeMap<String, String>;

/// Label every daemonplane pod carries; the shim watches pods by it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "daemonplane";
/// Label naming the uid of the DaemonSet that owns a pod (the controllerRef of the fleet world: the DaemonSet
/// object lives in daemonplane, not in the cluster).
pub const OWNER_UID_LABEL: &str = "daemonplane.io/daemonset-uid";
/// Annotation with `<namespace>/<name>` of the owning DaemonSet, for people reading the cluster.
pub const OWNER_NAME_ANNOTATION: &str = "daemonplane.io/daemonset";
/// Annotation with the id of the action that created the pod.
pub const ACTION_ID_ANNOTATION: &str = "daemonplane.io/action-id";
/// Upstream's revision hash label, on pods and revisions.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// [`OWNER_UID_LABEL`] interned, for lookups by pointer.
static OWNER_UID_KEY: LazyLock<Atom> = LazyLock::new(|| Atom::new(OWNER_UID_LABEL));
/// [`REVISION_HASH_LABEL`] interned.
static REVISION_HASH_KEY: LazyLock<Atom> = LazyLock::new(|| Atom::new(REVISION_HASH_LABEL));

/// CPU, memory and pod slots, the resources fit prediction works with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
}

/// A host port in use on a node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    pub port: i32,
    /// Interned: every node repeats the same one or two protocols and host IPs.
    pub protocol: Atom,
    pub host_ip: Atom,
}

/// Summary of the pods on a node that are not daemonplane pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherPods {
    pub requested: Resources,
    pub pod_count: u32,
    pub host_ports: Vec<HostPort>,
}

/// A node as the engine sees it. Names, labels and taints are interned: a large cluster holds thousands of
/// nodes that repeat the same few keys and values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub name: Atom,
    /// metadata.resourceVersion, used to drop stale events.
    pub resource_version: String,
    pub labels: LabelSet,
    pub taints: Taints,
    /// spec.unschedulable. Placement never reads it (upstream reads only the taint it implies).
    pub unschedulable: bool,
    /// Node conditions by type ("Ready" -> "True").
    pub conditions: BTreeMap<String, String>,
    pub allocatable: Resources,
    pub other_pods: OtherPods,
}

/// Kubernetes pod phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PodPhase {
    #[default]
    Unknown,
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    /// Failed and Succeeded pods never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// A controller owner reference on a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// A daemon pod as the engine sees it. Namespace, node names and labels are interned like a node's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pod {
    pub namespace: Atom,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    /// spec.nodeName; empty while unscheduled.
    pub node_name: Atom,
    /// The node its required node affinity pins it to (used while `node_name` is empty).
    pub target_node: Atom,
    pub labels: LabelSet,
    pub phase: PodPhase,
    pub ready: bool,
    /// lastTransitionTime of the Ready condition.
    pub ready_since: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub deletion_timestamp: Option<DateTime<Utc>>,
    /// A Kubernetes controller owner reference; such pods belong to someone else and are never touched. Boxed:
    /// daemon pods almost never have one.
    pub controller: Option<Box<ControllerRef>>,
    /// What the pod asks of its node (requests and host ports), for fit prediction of other pods.
    pub demand: super::fit::PodDemand,
}

impl Pod {
    /// upstream GetTargetNodeName: spec.nodeName, else the node-name affinity target.
    pub fn target_node_name(&self) -> Option<&str> {
        self.target_node_atom().map(Atom::as_str)
    }

    /// [`Self::target_node_name`] as the interned name.
    pub fn target_node_atom(&self) -> Option<&Atom> {
        if !self.node_name.is_empty() {
            Some(&self.node_name)
        } else if !self.target_node.is_empty() {
            Some(&self.target_node)
        } else {
            None
        }
    }

    /// The controller-revision-hash label, if any.
    pub fn revision_hash(&self) -> Option<&str> {
        self.labels.get_atom(&REVISION_HASH_KEY).map(Atom::as_str)
    }

    /// The uid of the daemonplane DaemonSet this pod says it belongs to.
    pub fn owner_uid(&self) -> Option<&str> {
        self.labels.get_atom(&OWNER_UID_KEY).map(Atom::as_str)
    }

    pub fn is_terminating(&self) -> bool {
        self.deletion_timestamp.is_some()
    }
}
