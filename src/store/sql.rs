//! The SQL behind [`Store`], written once and instantiated for PostgreSQL and SQLite: both accept `$N`
//! placeholders, `ON CONFLICT`, and the column types used here, so one text serves both.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{FromRow, PgPool, SqlitePool};

use super::*;
use crate::engine::model::Labels;

/// The PostgreSQL store (production).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// The SQLite store (embedded default).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl PgStore {
    /// Wraps a pool whose database already has the migrations applied.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the PostgreSQL migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await.map_err(|e| StoreError::Database(e.into()))
    }
}

impl SqliteStore {
    /// Wraps a pool whose database already has the migrations applied.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Applies the SQLite migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.pool).await.map_err(|e| StoreError::Database(e.into()))
    }
}

/// Opens the store a database URL names (`postgres://…` or `sqlite:…`) and applies its migrations.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = PgStore::from_pool(pool);
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets status reads run beside writes; foreign keys are on by default in sqlx.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let store = SqliteStore::from_pool(pool);
        store.migrate().await?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("unsupported database URL {url:?}: use postgres://… or sqlite:…")
    }
}

#[derive(FromRow)]
struct ClusterRow {
    name: String,
    labels: String,
    token_active: bool,
    created_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
    shim_version: String,
    node_count: i32,
}

impl ClusterRow {
    fn into_record(self) -> StoreResult<ClusterRecord> {
        Ok(ClusterRecord {
            labels: parse_labels(&self.labels)?,
            name: self.name,
            token_active: self.token_active,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            shim_version: self.shim_version,
            node_count: self.node_count,
        })
    }
}

