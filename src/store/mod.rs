//! Durable state behind one [`Store`] trait: PostgreSQL in production, SQLite (a file) as the embedded default.
//! This is the only module with SQL in it.

mod records;
mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use records::*;
pub use sql::{PgStore, SqliteStore, connect};

/// Errors a store reports; the api layer maps them to gRPC codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    /// Optimistic concurrency: someone else changed the row first.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything daemonplane keeps durably. Both backends implement it with the same SQL.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Registers a cluster; `AlreadyExists` if the name is taken.
    async fn create_cluster(&self, cluster: &ClusterRecord, token_hash: &str) -> StoreResult<()>;
    async fn get_cluster(&self, name: &str) -> StoreResult<Option<ClusterRecord>>;
    /// All clusters ordered by name.
    async fn list_clusters(&self) -> StoreResult<Vec<ClusterRecord>>;
    /// The cluster a token hash belongs to at `now` (none when unknown, revoked, or a previous token whose overlap
    /// has ended), and which of its tokens it is.
    async fn cluster_by_token_hash(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(ClusterRecord, TokenMatch)>>;
    /// Replaces (Some) or revokes (None) a cluster's token; `NotFound` for an unknown cluster. With `overlap`, the
    /// token being replaced stays valid until then; otherwise any previous token ends too.
    async fn set_cluster_token(
        &self,
        name: &str,
        token_hash: Option<&str>,
        overlap: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// Records that the cluster's shim was seen.
    async fn record_cluster_seen(&self, seen: &ClusterSeen) -> StoreResult<()>;

    async fn get_daemonset(&self, namespace: &str, name: &str) -> StoreResult<Option<DaemonSetRecord>>;
    /// DaemonSets ordered by namespace and name, of one namespace when given.
    async fn list_daemonsets(&self, namespace: Option<&str>) -> StoreResult<Vec<DaemonSetRecord>>;
    /// Creates or updates a DaemonSet, its targets and its current revision in one transaction.
    /// `Conflict` when the stored generation is not `write.expected_generation`.
    async fn write_daemonset(&self, write: &DaemonSetWrite) -> StoreResult<()>;
    /// Marks a DaemonSet deleting and all its targets removing.
    async fn mark_daemonset_deleting(&self, uid: &str, by: &str) -> StoreResult<()>;
    /// Deletes a DaemonSet with its targets and revisions.
    async fn delete_daemonset(&self, uid: &str) -> StoreResult<()>;
    /// Drops one target once its pods are gone; a deleting DaemonSet with no target left is deleted.
    /// Returns true when the DaemonSet itself was deleted.
    async fn finish_target_removal(&self, uid: &str, cluster: &str) -> StoreResult<bool>;
    /// Stores a DaemonSet's status in one cluster.
    async fn set_target_status(&self, uid: &str, cluster: &str, status: &StatusCounts) -> StoreResult<()>;
    /// Stores how many nodes of a cluster run each revision hash of a DaemonSet.
    async fn set_target_revision_usage(
        &self,
        uid: &str,
        cluster: &str,
        usage: &std::collections::BTreeMap<String, i32>,
    ) -> StoreResult<()>;
    /// Deletes revisions of a DaemonSet by hash (history cleanup).
    async fn delete_revisions(&self, uid: &str, hashes: &[String]) -> StoreResult<()>;
    /// Revisions of a DaemonSet ordered by revision number.
    async fn list_revisions(&self, uid: &str) -> StoreResult<Vec<RevisionRecord>>;

    /// Creates an API token; `AlreadyExists` if the name (or the hash) is taken.
    async fn create_api_token(&self, token: &ApiTokenRecord, token_hash: &str) -> StoreResult<()>;
    /// Creates the first API token, only while there is none at all; false when some token exists.
    async fn create_first_api_token(&self, token: &ApiTokenRecord, token_hash: &str) -> StoreResult<bool>;
    /// The token with this hash, revoked and expired ones included (the caller decides).
    async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRecord>>;
    /// Every API token, ordered by name.
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>>;
    /// Marks a token revoked at `at` (a token already revoked keeps its first time); `NotFound` if unknown.
    async fn revoke_api_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<ApiTokenRecord>;

    /// Commits an action before it is sent.
    async fn insert_intents(&self, intents: &[ActionIntent]) -> StoreResult<()>;
    /// Forgets actions whose effect is confirmed (or that failed).
    async fn delete_intents(&self, ids: &[String]) -> StoreResult<()>;
    /// Actions of a cluster not yet confirmed, oldest first.
    async fn list_intents(&self, cluster: &str) -> StoreResult<Vec<ActionIntent>>;
}
