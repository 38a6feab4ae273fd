//! Plain records the store reads and writes.

use chrono::{DateTime, Utc};

use crate::engine::model::Labels;
pub use crate::engine::status::StatusCounts;

/// A registered cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRecord {
    pub name: String,
    pub labels: Labels,
    /// False after the token was revoked.
    pub token_active: bool,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub shim_version: String,
    pub node_count: i32,
}

/// A platform caller's API token (its secret is never stored, only its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Namespaces the token is limited to; empty: every namespace.
    pub namespaces: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which of a cluster's shim tokens a presented token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenMatch {
    /// The token issued last.
    Current,
    /// The token it replaced, still valid during the rotation's overlap (until the given time).
    Previous { valid_until: DateTime<Utc> },
}

/// What a shim session reports about its cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSeen {
    pub name: String,
    pub at: DateTime<Utc>,
    pub shim_version: String,
    pub node_count: i32,
}

/// A DaemonSet where it runs, and its last known status there.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetRecord {
    pub cluster: String,
    /// The DaemonSet's pods are being removed from this cluster.
    pub removing: bool,
    pub status: StatusCounts,
    /// Nodes running each revision hash, as last reported.
    pub revision_usage: std::collections::BTreeMap<String, i32>,
}

/// daemonplane's rollout settings beyond apps/v1; the defaults are upstream's behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RolloutSettings {
    /// Nodes kept on earlier revisions: an integer or a percent ("20%") of the desired nodes; empty = none.
    pub partition: String,
    /// No rolling-update replacements while set.
    pub paused: bool,
    /// Only nodes with these labels are updated (a canary by node label); empty = every node.
    pub node_selector: std::collections::BTreeMap<String, String>,
    /// Unavailable old pods count against maxUnavailable too (kubernetes#123232).
    pub strict_budget: bool,
}

/// A stored DaemonSet.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSetRecord {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The manifest as applied, as JSON.
    pub manifest: String,
    pub generation: i64,
    pub collision_count: Option<i32>,
    pub current_revision: i64,
    pub current_hash: String,
    pub deleting: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Rollout settings beyond the manifest.
    pub rollout: RolloutSettings,
    /// Who created it: `token:<name>`, or a platform certificate's SPIFFE ID.
    pub created_by: String,
    /// Who changed it last.
    pub updated_by: String,
    /// Ordered by cluster name.
    pub targets: Vec<TargetRecord>,
}

impl DaemonSetRecord {
    /// The clusters it runs on (targets not being removed), by name.
    pub fn active_targets(&self) -> Vec<String> {
        self.targets.iter().filter(|t| !t.removing).map(|t| t.cluster.clone()).collect()
    }
}

/// One revision of a DaemonSet's template.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionRecord {
    pub hash: String,
    pub revision: i64,
    /// `<daemonset>-<hash>`.
    pub name: String,
    /// Canonical JSON of the pod template.
    pub template: String,
    /// The kubernetes.io/change-cause annotation at the time.
    pub change_cause: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Who made the change that created (or last reused) it.
    pub created_by: String,
}

/// A create or update of a DaemonSet.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSetWrite {
    /// The DaemonSet row (targets are taken from `targets`).
    pub daemonset: DaemonSetRecord,
    /// None to create (the name must be free); otherwise the generation the update was computed from.
    pub expected_generation: Option<i64>,
    /// The full target set: (cluster, removing). Existing rows keep their status.
    pub targets: Vec<(String, bool)>,
    /// The current revision: inserted, or renumbered when its hash already exists.
    pub revision: RevisionRecord,
}

/// Whether an action creates or deletes a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    Create,
    Delete,
}

impl IntentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentKind::Create => "create",
            IntentKind::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "create" => Some(IntentKind::Create),
            "delete" => Some(IntentKind::Delete),
            _ => None,
        }
    }
}

/// An action committed before it is sent to a shim.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionIntent {
    pub id: String,
    pub cluster: String,
    pub ds_uid: String,
    pub kind: IntentKind,
    pub node: String,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The pod's uid (deletes only).
    pub pod_uid: String,
    /// The pod manifest JSON (creates only).
    pub payload: String,
    pub created_at: DateTime<Utc>,
}
