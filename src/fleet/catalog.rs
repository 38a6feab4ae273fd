//! The fleet's DaemonSets as every cluster actor needs them: compiled once per version and published as an
//! immutable snapshot, so an actor reads them without locks or store round trips.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;

use crate::apiserver::defaults::set_defaults;
use crate::apiserver::rollout_settings::parse_partition;
use crate::engine::daemonset::CompiledDaemonSet;
use crate::store::{DaemonSetRecord, RolloutSettings, StoreError};

/// daemonplane's rollout settings on top of the spec's updateStrategy.
pub fn apply_rollout_settings(compiled: &mut CompiledDaemonSet, settings: &RolloutSettings) {
    let options = &mut compiled.rollout;
    // Stored settings were validated when applied.
    options.partition = parse_partition(&settings.partition).ok().flatten();
    options.paused = settings.paused;
    options.node_selector = settings.node_selector.clone();
    options.strict_budget = settings.strict_budget;
}

/// One DaemonSet: its stored record and its compiled form.
#[derive(Debug)]
pub struct CatalogEntry {
    pub record: DaemonSetRecord,
    pub compiled: Arc<CompiledDaemonSet>,
}

impl CatalogEntry {
    /// Compiles a stored DaemonSet (the stored manifest was validated when applied).
    pub fn compile(record: DaemonSetRecord) -> Result<Self, StoreError> {
        let mut ds: DaemonSet = serde_json::from_str(&record.manifest)
            .map_err(|e| StoreError::Corrupt(format!("manifest of {}/{}: {e}", record.namespace, record.name)))?;
        set_defaults(&mut ds);
        let spec = ds.spec;
        let mut compiled = CompiledDaemonSet::new(
            &record.uid,
            &record.namespace,
            &record.name,
            record.generation,
            &spec,
            &record.current_hash,
        );
        apply_rollout_settings(&mut compiled, &record.rollout);
        let compiled = Arc::new(compiled);
        Ok(CatalogEntry { record, compiled })
    }

    /// The target entry for a cluster, if the DaemonSet targets it.
    pub fn target(&self, cluster: &str) -> Option<&crate::store::TargetRecord> {
        self.record.targets.iter().find(|t| t.cluster == cluster)
    }
}

/// An immutable snapshot of every DaemonSet.
#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: Vec<Arc<CatalogEntry>>,
    /// uids of every DaemonSet that exists (deleting ones included): pods naming any other uid are orphans.
    pub live_uids: HashSet<String>,
}

impl Catalog {
    /// Builds a catalog, reusing compiled entries of `previous` whose record did not change.
    pub fn build(records: Vec<DaemonSetRecord>, previous: &Catalog) -> Result<Catalog, StoreError> {
        let old: HashMap<&str, &Arc<CatalogEntry>> =
            previous.entries.iter().map(|e| (e.record.uid.as_str(), e)).collect();
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            // Recompiling is the costly part; a record whose manifest and revision are unchanged keeps it.
            match old.get(record.uid.as_str()) {
                Some(e)
                    if e.record.manifest == record.manifest
                        && e.record.current_hash == record.current_hash
                        && e.record.rollout == record.rollout =>
                {
                    let compiled = if e.compiled.generation == record.generation {
                        Arc::clone(&e.compiled)
                    } else {
                        let mut compiled = (*e.compiled).clone();
                        compiled.generation = record.generation;
                        Arc::new(compiled)
                    };
                    entries.push(Arc::new(CatalogEntry { record, compiled }));
                }
                _ => entries.push(Arc::new(CatalogEntry::compile(record)?)),
            }
        }
        let live_uids = entries.iter().map(|e| e.record.uid.clone()).collect();
        Ok(Catalog { entries, live_uids })
    }

    /// DaemonSets that target a cluster (including ones being removed from it).
    pub fn for_cluster<'a>(&'a self, cluster: &'a str) -> impl Iterator<Item = &'a Arc<CatalogEntry>> + 'a {
        self.entries.iter().filter(move |e| e.target(cluster).is_some())
    }
}
