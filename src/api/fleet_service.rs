//! daemonplane.v1.FleetService: every call is authenticated and authorized first ([`Authenticator`]), then
//! translated to a fleet call; every change is logged with its caller.

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::Authenticator;
use super::convert;
use super::status::to_status;
use crate::apiserver::manifest::parse_daemon_set;
use crate::apiserver::strategy::DEFAULT_NAMESPACE;
use crate::fleet::access::{Caller, Permission};
use crate::fleet::{ApplyOutcome, Change, Fleet, PlanSource};
use crate::pb;
use crate::pb::fleet_service_server::FleetService;

/// The platform-facing service.
#[derive(Clone)]
pub struct FleetApi {
    fleet: Fleet,
    auth: Authenticator,
}

impl FleetApi {
    pub fn new(fleet: Fleet, auth: Authenticator) -> Self {
        FleetApi { fleet, auth }
    }
}

type RolloutStream = Pin<Box<dyn Stream<Item = Result<pb::RolloutStatus, Status>> + Send>>;

/// How long a rollout watch waits for a change before looking again (a disconnect changes no stored status).
const WATCH_RECHECK: Duration = Duration::from_secs(5);

/// A request's namespace, "default" when empty (as kubectl).
fn namespace(ns: &str) -> &str {
    if ns.is_empty() { DEFAULT_NAMESPACE } else { ns }
}

/// The namespace a manifest names, for authorization; None when it does not decode (the fleet then refuses it
/// with the reason).
fn manifest_namespace(manifest: &str) -> Option<String> {
    let ds = parse_daemon_set(manifest).ok()?;
    Some(ds.metadata.namespace.filter(|ns| !ns.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()))
}

/// One structured line per change, whatever its outcome.
fn audit<T>(caller: &Caller, method: &str, target: &str, result: &Result<T, Status>) {
    match result {
        Ok(_) => tracing::info!(target: "daemonplane::audit", caller = %caller.identity, method, target, "allowed"),
        Err(status) => tracing::info!(target: "daemonplane::audit", caller = %caller.identity, method, target,
            code = ?status.code(), reason = status.message(), "failed"),
    }
}

impl FleetApi {
    /// Authorizes a DaemonSet call in a manifest's namespace.
    async fn authorize_manifest<T>(
        &self,
        request: &Request<T>,
        permission: Permission,
        manifest: &str,
    ) -> Result<Caller, Status> {
        let caller = self.auth.authorize(request, permission, None).await?;
        if let Some(ns) = manifest_namespace(manifest) {
            caller.check(permission, Some(&ns)).map_err(|denied| Status::permission_denied(denied.to_string()))?;
        }
        Ok(caller)
    }
}

#[tonic::async_trait]
impl FleetService for FleetApi {
    type WatchRolloutStream = RolloutStream;

