//! Applying, reading and deleting DaemonSets. Admission (decoding, defaulting, validation, the generation) is
//! the apiserver's and revision choice the engine's; this file sequences them with the store and publishes the
//! new catalog.

use std::collections::BTreeSet;

use chrono::Utc;
use k8s_openapi::api::apps::v1::DaemonSet;

use super::{Fleet, FleetError, SessionInfo};
use crate::apiserver::rollout_settings::validate_rollout_settings;
use crate::apiserver::strategy::{Admitted, DEFAULT_NAMESPACE, admit, admit_update};
use crate::engine::revision::{
    CHANGE_CAUSE_ANNOTATION, HistoryEntry, canonical_json, canonical_template, construct_history, revision_name,
};
use crate::engine::status::StatusCounts;
use crate::store::{DaemonSetRecord, DaemonSetWrite, RevisionRecord, RolloutSettings, TargetRecord};

/// Like kubectl apply's created / configured / unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    Created,
    Configured,
    Unchanged,
}

/// A DaemonSet's status in one target cluster, with live session facts.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetView {
    pub target: TargetRecord,
    /// The cluster's shim is connected and its snapshot complete.
    pub connected: bool,
    pub actions_in_flight: i32,
}

/// A DaemonSet as reported to the platform.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSetView {
    pub record: DaemonSetRecord,
    pub targets: Vec<TargetView>,
    /// Counters summed over the targets that are not being removed.
    pub fleet: StatusCounts,
}

/// A manifest admitted, with its canonical forms: everything an apply or a dry run needs of it.
pub(crate) struct Prepared {
    pub defaulted: DaemonSet,
    pub namespace: String,
    pub name: String,
    /// Canonical JSON of the manifest as applied (namespace filled in, server-owned fields dropped), before
    /// defaulting: what the store keeps.
    pub manifest_json: String,
    /// Canonical JSON of the defaulted pod template, what revisions compare.
    pub template: String,
}

/// Admits a manifest like the API server would on create.
pub(crate) fn prepare(manifest: &str) -> Result<Prepared, FleetError> {
    let Admitted { applied, defaulted } = admit(manifest)?;
    Ok(Prepared {
        namespace: defaulted.metadata.namespace.clone().unwrap_or_default(),
        name: defaulted.metadata.name.clone().unwrap_or_default(),
        manifest_json: canonical_json(&serde_json::to_value(&applied).expect("a DaemonSet serializes")),
        template: canonical_template(&defaulted.spec.template),
        defaulted,
    })
}

/// Who asks for a change and what it is: recorded on the DaemonSet, and as the change cause of a revision it
/// makes when the manifest carries no kubernetes.io/change-cause annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `token:<name>`, or a platform certificate's SPIFFE ID.
    pub by: String,
    /// What was asked, e.g. "ApplyDaemonSet".
    pub what: String,
}

impl Change {
    pub fn new(what: impl Into<String>, by: impl Into<String>) -> Self {
        Change { by: by.into(), what: what.into() }
    }

    fn cause(&self) -> String {
        format!("{} by {}", self.what, self.by)
    }
}

