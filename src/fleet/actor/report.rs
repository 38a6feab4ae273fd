//! Report queries (ExplainPlacement, PlanPlacement) answered from the actor's view with the same inputs a real
//! round would use.

use chrono::Utc;

use super::ClusterActor;
use crate::engine::explain::{explain_node, report_cluster};
use crate::engine::manage::ManageContext;
use crate::fleet::messages::{Report, ReportQuery};

impl ClusterActor {
    pub(super) fn report(&self, query: ReportQuery) {
        let report = if !self.ingest.synced() {
            Report::NotSynced
        } else {
            let catalog = self.catalog.borrow().clone();
            let now = Utc::now();
            let uid = query.daemon_set.uid.as_str();
            let pending = self.expectations.pending_for(uid, now);
            let ctx = ManageContext {
                now,
                live_owner_uids: &catalog.live_uids,
                creating_nodes: &pending.creating,
                deleting_pods: &pending.deleting,
                observed_generation: self.published.status.get(uid).map_or(0, |s| s.observed_generation),
                burst: self.fleet.config().burst,
            };
            let view = &self.ingest.view;
            let backoff = &self.planning.failed_pods;
            match &query.node {
                Some(node) => Report::Node(explain_node(&query.daemon_set, view, node, &ctx, backoff)),
                None => {
                    Report::Cluster(report_cluster(&query.daemon_set, view, &ctx, backoff, query.include_all_nodes))
                }
            }
        };
        let _ = query.reply.send(report);
    }
}