    async fn register_cluster(
        &self,
        request: Request<pb::RegisterClusterRequest>,
    ) -> Result<Response<pb::RegisterClusterResponse>, Status> {
        let caller = self.auth.authorize(&request, Permission::ClustersWrite, None).await?;
        let req = request.into_inner();
        let result = self.fleet.register_cluster(&req.name, req.labels.into_iter().collect()).await.map_err(to_status);
        audit(&caller, "RegisterCluster", &req.name, &result);
        let (cluster, token) = result?;
        Ok(Response::new(pb::RegisterClusterResponse { cluster: Some(convert::cluster(cluster)), token }))
    }

    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        self.auth.authorize(&request, Permission::ClustersRead, None).await?;
        let clusters = self.fleet.list_clusters(&request.into_inner().label_selector).await.map_err(to_status)?;
        Ok(Response::new(pb::ListClustersResponse { clusters: clusters.into_iter().map(convert::cluster).collect() }))
    }

    async fn get_cluster(&self, request: Request<pb::GetClusterRequest>) -> Result<Response<pb::Cluster>, Status> {
        self.auth.authorize(&request, Permission::ClustersRead, None).await?;
        let cluster = self.fleet.get_cluster(&request.into_inner().name).await.map_err(to_status)?;
        Ok(Response::new(convert::cluster(cluster)))
    }

    async fn rotate_cluster_token(
        &self,
        request: Request<pb::RotateClusterTokenRequest>,
    ) -> Result<Response<pb::RotateClusterTokenResponse>, Status> {
        let caller = self.auth.authorize(&request, Permission::ClustersWrite, None).await?;
        let req = request.into_inner();
        let overlap = (req.overlap_seconds > 0).then(|| chrono::Duration::seconds(i64::from(req.overlap_seconds)));
        let result = self.fleet.reset_cluster_token(&req.name, true, overlap).await.map_err(to_status);
        audit(&caller, "RotateClusterToken", &req.name, &result);
        let (cluster, token) = result?;
        Ok(Response::new(pb::RotateClusterTokenResponse {
            cluster: Some(convert::cluster(cluster)),
            token: token.unwrap_or_default(),
        }))
    }

    async fn revoke_cluster_token(
        &self,
        request: Request<pb::RevokeClusterTokenRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let caller = self.auth.authorize(&request, Permission::ClustersWrite, None).await?;
        let req = request.into_inner();
        let result = self.fleet.reset_cluster_token(&req.name, false, None).await.map_err(to_status);
        audit(&caller, "RevokeClusterToken", &req.name, &result);
        let (cluster, _) = result?;
        Ok(Response::new(convert::cluster(cluster)))
    }

    async fn create_api_token(
        &self,
        request: Request<pb::CreateApiTokenRequest>,
    ) -> Result<Response<pb::CreateApiTokenResponse>, Status> {
        let caller = self.auth.authorize(&request, Permission::TokensManage, None).await?;
        let req = request.into_inner();
        let role = convert::role_in("role", req.role)?;
        let ttl = (req.ttl_seconds > 0)
            .then(|| i64::try_from(req.ttl_seconds).ok().and_then(chrono::Duration::try_seconds))
            .map(|ttl| ttl.ok_or_else(|| Status::invalid_argument("ttl_seconds: Invalid value: too large")))
            .transpose()?;
        let result =
            self.fleet.create_api_token(&req.name, role, req.namespaces, ttl, &caller).await.map_err(to_status);
        audit(&caller, "CreateApiToken", &req.name, &result);
        let (token, secret) = result?;
        Ok(Response::new(pb::CreateApiTokenResponse { token: Some(convert::api_token(token)), secret }))
    }

    async fn list_api_tokens(
        &self,
        request: Request<pb::ListApiTokensRequest>,
    ) -> Result<Response<pb::ListApiTokensResponse>, Status> {
        self.auth.authorize(&request, Permission::TokensManage, None).await?;
        let tokens = self.fleet.list_api_tokens().await.map_err(to_status)?;
        Ok(Response::new(pb::ListApiTokensResponse { tokens: tokens.into_iter().map(convert::api_token).collect() }))
    }

    async fn revoke_api_token(
        &self,
        request: Request<pb::RevokeApiTokenRequest>,
    ) -> Result<Response<pb::ApiToken>, Status> {
        let caller = self.auth.authorize(&request, Permission::TokensManage, None).await?;
        let req = request.into_inner();
        let result = self.fleet.revoke_api_token(&req.name).await.map_err(to_status);
        audit(&caller, "RevokeApiToken", &req.name, &result);
        Ok(Response::new(convert::api_token(result?)))
    }

    async fn apply_daemon_set(
        &self,
        request: Request<pb::ApplyDaemonSetRequest>,
    ) -> Result<Response<pb::ApplyDaemonSetResponse>, Status> {
        let caller =
            self.authorize_manifest(&request, Permission::DaemonSetsWrite, &request.get_ref().manifest).await?;
        let req = request.into_inner();
        let targets = req.targets.map(|t| t.clusters).unwrap_or_default();
        let rollout = req.rollout.map(convert::rollout_settings_in);
        let change = Change::new("ApplyDaemonSet", &caller.identity);
        let result = self.fleet.apply_daemon_set(&req.manifest, &targets, rollout, &change).await.map_err(to_status);
        let target =
            result.as_ref().map_or(String::new(), |(v, _)| format!("{}/{}", v.record.namespace, v.record.name));
        audit(&caller, "ApplyDaemonSet", &target, &result);
        let (view, outcome) = result?;
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
        let ns = namespace(&request.get_ref().namespace).to_string();
        self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        let view = self.fleet.get_daemon_set(&ns, &req.name).await.map_err(to_status)?;
        Ok(Response::new(convert::daemon_set(view)))
    }

    async fn list_daemon_sets(
        &self,
        request: Request<pb::ListDaemonSetsRequest>,
    ) -> Result<Response<pb::ListDaemonSetsResponse>, Status> {
        let ns = request.get_ref().namespace.clone();
        let caller =
            self.auth.authorize(&request, Permission::DaemonSetsRead, (!ns.is_empty()).then_some(ns.as_str())).await?;
        let views = self.fleet.list_daemon_sets(&ns).await.map_err(to_status)?;
        Ok(Response::new(pb::ListDaemonSetsResponse {
            daemonsets: views
                .into_iter()
                .filter(|v| caller.reaches(&v.record.namespace))
                .map(convert::daemon_set)
                .collect(),
        }))
    }

    async fn delete_daemon_set(
        &self,
        request: Request<pb::DeleteDaemonSetRequest>,
    ) -> Result<Response<pb::DeleteDaemonSetResponse>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        let caller = self.auth.authorize(&request, Permission::DaemonSetsWrite, Some(&ns)).await?;
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
        let result = self.fleet.delete_daemon_set(&ns, &req.name, orphan, &caller.identity).await.map_err(to_status);
        audit(&caller, "DeleteDaemonSet", &format!("{ns}/{}", req.name), &result);
        Ok(Response::new(pb::DeleteDaemonSetResponse { daemonset: result?.map(convert::daemon_set) }))
    }

    async fn explain_placement(
        &self,
        request: Request<pb::ExplainPlacementRequest>,
    ) -> Result<Response<pb::NodePlacement>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        let report = self.fleet.explain_placement(&ns, &req.name, &req.cluster, &req.node).await.map_err(to_status)?;
        Ok(Response::new(convert::node_placement(&req.cluster, &report)))
    }

    async fn plan_placement(
        &self,
        request: Request<pb::PlanPlacementRequest>,
    ) -> Result<Response<pb::PlanPlacementResponse>, Status> {
        use pb::plan_placement_request::Source;
        match &request.get_ref().source {
            Some(Source::Manifest(m)) => {
                self.authorize_manifest(&request, Permission::DaemonSetsRead, &m.clone()).await?;
            }
            Some(Source::Daemonset(d)) => {
                let ns = namespace(&d.namespace).to_string();
                self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
            }
            None => {
                self.auth.authorize(&request, Permission::DaemonSetsRead, None).await?;
            }
        }
        let req = request.into_inner();
        let source = match &req.source {
            Some(Source::Manifest(m)) => PlanSource::Manifest(m),
            Some(Source::Daemonset(d)) => PlanSource::Stored { namespace: namespace(&d.namespace), name: &d.name },
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
        let ns = namespace(&request.get_ref().namespace).to_string();
        self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        let revisions = self.fleet.list_revisions(&ns, &req.name).await.map_err(to_status)?;
        Ok(Response::new(pb::ListRevisionsResponse {
            revisions: revisions.into_iter().map(|r| convert::revision(r, false)).collect(),
        }))
    }

    async fn get_revision(&self, request: Request<pb::GetRevisionRequest>) -> Result<Response<pb::Revision>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        let revision = self.fleet.get_revision(&ns, &req.name, req.revision).await.map_err(to_status)?;
        Ok(Response::new(convert::revision(revision, true)))
    }

    async fn rollback(&self, request: Request<pb::RollbackRequest>) -> Result<Response<pb::RollbackResponse>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        let caller = self.auth.authorize(&request, Permission::DaemonSetsWrite, Some(&ns)).await?;
        let req = request.into_inner();
        let result = self
            .fleet
            .rollback(&ns, &req.name, req.to_revision, req.dry_run, &caller.identity)
            .await
            .map_err(to_status);
        if !req.dry_run {
            audit(&caller, "Rollback", &format!("{ns}/{}", req.name), &result);
        }
        let outcome = result?;
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
        let ns = namespace(&request.get_ref().namespace).to_string();
        let caller = self.auth.authorize(&request, Permission::DaemonSetsWrite, Some(&ns)).await?;
        let req = request.into_inner();
        let result = self.fleet.set_paused(&ns, &req.name, true, &caller.identity).await.map_err(to_status);
        audit(&caller, "PauseRollout", &format!("{ns}/{}", req.name), &result);
        Ok(Response::new(convert::daemon_set(result?)))
    }

    async fn resume_rollout(
        &self,
        request: Request<pb::ResumeRolloutRequest>,
    ) -> Result<Response<pb::DaemonSet>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        let caller = self.auth.authorize(&request, Permission::DaemonSetsWrite, Some(&ns)).await?;
        let req = request.into_inner();
        let result = self.fleet.set_paused(&ns, &req.name, false, &caller.identity).await.map_err(to_status);
        audit(&caller, "ResumeRollout", &format!("{ns}/{}", req.name), &result);
        Ok(Response::new(convert::daemon_set(result?)))
    }

    async fn get_rollout_status(
        &self,
        request: Request<pb::GetRolloutStatusRequest>,
    ) -> Result<Response<pb::RolloutStatus>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        let status = self.fleet.rollout_status(&ns, &req.name).await.map_err(to_status)?;
        Ok(Response::new(convert::rollout(status)))
    }

    async fn watch_rollout(
        &self,
        request: Request<pb::GetRolloutStatusRequest>,
    ) -> Result<Response<Self::WatchRolloutStream>, Status> {
        let ns = namespace(&request.get_ref().namespace).to_string();
        let caller = self.auth.authorize(&request, Permission::DaemonSetsRead, Some(&ns)).await?;
        let req = request.into_inner();
        // The first status answers NOT_FOUND at once rather than on the stream.
        let first = self.fleet.rollout_status(&ns, &req.name).await.map_err(to_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (fleet, auth) = (self.fleet.clone(), self.auth.clone());
        let mut credentials = fleet.credentials_changed();
        tokio::spawn(async move {
            let mut last = None;
            let mut status = Ok(first);
            // The watch lasts only as long as its caller's credential.
            let expiry = caller.valid_until.map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default());
            let expired = async move {
                match expiry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expired);
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
                    _ = credentials.changed() => {
                        if let Err(status) = auth.still_valid(&caller).await {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    }
                    () = &mut expired => {
                        let _ = tx.send(Err(Status::unauthenticated("the watch's credential expired"))).await;
                        return;
                    }
                    _ = tx.closed() => return,
                }
                status = fleet.rollout_status(&ns, &req.name).await;
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
