//! daemonplane.v1.FleetService.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::status::to_status;
use crate::fleet::{ApplyOutcome, Fleet, PlanSource};
use crate::pb;
use crate::pb::fleet_service_server::FleetService;

/// The platform-facing service.
#[derive(Clone)]
pub struct FleetApi {
    fleet: Fleet,
}

impl FleetApi {
    pub fn new(fleet: Fleet) -> Self {
        FleetApi { fleet }
    }
}

type RolloutStream = Pin<Box<dyn Stream<Item = Result<pb::RolloutStatus, Status>> + Send>>;

/// How long a rollout watch waits for a change before looking again (a disconnect changes no stored status).
const WATCH_RECHECK: Duration = Duration::from_secs(5);

#[tonic::async_trait]
impl FleetService for FleetApi {
    type WatchRolloutStream = RolloutStream;

    async fn register_cluster(
        &self,
        request: Request<pb::RegisterClusterRequest>,
    ) -> Result<Response<pb::RegisterClusterResponse>, Status> {
        let req = request.into_inner();
        let (cluster, token) =
            self.fleet.register_cluster(&req.name, req.labels.into_iter().collect()).await.map_err(to_status)?;
        Ok(Response::new(pb::RegisterClusterResponse { cluster: Some(convert::cluster(cluster)), token }))
    }

    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let clusters = self.fleet.list_clusters(&request.into_inner().label_selector).await.map_err(to_status)?;
        Ok(Response::new(pb::ListClustersResponse { clusters: clusters.into_iter().map(convert::cluster).collect() }))
    }

    async fn get_cluster(&self, request: Request<pb::GetClusterRequest>) -> Result<Response<pb::Cluster>, Status> {
        let cluster = self.fleet.get_cluster(&request.into_inner().name).await.map_err(to_status)?;
        Ok(Response::new(convert::cluster(cluster)))
    }

    async fn rotate_cluster_token(
        &self,
        request: Request<pb::RotateClusterTokenRequest>,
    ) -> Result<Response<pb::RotateClusterTokenResponse>, Status> {
        let (cluster, token) =
            self.fleet.reset_cluster_token(&request.into_inner().name, true).await.map_err(to_status)?;
        Ok(Response::new(pb::RotateClusterTokenResponse {
            cluster: Some(convert::cluster(cluster)),
            token: token.unwrap_or_default(),
        }))
    }

    async fn revoke_cluster_token(
        &self,
        request: Request<pb::RevokeClusterTokenRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let (cluster, _) =
            self.fleet.reset_cluster_token(&request.into_inner().name, false).await.map_err(to_status)?;
        Ok(Response::new(convert::cluster(cluster)))
    }

    async fn apply_daemon_set(
        &self,
        request: Request<pb::ApplyDaemonSetRequest>,
    ) -> Result<Response<pb::ApplyDaemonSetResponse>, Status> {
        let req = request.into_inner();
        let targets = req.targets.map(|t| t.clusters).unwrap_or_default();
        let rollout = req.rollout.map(convert::rollout_settings_in);
        let (view, outcome) = self.fleet.apply_daemon_set(&req.manifest, &targets, rollout).await.map_err(to_status)?;
        let outcome = match outcome {
            ApplyOutcome::Created => pb::ApplyOutcome::Created,
            ApplyOutcome::Configured => pb::ApplyOutcome::Configured,
            ApplyOutcome::Unchanged => pb::ApplyOutcome::Unchanged,
        };
        Ok(Response::new(pb::ApplyDaemonSetResponse {
            daemonset: Some(convert::daemon_set(view)),
            outcome: outcome as i32,
        }))
    }

    async fn get_daemon_set(
        &self,
        request: Request<pb::GetDaemonSetRequest>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let req = request.into_inner();
        let view = self.fleet.get_daemon_set(&req.namespace, &req.name).await.map_err(to_status)?;
        Ok(Response::new(convert::daemon_set(view)))
    }

    async fn list_daemon_sets(
        &self,
        request: Request<pb::ListDaemonSetsRequest>,
    ) -> Result<Response<pb::ListDaemonSetsResponse>, Status> {
        let views = self.fleet.list_daemon_sets(&request.into_inner().namespace).await.map_err(to_status)?;
        Ok(Response::new(pb::ListDaemonSetsResponse {
            daemonsets: views.into_iter().map(convert::daemon_set).collect(),
        }))
    }

    async fn delete_daemon_set(
        &self,
        request: Request<pb::DeleteDaemonSetRequest>,
    ) -> Result<Response<pb::DeleteDaemonSetResponse>, Status> {
        let req = request.into_inner();
        let orphan = match pb::DeletePropagation::try_from(req.propagation) {
            Ok(pb::DeletePropagation::Orphan) => true,
            Ok(pb::DeletePropagation::Background | pb::DeletePropagation::Unspecified) => false,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "propagation: Unsupported value: {}: supported values: DELETE_PROPAGATION_BACKGROUND, DELETE_PROPAGATION_ORPHAN",
                    req.propagation
                )));
            }
        };
        let view = self.fleet.delete_daemon_set(&req.namespace, &req.name, orphan).await.map_err(to_status)?;
        Ok(Response::new(pb::DeleteDaemonSetResponse { daemonset: view.map(convert::daemon_set) }))
    }

    async fn explain_placement(
        &self,
        request: Request<pb::ExplainPlacementRequest>,
    ) -> Result<Response<pb::NodePlacement>, Status> {
        let req = request.into_inner();
        let report = self
            .fleet
            .explain_placement(&req.namespace, &req.name, &req.cluster, &req.node)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::node_placement(&req.cluster, &report)))
    }

    async fn plan_placement(
        &self,
        request: Request<pb::PlanPlacementRequest>,
    ) -> Result<Response<pb::PlanPlacementResponse>, Status> {
        use pb::plan_placement_request::Source;
        let req = request.into_inner();
        let source = match &req.source {
            Some(Source::Manifest(m)) => PlanSource::Manifest(m),
            Some(Source::Daemonset(d)) => PlanSource::Stored { namespace: &d.namespace, name: &d.name },
            None => return Err(Status::invalid_argument("source: Required value: give a manifest or a daemonset")),
        };
        let plans = self.fleet.plan_placement(source, &req.clusters, req.include_all_nodes).await.map_err(to_status)?;
        Ok(Response::new(pb::PlanPlacementResponse {
            clusters: plans.into_iter().map(convert::cluster_plan).collect(),
        }))
    }

    async fn list_revisions(
        &self,
        request: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        let req = request.into_inner();
        let revisions = self.fleet.list_revisions(&req.namespace, &req.name).await.map_err(to_status)?;
        Ok(Response::new(pb::ListRevisionsResponse {
            revisions: revisions.into_iter().map(|r| convert::revision(r, false)).collect(),
        }))
    }

    async fn get_revision(&self, request: Request<pb::GetRevisionRequest>) -> Result<Response<pb::Revision>, Status> {
        let req = request.into_inner();
        let revision = self.fleet.get_revision(&req.namespace, &req.name, req.revision).await.map_err(to_status)?;
        Ok(Response::new(convert::revision(revision, true)))
    }

    async fn rollback(&self, request: Request<pb::RollbackRequest>) -> Result<Response<pb::RollbackResponse>, Status> {
        let req = request.into_inner();
        let outcome =
            self.fleet.rollback(&req.namespace, &req.name, req.to_revision, req.dry_run).await.map_err(to_status)?;
        Ok(Response::new(pb::RollbackResponse {
            daemonset: Some(convert::daemon_set(outcome.daemon_set)),
            revision: Some(convert::revision(outcome.revision, true)),
            message: outcome.message,
        }))
    }

    async fn pause_rollout(
        &self,
        request: Request<pb::PauseRolloutRequest>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let req = request.into_inner();
        let view = self.fleet.set_paused(&req.namespace, &req.name, true).await.map_err(to_status)?;
        Ok(Response::new(convert::daemon_set(view)))
    }

    async fn resume_rollout(
        &self,
        request: Request<pb::ResumeRolloutRequest>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let req = request.into_inner();
        let view = self.fleet.set_paused(&req.namespace, &req.name, false).await.map_err(to_status)?;
        Ok(Response::new(convert::daemon_set(view)))
    }

    async fn get_rollout_status(
        &self,
        request: Request<pb::GetRolloutStatusRequest>,
    ) -> Result<Response<pb::RolloutStatus>, Status> {
        let req = request.into_inner();
        let status = self.fleet.rollout_status(&req.namespace, &req.name).await.map_err(to_status)?;
        Ok(Response::new(convert::rollout(status)))
    }

    async fn watch_rollout(
        &self,
        request: Request<pb::GetRolloutStatusRequest>,
    ) -> Result<Response<Self::WatchRolloutStream>, Status> {
        let req = request.into_inner();
        // The first status answers NOT_FOUND at once rather than on the stream.
        let first = self.fleet.rollout_status(&req.namespace, &req.name).await.map_err(to_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let fleet = self.fleet.clone();
        tokio::spawn(async move {
            let mut last = None;
            let mut status = Ok(first);
            loop {
                match status {
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                    Ok(s) => {
                        let done = s.done;
                        if last.as_ref() != Some(&s) {
                            if tx.send(Ok(convert::rollout(s.clone()))).await.is_err() {
                                return;
                            }
                            last = Some(s);
                        }
                        if done || fleet.is_shutting_down() {
                            return;
                        }
                    }
                }
                tokio::select! {
                    _ = fleet.status_changed(WATCH_RECHECK) => {}
                    _ = tx.closed() => return,
                }
                status = fleet.rollout_status(&req.namespace, &req.name).await;
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
