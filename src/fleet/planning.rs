//! Explain and dry-run planning: the DaemonSet is compiled here, and each cluster's actor answers from its view.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::daemonsets::prepare;
use super::{Fleet, FleetError, Report, ReportQuery};
use crate::apiserver::field::FieldError;
use crate::engine::daemonset::CompiledDaemonSet;
use crate::engine::explain::{ClusterReport, NodeReport};
use crate::engine::revision::compute_hash;

/// What to plan.
pub enum PlanSource<'a> {
    Manifest(&'a str),
    Stored { namespace: &'a str, name: &'a str },
}

/// One cluster's dry run; None when no synced shim is connected.
pub struct ClusterPlan {
    pub cluster: String,
    pub report: Option<ClusterReport>,
}

fn unavailable(cluster: &str) -> FleetError {
    FleetError::NotConnected(cluster.to_string())
}

impl Fleet {
    fn stored(&self, namespace: &str, name: &str) -> Result<Arc<super::CatalogEntry>, FleetError> {
        let namespace = if namespace.is_empty() { "default" } else { namespace };
        let catalog = self.inner.catalog.borrow().clone();
        catalog
            .entries
            .iter()
            .find(|e| e.record.namespace == namespace && e.record.name == name)
            .cloned()
            .ok_or_else(|| FleetError::NotFound(format!("daemonset {namespace}/{name} not found")))
    }

    /// Explains one node of one cluster for a stored DaemonSet.
    pub async fn explain_placement(
        &self,
        namespace: &str,
        name: &str,
        cluster: &str,
        node: &str,
    ) -> Result<NodeReport, FleetError> {
        let entry = self.stored(namespace, name)?;
        if self.store().get_cluster(cluster).await?.is_none() {
            return Err(FleetError::NotFound(format!("cluster {cluster:?} not found")));
        }
        let daemon_set = Arc::clone(&entry.compiled);
        let report = self
            .query(cluster, |reply| ReportQuery {
                daemon_set,
                node: Some(node.to_string()),
                include_all_nodes: false,
                reply,
            })
            .await;
        match report {
            Some(Report::Node(Some(report))) => Ok(report),
            Some(Report::Node(None)) => {
                Err(FleetError::NotFound(format!("node {node:?} not found in cluster {cluster:?}")))
            }
            Some(Report::Cluster(_)) | Some(Report::NotSynced) | None => Err(unavailable(cluster)),
        }
    }

    /// Plans a stored DaemonSet, or a manifest as if applied now, on clusters; changes nothing.
    pub async fn plan_placement(
        &self,
        source: PlanSource<'_>,
        clusters: &[String],
        include_all_nodes: bool,
    ) -> Result<Vec<ClusterPlan>, FleetError> {
        let (daemon_set, targets) = match source {
            PlanSource::Stored { namespace, name } => {
                let entry = self.stored(namespace, name)?;
                let targets = entry.record.active_targets();
                (Arc::clone(&entry.compiled), targets)
            }
            PlanSource::Manifest(manifest) => {
                let prepared = prepare(manifest)?;
                let stored = self.store().get_daemonset(&prepared.namespace, &prepared.name).await?;
                // Planned as the stored DaemonSet it would update (its pods are its own), or as a new one.
                let (uid, generation, hash) = match &stored {
                    Some(s) => {
                        let same_template = self
                            .store()
                            .list_revisions(&s.uid)
                            .await?
                            .into_iter()
                            .find(|r| r.template == prepared.template)
                            .map(|r| r.hash);
                        let hash = same_template.unwrap_or_else(|| compute_hash(&prepared.template, s.collision_count));
                        (s.uid.clone(), s.generation, hash)
                    }
                    None => ("dry-run".to_string(), 1, compute_hash(&prepared.template, None)),
                };
                let compiled = CompiledDaemonSet::new(
                    &uid,
                    &prepared.namespace,
                    &prepared.name,
                    generation,
                    &prepared.defaulted.spec,
                    &hash,
                );
                let targets = stored.map(|s| s.active_targets()).unwrap_or_default();
                (Arc::new(compiled), targets)
            }
        };
        let clusters: BTreeSet<String> =
            if clusters.is_empty() { targets.into_iter().collect() } else { clusters.iter().cloned().collect() };
        if clusters.is_empty() {
            return Err(FleetError::invalid(FieldError::required_value(
                "clusters",
                "name the clusters to plan for (the DaemonSet has no targets)",
            )));
        }
        let mut plans = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            if self.store().get_cluster(&cluster).await?.is_none() {
                return Err(FleetError::NotFound(format!("clusters: cluster {cluster:?} not found")));
            }
            let daemon_set = Arc::clone(&daemon_set);
            let report = match self
                .query(&cluster, |reply| ReportQuery { daemon_set, node: None, include_all_nodes, reply })
                .await
            {
                Some(Report::Cluster(report)) => Some(report),
                _ => None,
            };
            plans.push(ClusterPlan { cluster, report });
        }
        Ok(plans)
    }
}
