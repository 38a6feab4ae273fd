//! Registered clusters: registration with labels, listing by label selector, and the shim token's rotation and
//! revocation.

use chrono::Utc;

use super::{ClusterView, Fleet, FleetError, token};
use crate::apiserver::field::FieldError;
use crate::apiserver::metadata::validate_labels_at;
// Cluster names are DNS-1123 labels, so they fit in label values and hostnames.
use crate::apiserver::names::validate_dns1123_label_at;
use crate::engine::model::Labels;
use crate::engine::selector::parse_label_selector;
use crate::store::ClusterRecord;
use kube::core::SelectorExt;

impl Fleet {
    /// Registers a cluster and returns it with its one-time token.
    pub async fn register_cluster(&self, name: &str, labels: Labels) -> Result<(ClusterView, String), FleetError> {
        let mut errors = validate_dns1123_label_at(name, "name");
        errors.extend(validate_labels_at(&labels, "labels"));
        FleetError::check(errors)?;
        let _registering = self.inner.registrations.lock().await;
        let limit = self.inner.config.max_clusters;
        if self.inner.store.list_clusters().await?.len() >= limit {
            return Err(FleetError::LimitExceeded(format!(
                "cannot register cluster {name:?}: daemonplane holds at most {limit} clusters (--max-clusters)"
            )));
        }
        let token = token::generate(token::SHIM_PREFIX);
        let record = ClusterRecord {
            name: name.to_string(),
            labels,
            token_active: true,
            created_at: Utc::now(),
            last_seen_at: None,
            shim_version: String::new(),
            node_count: 0,
        };
        self.inner.store.create_cluster(&record, &token::hash(&token)).await?;
        Ok((ClusterView { record, session: None }, token))
    }

    pub async fn get_cluster(&self, name: &str) -> Result<ClusterView, FleetError> {
        let record = self
            .inner
            .store
            .get_cluster(name)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("cluster {name:?} not found")))?;
        Ok(ClusterView { session: self.session_info(name), record })
    }

    pub async fn list_clusters(&self, label_selector: &str) -> Result<Vec<ClusterView>, FleetError> {
        let selector = parse_label_selector(label_selector)
            .map_err(|e| FleetError::invalid(FieldError::invalid_value("label_selector", label_selector, e)))?;
        let records = self.inner.store.list_clusters().await?;
        Ok(records
            .into_iter()
            .filter(|r| selector.matches(&r.labels))
            .map(|record| ClusterView { session: self.session_info(&record.name), record })
            .collect())
    }

    /// Replaces a cluster's token (`issue_new`) or revokes it. A shim connected with the replaced token is
    /// disconnected, at once or, with `overlap`, when the overlap ends; a revocation also ends a session opened
    /// with a client certificate.
    pub async fn reset_cluster_token(
        &self,
        name: &str,
        issue_new: bool,
        overlap: Option<chrono::Duration>,
    ) -> Result<(ClusterView, Option<String>), FleetError> {
        let token = issue_new.then(|| token::generate(token::SHIM_PREFIX));
        let hash = token.as_deref().map(token::hash);
        let until = overlap.filter(|_| issue_new).map(|overlap| Utc::now() + overlap);
        self.inner.store.set_cluster_token(name, hash.as_deref(), until).await?;
        self.token_replaced(name, until, !issue_new);
        Ok((self.get_cluster(name).await?, token))
    }
}