/// A cluster row with which of its tokens matched.
#[derive(FromRow)]
struct ClusterTokenRow {
    #[sqlx(flatten)]
    cluster: ClusterRow,
    /// Selected as `token_hash = $1`.
    current: bool,
    previous_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct ApiTokenRow {
    name: String,
    role: String,
    namespaces: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    created_by: String,
    revoked_at: Option<DateTime<Utc>>,
}

impl ApiTokenRow {
    fn into_record(self) -> StoreResult<ApiTokenRecord> {
        Ok(ApiTokenRecord {
            namespaces: serde_json::from_str(&self.namespaces)
                .map_err(|e| StoreError::Corrupt(format!("namespaces of api token {:?}: {e}", self.name)))?,
            name: self.name,
            role: self.role,
            created_at: self.created_at,
            expires_at: self.expires_at,
            created_by: self.created_by,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(FromRow)]
struct DaemonSetRow {
    uid: String,
    namespace: String,
    name: String,
    manifest: String,
    generation: i64,
    collision_count: Option<i32>,
    current_revision: i64,
    current_hash: String,
    deleting: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    rollout: String,
    created_by: String,
    updated_by: String,
}

impl DaemonSetRow {
    fn into_record(self, targets: Vec<TargetRecord>) -> DaemonSetRecord {
        DaemonSetRecord {
            // Written only from RolloutSettings; unknown fields of a later version are ignored.
            rollout: serde_json::from_str(&self.rollout).unwrap_or_default(),
            uid: self.uid,
            namespace: self.namespace,
            name: self.name,
            manifest: self.manifest,
            generation: self.generation,
            collision_count: self.collision_count,
            current_revision: self.current_revision,
            current_hash: self.current_hash,
            deleting: self.deleting,
            created_at: self.created_at,
            updated_at: self.updated_at,
            created_by: self.created_by,
            updated_by: self.updated_by,
            targets,
        }
    }
}

#[derive(FromRow)]
struct TargetRow {
    ds_uid: String,
    cluster: String,
    removing: bool,
    desired: i32,
    current: i32,
    misscheduled: i32,
    ready: i32,
    updated: i32,
    available: i32,
    unavailable: i32,
    observed_generation: i64,
    predicted_pending: i32,
    revision_usage: String,
}

impl TargetRow {
    fn into_record(self) -> TargetRecord {
        TargetRecord {
            // Written only by set_target_revision_usage from a map; an unreadable value means "unknown".
            revision_usage: serde_json::from_str(&self.revision_usage).unwrap_or_default(),
            cluster: self.cluster,
            removing: self.removing,
            status: StatusCounts {
                desired_number_scheduled: self.desired,
                current_number_scheduled: self.current,
                number_misscheduled: self.misscheduled,
                number_ready: self.ready,
                updated_number_scheduled: self.updated,
                number_available: self.available,
                number_unavailable: self.unavailable,
                observed_generation: self.observed_generation,
                predicted_pending: self.predicted_pending,
            },
        }
    }
}

#[derive(FromRow)]
struct RevisionRow {
    hash: String,
    revision: i64,
    name: String,
    template: String,
    change_cause: Option<String>,
    created_at: DateTime<Utc>,
    created_by: String,
}

#[derive(FromRow)]
struct IntentRow {
    id: String,
    cluster: String,
    ds_uid: String,
    kind: String,
    node: String,
    pod_namespace: String,
    pod_name: String,
    pod_uid: String,
    payload: String,
    created_at: DateTime<Utc>,
}

fn parse_labels(json: &str) -> StoreResult<Labels> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("labels {json:?}: {e}")))
}

fn rollout_json(rollout: &RolloutSettings) -> String {
    serde_json::to_string(rollout).expect("rollout settings serialize")
}

fn namespaces_json(namespaces: &[String]) -> String {
    serde_json::to_string(namespaces).expect("a string list always serializes")
}

fn labels_json(labels: &Labels) -> String {
    serde_json::to_string(labels).expect("a string map always serializes")
}

/// Groups target rows under their DaemonSets (rows arrive ordered by uid, then cluster).
fn attach_targets(rows: Vec<DaemonSetRow>, targets: Vec<TargetRow>) -> Vec<DaemonSetRecord> {
    let mut by_uid: std::collections::HashMap<String, Vec<TargetRecord>> = Default::default();
    for t in targets {
        by_uid.entry(t.ds_uid.clone()).or_default().push(t.into_record());
    }
    rows.into_iter()
        .map(|r| {
            let targets = by_uid.remove(&r.uid).unwrap_or_default();
            r.into_record(targets)
        })
        .collect()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

// Column lists as macros, so every statement stays a static string.
macro_rules! cluster_columns {
    () => {
        "name, labels, token_hash IS NOT NULL AS token_active, created_at, last_seen_at, shim_version, node_count"
    };
}
macro_rules! api_token_columns {
    () => {
        "name, role, namespaces, created_at, expires_at, created_by, revoked_at"
    };
}
macro_rules! daemonset_columns {
    () => {
        "uid, namespace, name, manifest, generation, collision_count, current_revision, current_hash, deleting, \
         created_at, updated_at, rollout, created_by, updated_by"
    };
}
macro_rules! target_columns {
    ($t:literal) => {
        concat!(
            $t,
            "ds_uid, ",
            $t,
            "cluster, ",
            $t,
            "removing, ",
            $t,
            "desired, ",
            $t,
            "current, ",
            $t,
            "misscheduled, ",
            $t,
            "ready, ",
            $t,
            "updated, ",
            $t,
            "available, ",
            $t,
            "unavailable, ",
            $t,
            "observed_generation, ",
            $t,
            "predicted_pending, ",
            $t,
            "revision_usage"
        )
    };
}

/// Implements [`Store`] for a store type over its pool; the body is the same SQL for every backend.
macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait]
        impl Store for $store {
            async fn create_cluster(&self, c: &ClusterRecord, token_hash: &str) -> StoreResult<()> {
                let result = sqlx::query(
                    "INSERT INTO clusters (name, labels, token_hash, created_at, node_count) VALUES ($1, $2, $3, $4, 0)",
                )
                .bind(&c.name)
                .bind(labels_json(&c.labels))
                .bind(token_hash)
                .bind(c.created_at)
                .execute(&self.pool)
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!("cluster {:?}", c.name))),
                    Err(e) => Err(e.into()),
                }
            }

            async fn get_cluster(&self, name: &str) -> StoreResult<Option<ClusterRecord>> {
                let sql = concat!("SELECT ", cluster_columns!(), " FROM clusters WHERE name = $1");
                sqlx::query_as::<_, ClusterRow>(sql)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(ClusterRow::into_record)
                    .transpose()
            }

            async fn list_clusters(&self) -> StoreResult<Vec<ClusterRecord>> {
                let sql = concat!("SELECT ", cluster_columns!(), " FROM clusters ORDER BY name");
                sqlx::query_as::<_, ClusterRow>(sql)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(ClusterRow::into_record)
                    .collect()
            }

            async fn cluster_by_token_hash(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> StoreResult<Option<(ClusterRecord, TokenMatch)>> {
                let sql = concat!(
                    "SELECT ", cluster_columns!(), ", COALESCE(token_hash = $1, FALSE) AS current, previous_token_expires_at \
                     FROM clusters \
                     WHERE token_hash = $1 OR (previous_token_hash = $1 AND previous_token_expires_at > $2)"
                );
                let Some(row) = sqlx::query_as::<_, ClusterTokenRow>(sql)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let matched = match row.previous_token_expires_at {
                    Some(valid_until) if !row.current => TokenMatch::Previous { valid_until },
                    _ => TokenMatch::Current,
                };
                Ok(Some((row.cluster.into_record()?, matched)))
            }

            async fn set_cluster_token(
                &self,
                name: &str,
                token_hash: Option<&str>,
                overlap: Option<DateTime<Utc>>,
            ) -> StoreResult<()> {
                // The token being replaced becomes the previous one for the overlap; without an overlap (or on
                // revocation) no previous token stays valid.
                let done = sqlx::query(
                    "UPDATE clusters SET \
                       previous_token_hash = CASE WHEN $3 IS NULL THEN NULL ELSE token_hash END, \
                       previous_token_expires_at = $3, \
                       token_hash = $1 \
                     WHERE name = $2",
                )
                .bind(token_hash)
                .bind(name)
                .bind(overlap)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("cluster {name:?}")));
                }
                Ok(())
            }

            async fn record_cluster_seen(&self, seen: &ClusterSeen) -> StoreResult<()> {
                sqlx::query("UPDATE clusters SET last_seen_at = $1, shim_version = $2, node_count = $3 WHERE name = $4")
                    .bind(seen.at)
                    .bind(&seen.shim_version)
                    .bind(seen.node_count)
                    .bind(&seen.name)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_daemonset(&self, namespace: &str, name: &str) -> StoreResult<Option<DaemonSetRecord>> {
                let sql = concat!("SELECT ", daemonset_columns!(), " FROM daemonsets WHERE namespace = $1 AND name = $2");
                let Some(row) = sqlx::query_as::<_, DaemonSetRow>(sql)
                    .bind(namespace)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let sql = concat!(
                    "SELECT ", target_columns!(""), " FROM daemonset_targets WHERE ds_uid = $1 ORDER BY cluster"
                );
                let targets = sqlx::query_as::<_, TargetRow>(sql).bind(&row.uid).fetch_all(&self.pool).await?;
                Ok(attach_targets(vec![row], targets).pop())
            }

            async fn list_daemonsets(&self, namespace: Option<&str>) -> StoreResult<Vec<DaemonSetRecord>> {
                let sql = concat!(
                    "SELECT ", daemonset_columns!(),
                    " FROM daemonsets WHERE ($1 IS NULL OR namespace = $1) ORDER BY namespace, name"
                );
                let rows = sqlx::query_as::<_, DaemonSetRow>(sql).bind(namespace).fetch_all(&self.pool).await?;
                let sql = concat!(
                    "SELECT ", target_columns!("t."),
                    " FROM daemonset_targets t JOIN daemonsets d ON d.uid = t.ds_uid \
                     WHERE ($1 IS NULL OR d.namespace = $1) ORDER BY t.ds_uid, t.cluster"
                );
                let targets = sqlx::query_as::<_, TargetRow>(sql).bind(namespace).fetch_all(&self.pool).await?;
                Ok(attach_targets(rows, targets))
            }

            async fn write_daemonset(&self, w: &DaemonSetWrite) -> StoreResult<()> {
                let d = &w.daemonset;
                let mut tx = self.pool.begin().await?;
                match w.expected_generation {
                    None => {
                        let inserted = sqlx::query(
                            "INSERT INTO daemonsets (uid, namespace, name, manifest, generation, collision_count, \
                             current_revision, current_hash, deleting, created_at, updated_at, rollout, created_by, \
                             updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                        )
                        .bind(&d.uid)
                        .bind(&d.namespace)
                        .bind(&d.name)
                        .bind(&d.manifest)
                        .bind(d.generation)
                        .bind(d.collision_count)
                        .bind(d.current_revision)
                        .bind(&d.current_hash)
                        .bind(d.deleting)
                        .bind(d.created_at)
                        .bind(d.updated_at)
                        .bind(rollout_json(&d.rollout))
                        .bind(&d.created_by)
                        .bind(&d.updated_by)
                        .execute(&mut *tx)
                        .await;
                        match inserted {
                            Ok(_) => {}
                            Err(e) if is_unique_violation(&e) => {
                                return Err(StoreError::Conflict(format!(
                                    "daemonset {}/{} was created concurrently",
                                    d.namespace, d.name
                                )));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Some(expected) => {
                        let updated = sqlx::query(
                            "UPDATE daemonsets SET manifest = $1, generation = $2, collision_count = $3, \
                             current_revision = $4, current_hash = $5, deleting = $6, updated_at = $7, rollout = $8, \
                             updated_by = $11 WHERE uid = $9 AND generation = $10",
                        )
                        .bind(&d.manifest)
                        .bind(d.generation)
                        .bind(d.collision_count)
                        .bind(d.current_revision)
                        .bind(&d.current_hash)
                        .bind(d.deleting)
                        .bind(d.updated_at)
                        .bind(rollout_json(&d.rollout))
                        .bind(&d.uid)
                        .bind(expected)
                        .bind(&d.updated_by)
                        .execute(&mut *tx)
                        .await?;
                        if updated.rows_affected() == 0 {
                            return Err(StoreError::Conflict(format!(
                                "daemonset {}/{} changed concurrently",
                                d.namespace, d.name
                            )));
                        }
                    }
                }
                // The target set is replaced: rows not listed go, listed rows keep their status.
                let existing: Vec<(String,)> = sqlx::query_as("SELECT cluster FROM daemonset_targets WHERE ds_uid = $1")
                    .bind(&d.uid)
                    .fetch_all(&mut *tx)
                    .await?;
                for (cluster,) in existing {
                    if !w.targets.iter().any(|(c, _)| *c == cluster) {
                        sqlx::query("DELETE FROM daemonset_targets WHERE ds_uid = $1 AND cluster = $2")
                            .bind(&d.uid)
                            .bind(&cluster)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for (cluster, removing) in &w.targets {
                    sqlx::query(
                        "INSERT INTO daemonset_targets (ds_uid, cluster, removing) VALUES ($1, $2, $3) \
                         ON CONFLICT (ds_uid, cluster) DO UPDATE SET removing = excluded.removing",
                    )
                    .bind(&d.uid)
                    .bind(cluster)
                    .bind(*removing)
                    .execute(&mut *tx)
                    .await?;
                }
                let r = &w.revision;
                sqlx::query(
                    "INSERT INTO revisions (ds_uid, hash, revision, name, template, change_cause, created_at, \
                     created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (ds_uid, hash) DO UPDATE SET revision = excluded.revision, \
                     created_by = CASE WHEN revisions.revision = excluded.revision THEN revisions.created_by \
                     ELSE excluded.created_by END",
                )
                .bind(&d.uid)
                .bind(&r.hash)
                .bind(r.revision)
                .bind(&r.name)
                .bind(&r.template)
                .bind(&r.change_cause)
                .bind(r.created_at)
                .bind(&r.created_by)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mark_daemonset_deleting(&self, uid: &str, by: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("UPDATE daemonsets SET deleting = TRUE, updated_by = $2 WHERE uid = $1")
                    .bind(uid)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("daemonset {uid}")));
                }
                sqlx::query("UPDATE daemonset_targets SET removing = TRUE WHERE ds_uid = $1")
                    .bind(uid)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_daemonset(&self, uid: &str) -> StoreResult<()> {
                // Foreign keys cascade to targets and revisions.
                sqlx::query("DELETE FROM daemonsets WHERE uid = $1").bind(uid).execute(&self.pool).await?;
                Ok(())
            }

            async fn finish_target_removal(&self, uid: &str, cluster: &str) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM daemonset_targets WHERE ds_uid = $1 AND cluster = $2 AND removing")
                    .bind(uid)
                    .bind(cluster)
                    .execute(&mut *tx)
                    .await?;
                let gone = sqlx::query(
                    "DELETE FROM daemonsets WHERE uid = $1 AND deleting \
                     AND NOT EXISTS (SELECT 1 FROM daemonset_targets WHERE ds_uid = $1)",
                )
                .bind(uid)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(gone.rows_affected() > 0)
            }

            async fn set_target_status(&self, uid: &str, cluster: &str, s: &StatusCounts) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE daemonset_targets SET desired = $1, current = $2, misscheduled = $3, ready = $4, \
                     updated = $5, available = $6, unavailable = $7, observed_generation = $8, \
                     predicted_pending = $9 WHERE ds_uid = $10 AND cluster = $11",
                )
                .bind(s.desired_number_scheduled)
                .bind(s.current_number_scheduled)
                .bind(s.number_misscheduled)
                .bind(s.number_ready)
                .bind(s.updated_number_scheduled)
                .bind(s.number_available)
                .bind(s.number_unavailable)
                .bind(s.observed_generation)
                .bind(s.predicted_pending)
                .bind(uid)
                .bind(cluster)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_target_revision_usage(
                &self,
                uid: &str,
                cluster: &str,
                usage: &std::collections::BTreeMap<String, i32>,
            ) -> StoreResult<()> {
                let json = serde_json::to_string(usage).expect("a string-to-int map serializes");
                sqlx::query("UPDATE daemonset_targets SET revision_usage = $1 WHERE ds_uid = $2 AND cluster = $3")
                    .bind(json)
                    .bind(uid)
                    .bind(cluster)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_revisions(&self, uid: &str, hashes: &[String]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for hash in hashes {
                    sqlx::query("DELETE FROM revisions WHERE ds_uid = $1 AND hash = $2")
                        .bind(uid)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_revisions(&self, uid: &str) -> StoreResult<Vec<RevisionRecord>> {
                let rows = sqlx::query_as::<_, RevisionRow>(
                    "SELECT hash, revision, name, template, change_cause, created_at, created_by FROM revisions \
                     WHERE ds_uid = $1 ORDER BY revision",
                )
                .bind(uid)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| RevisionRecord {
                        hash: r.hash,
                        revision: r.revision,
                        name: r.name,
                        template: r.template,
                        change_cause: r.change_cause,
                        created_at: r.created_at,
                        created_by: r.created_by,
                    })
                    .collect())
            }

            async fn create_api_token(&self, t: &ApiTokenRecord, token_hash: &str) -> StoreResult<()> {
                let result = sqlx::query(
                    "INSERT INTO api_tokens (name, token_hash, role, namespaces, created_at, expires_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.name)
                .bind(token_hash)
                .bind(&t.role)
                .bind(namespaces_json(&t.namespaces))
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(&t.created_by)
                .execute(&self.pool)
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!("api token {:?}", t.name))),
                    Err(e) => Err(e.into()),
                }
            }

            async fn create_first_api_token(&self, t: &ApiTokenRecord, token_hash: &str) -> StoreResult<bool> {
                // One statement, so two replicas starting on an empty database cannot both create one: the
                // second insert finds the first row (or collides on the name).
                let result = sqlx::query(
                    "INSERT INTO api_tokens (name, token_hash, role, namespaces, created_at, expires_at, created_by) \
                     SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM api_tokens)",
                )
                .bind(&t.name)
                .bind(token_hash)
                .bind(&t.role)
                .bind(namespaces_json(&t.namespaces))
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(&t.created_by)
                .execute(&self.pool)
                .await;
                match result {
                    Ok(done) => Ok(done.rows_affected() > 0),
                    Err(e) if is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }

            async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRecord>> {
                let sql = concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE token_hash = $1");
                sqlx::query_as::<_, ApiTokenRow>(sql)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(ApiTokenRow::into_record)
                    .transpose()
            }

            async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
                let sql = concat!("SELECT ", api_token_columns!(), " FROM api_tokens ORDER BY name");
                sqlx::query_as::<_, ApiTokenRow>(sql)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(ApiTokenRow::into_record)
                    .collect()
            }

            async fn revoke_api_token(&self, name: &str, at: DateTime<Utc>) -> StoreResult<ApiTokenRecord> {
                sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2")
                    .bind(at)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                let sql = concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE name = $1");
                sqlx::query_as::<_, ApiTokenRow>(sql)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("api token {name:?}")))?
                    .into_record()
            }

            async fn insert_intents(&self, intents: &[ActionIntent]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for i in intents {
                    sqlx::query(
                        "INSERT INTO action_intents (id, cluster, ds_uid, kind, node, pod_namespace, pod_name, \
                         pod_uid, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&i.id)
                    .bind(&i.cluster)
                    .bind(&i.ds_uid)
                    .bind(i.kind.as_str())
                    .bind(&i.node)
                    .bind(&i.pod_namespace)
                    .bind(&i.pod_name)
                    .bind(&i.pod_uid)
                    .bind(&i.payload)
                    .bind(i.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_intents(&self, ids: &[String]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for id in ids {
                    sqlx::query("DELETE FROM action_intents WHERE id = $1").bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_intents(&self, cluster: &str) -> StoreResult<Vec<ActionIntent>> {
                let rows = sqlx::query_as::<_, IntentRow>(
                    "SELECT id, cluster, ds_uid, kind, node, pod_namespace, pod_name, pod_uid, payload, created_at \
                     FROM action_intents WHERE cluster = $1 ORDER BY created_at, id",
                )
                .bind(cluster)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(ActionIntent {
                            kind: IntentKind::parse(&r.kind)
                                .ok_or_else(|| StoreError::Corrupt(format!("intent kind {:?}", r.kind)))?,
                            id: r.id,
                            cluster: r.cluster,
                            ds_uid: r.ds_uid,
                            node: r.node,
                            pod_namespace: r.pod_namespace,
                            pod_name: r.pod_name,
                            pod_uid: r.pod_uid,
                            payload: r.payload,
                            created_at: r.created_at,
                        })
                    })
                    .collect()
            }
        }
    };
}

sql_store!(PgStore);
sql_store!(SqliteStore);