impl Fleet {
    /// Creates or updates a DaemonSet from a manifest and its target clusters.
    /// `rollout` None keeps the stored rollout settings (the defaults for a new DaemonSet).
    pub async fn apply_daemon_set(
        &self,
        manifest: &str,
        targets: &[String],
        rollout: Option<RolloutSettings>,
        change: &Change,
    ) -> Result<(DaemonSetView, ApplyOutcome), FleetError> {
        if let Some(settings) = &rollout {
            let errors = validate_rollout_settings(&settings.partition, &settings.node_selector);
            if !errors.is_empty() {
                return Err(FleetError::Invalid(errors));
            }
        }
        let Prepared { defaulted, namespace, name, manifest_json, template } = prepare(manifest)?;
        let wanted: BTreeSet<String> = targets.iter().cloned().collect();
        for cluster in &wanted {
            if self.store().get_cluster(cluster).await?.is_none() {
                return Err(FleetError::NotFound(format!("targets.clusters: cluster {cluster:?} not found")));
            }
        }
        let change_cause = defaulted
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
            .cloned()
            .or_else(|| Some(change.cause()));

        let _writes = self.inner.writes.lock().await;
        let existing = self.store().get_daemonset(&namespace, &name).await?;
        let now = Utc::now();
        let (write, outcome) = match existing {
            None => {
                let limit = self.inner.config.max_daemonsets;
                if self.inner.catalog.borrow().entries.len() >= limit {
                    return Err(FleetError::LimitExceeded(format!(
                        "cannot create daemonset {namespace}/{name}: daemonplane holds at most {limit} DaemonSets \
                         (--max-daemonsets)"
                    )));
                }
                let current = construct_history(&[], &template, None);
                let uid = uuid::Uuid::new_v4().to_string();
                let record = DaemonSetRecord {
                    uid,
                    namespace: namespace.clone(),
                    name: name.clone(),
                    manifest: manifest_json,
                    generation: 1,
                    collision_count: current.collision_count,
                    current_revision: current.revision,
                    current_hash: current.hash.clone(),
                    deleting: false,
                    created_at: now,
                    updated_at: now,
                    rollout: rollout.unwrap_or_default(),
                    created_by: change.by.clone(),
                    updated_by: change.by.clone(),
                    targets: Vec::new(),
                };
                let revision = RevisionRecord {
                    name: revision_name(&name, &current.hash),
                    hash: current.hash,
                    revision: current.revision,
                    template,
                    change_cause,
                    created_at: now,
                    created_by: change.by.clone(),
                };
                let targets = wanted.iter().map(|c| (c.clone(), false)).collect();
                (
                    DaemonSetWrite { daemonset: record, expected_generation: None, targets, revision },
                    ApplyOutcome::Created,
                )
            }
            Some(old) => {
                if old.deleting {
                    return Err(FleetError::BeingDeleted(format!(
                        "daemonset {namespace}/{name} is being deleted; apply it again once it is gone"
                    )));
                }
                let old_applied: DaemonSet = serde_json::from_str(&old.manifest)
                    .map_err(|e| FleetError::Corrupt(format!("stored manifest of {namespace}/{name}: {e}")))?;
                let generation = admit_update(&defaulted, &old_applied, old.generation)?;
                // Every cluster not wanted any more has the DaemonSet's pods removed before its row goes.
                let mut new_targets: Vec<(String, bool)> = wanted.iter().map(|c| (c.clone(), false)).collect();
                new_targets.extend(
                    old.targets.iter().filter(|t| !wanted.contains(&t.cluster)).map(|t| (t.cluster.clone(), true)),
                );
                new_targets.sort();
                let mut old_targets: Vec<(String, bool)> =
                    old.targets.iter().map(|t| (t.cluster.clone(), t.removing)).collect();
                old_targets.sort();
                let rollout = rollout.unwrap_or_else(|| old.rollout.clone());
                if old.manifest == manifest_json && old_targets == new_targets && old.rollout == rollout {
                    return Ok((self.view_of(old), ApplyOutcome::Unchanged));
                }
                let history: Vec<HistoryEntry> = self
                    .store()
                    .list_revisions(&old.uid)
                    .await?
                    .into_iter()
                    .map(|r| HistoryEntry { hash: r.hash, revision: r.revision, template: r.template })
                    .collect();
                let current = construct_history(&history, &template, old.collision_count);
                let revision = RevisionRecord {
                    name: revision_name(&name, &current.hash),
                    hash: current.hash.clone(),
                    revision: current.revision,
                    template,
                    change_cause,
                    created_at: now,
                    created_by: change.by.clone(),
                };
                let record = DaemonSetRecord {
                    manifest: manifest_json,
                    generation,
                    collision_count: current.collision_count,
                    current_revision: current.revision,
                    current_hash: current.hash,
                    updated_at: now,
                    rollout,
                    updated_by: change.by.clone(),
                    targets: Vec::new(),
                    ..old.clone()
                };
                let write = DaemonSetWrite {
                    daemonset: record,
                    expected_generation: Some(old.generation),
                    targets: new_targets,
                    revision,
                };
                (write, ApplyOutcome::Configured)
            }
        };
        let uid = write.daemonset.uid.clone();
        self.store().write_daemonset(&write).await?;
        self.reload_catalog().await?;
        self.cleanup_history(&uid).await?;
        let view = self.get_daemon_set(&namespace, &name).await?;
        Ok((view, outcome))
    }

    pub async fn get_daemon_set(&self, namespace: &str, name: &str) -> Result<DaemonSetView, FleetError> {
        let namespace = if namespace.is_empty() { DEFAULT_NAMESPACE } else { namespace };
        let record = self
            .store()
            .get_daemonset(namespace, name)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("daemonset {namespace}/{name} not found")))?;
        Ok(self.view_of(record))
    }

    pub async fn list_daemon_sets(&self, namespace: &str) -> Result<Vec<DaemonSetView>, FleetError> {
        let namespace = (!namespace.is_empty()).then_some(namespace);
        let records = self.store().list_daemonsets(namespace).await?;
        Ok(records.into_iter().map(|r| self.view_of(r)).collect())
    }

    /// Deletes a DaemonSet: `orphan` forgets it at once; otherwise its pods are deleted through the shims and
    /// the DaemonSet goes once every target confirmed. Returns the DaemonSet while it still exists.
    pub async fn delete_daemon_set(
        &self,
        namespace: &str,
        name: &str,
        orphan: bool,
        by: &str,
    ) -> Result<Option<DaemonSetView>, FleetError> {
        let namespace = if namespace.is_empty() { DEFAULT_NAMESPACE } else { namespace };
        let _writes = self.inner.writes.lock().await;
        let record = self
            .store()
            .get_daemonset(namespace, name)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("daemonset {namespace}/{name} not found")))?;
        if orphan {
            self.store().delete_daemonset(&record.uid).await?;
        } else {
            self.store().mark_daemonset_deleting(&record.uid, by).await?;
            // A cluster whose shim never connected cannot hold pods of this DaemonSet.
            for target in &record.targets {
                let seen = self.store().get_cluster(&target.cluster).await?.is_some_and(|c| c.last_seen_at.is_some());
                if !seen {
                    self.store().finish_target_removal(&record.uid, &target.cluster).await?;
                }
            }
            if record.targets.is_empty() {
                self.store().delete_daemonset(&record.uid).await?;
            }
        }
        self.reload_catalog().await?;
        match self.store().get_daemonset(namespace, name).await? {
            Some(r) => Ok(Some(self.view_of(r))),
            None => Ok(None),
        }
    }

    /// Adds live session facts to a stored DaemonSet.
    pub(crate) fn view_of(&self, record: DaemonSetRecord) -> DaemonSetView {
        let targets: Vec<TargetView> = record
            .targets
            .iter()
            .map(|t| {
                let session: Option<SessionInfo> = self.session_info(&t.cluster);
                TargetView {
                    connected: session.as_ref().is_some_and(|s| s.synced),
                    actions_in_flight: session.and_then(|s| s.in_flight.get(&record.uid).copied()).unwrap_or(0),
                    target: t.clone(),
                }
            })
            .collect();
        let fleet = StatusCounts::sum(targets.iter().filter(|t| !t.target.removing).map(|t| &t.target.status));
        DaemonSetView { record, targets, fleet }
    }
}
