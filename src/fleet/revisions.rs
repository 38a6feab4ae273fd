//! Revision history: listing with where each revision runs, cleanup (upstream cleanupHistory), and rollback
//! with `kubectl rollout undo` semantics and messages.

use std::collections::{BTreeMap, HashSet};

use super::daemonsets::{Change, DaemonSetView};
use super::{Fleet, FleetError};
use crate::store::{DaemonSetRecord, RevisionRecord};

/// A revision with the nodes running it per cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionView {
    pub record: RevisionRecord,
    pub current: bool,
    /// Nodes running it, per target cluster (last known).
    pub clusters: BTreeMap<String, i32>,
}

/// What a rollback did (or, dry run, would do).
#[derive(Clone, Debug, PartialEq)]
pub struct RollbackOutcome {
    pub daemon_set: DaemonSetView,
    pub revision: RevisionView,
    /// kubectl's words: "rolled back" or "will roll back to ...".
    pub message: String,
}

fn view(record: &DaemonSetRecord, r: RevisionRecord) -> RevisionView {
    let clusters =
        record.targets.iter().filter_map(|t| t.revision_usage.get(&r.hash).map(|n| (t.cluster.clone(), *n))).collect();
    RevisionView { current: r.hash == record.current_hash, record: r, clusters }
}

impl Fleet {
    async fn record(&self, namespace: &str, name: &str) -> Result<DaemonSetRecord, FleetError> {
        let namespace = if namespace.is_empty() { "default" } else { namespace };
        self.store()
            .get_daemonset(namespace, name)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("daemonset {namespace}/{name} not found")))
    }

    /// Revisions ordered by number, with where they run.
    pub async fn list_revisions(&self, namespace: &str, name: &str) -> Result<Vec<RevisionView>, FleetError> {
        let record = self.record(namespace, name).await?;
        let revisions = self.store().list_revisions(&record.uid).await?;
        Ok(revisions.into_iter().map(|r| view(&record, r)).collect())
    }

    /// One revision by number.
    pub async fn get_revision(&self, namespace: &str, name: &str, revision: i64) -> Result<RevisionView, FleetError> {
        let record = self.record(namespace, name).await?;
        let found = self.store().list_revisions(&record.uid).await?.into_iter().find(|r| r.revision == revision);
        found
            .map(|r| view(&record, r))
            .ok_or_else(|| FleetError::NotFound(format!("unable to find specified revision {revision} in history")))
    }

    /// upstream cleanupHistory: old revisions beyond revisionHistoryLimit go, oldest first, except the current
    /// one and any a pod still runs (in any target cluster, as last reported).
    pub(crate) async fn cleanup_history(&self, uid: &str) -> Result<(), FleetError> {
        let entry = {
            let catalog = self.inner.catalog.borrow();
            catalog.entries.iter().find(|e| e.record.uid == uid).cloned()
        };
        let Some(entry) = entry else { return Ok(()) };
        let Some(record) = self.store().get_daemonset(&entry.record.namespace, &entry.record.name).await? else {
            return Ok(());
        };
        let live: HashSet<&String> = record.targets.iter().flat_map(|t| t.revision_usage.keys()).collect();
        let revisions = self.store().list_revisions(uid).await?;
        let old: Vec<&RevisionRecord> = revisions.iter().filter(|r| r.hash != record.current_hash).collect();
        let mut to_kill = old.len() as i64 - i64::from(entry.compiled.revision_history_limit);
        let mut doomed = Vec::new();
        for r in old {
            if to_kill <= 0 {
                break;
            }
            if live.contains(&r.hash) {
                continue;
            }
            doomed.push(r.hash.clone());
            to_kill -= 1;
        }
        if !doomed.is_empty() {
            tracing::info!(daemonset = %format!("{}/{}", record.namespace, record.name), revisions = ?doomed,
                "pruning revision history");
            self.store().delete_revisions(uid, &doomed).await?;
        }
        Ok(())
    }

    /// `kubectl rollout undo daemonset/NAME --to-revision=N`: 0 means the previous revision. The DaemonSet's
    /// template is replaced by the revision's; the revision is renumbered as the newest, and pods already on
    /// it are not restarted.
    pub async fn rollback(
        &self,
        namespace: &str,
        name: &str,
        to_revision: i64,
        dry_run: bool,
        by: &str,
    ) -> Result<RollbackOutcome, FleetError> {
        let record = self.record(namespace, name).await?;
        if record.deleting {
            return Err(FleetError::BeingDeleted(format!(
                "daemonset {}/{} is being deleted",
                record.namespace, record.name
            )));
        }
        let mut revisions = self.store().list_revisions(&record.uid).await?;
        revisions.sort_by_key(|r| r.revision);
        let target = if to_revision < 0 {
            None
        } else if to_revision == 0 {
            if revisions.len() <= 1 {
                return Err(FleetError::NotPossible("no last revision to roll back to".into()));
            }
            revisions.get(revisions.len() - 2).cloned()
        } else {
            revisions.iter().find(|r| r.revision == to_revision).cloned()
        };
        let target = target.ok_or_else(|| {
            FleetError::NotFound(format!("unable to find specified revision {to_revision} in history"))
        })?;
        if target.hash == record.current_hash {
            return Err(FleetError::NotPossible(format!(
                "skipped rollback (current template already matches revision {})",
                target.revision
            )));
        }
        let mut manifest: serde_json::Value =
            serde_json::from_str(&record.manifest).map_err(|e| FleetError::Corrupt(format!("stored manifest: {e}")))?;
        let template: serde_json::Value = serde_json::from_str(&target.template)
            .map_err(|e| FleetError::Corrupt(format!("stored revision {}: {e}", target.revision)))?;
        manifest["spec"]["template"] = template;
        if dry_run {
            let daemon_set = self.view_of(record.clone());
            let message = format!("will roll back to revision {}:\n{}", target.revision, target.template);
            return Ok(RollbackOutcome { revision: view(&record, target), daemon_set, message });
        }
        let targets = record.active_targets();
        let change = Change::new(format!("Rollback to revision {}", target.revision), by);
        let (daemon_set, _) = self.apply_daemon_set(&manifest.to_string(), &targets, None, &change).await?;
        let updated = self.record(namespace, name).await?;
        let revision = self
            .store()
            .list_revisions(&updated.uid)
            .await?
            .into_iter()
            .find(|r| r.hash == target.hash)
            .map(|r| view(&updated, r))
            .ok_or_else(|| FleetError::Conflict("the rolled-back revision was pruned meanwhile".into()))?;
        Ok(RollbackOutcome { daemon_set, revision, message: "rolled back".into() })
    }
}
