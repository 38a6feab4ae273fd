//! Rolling updates end to end: apply, change the image, watch the rollout complete within its budget, restart the
//! server in the middle, roll back — against a simulated cluster behind the real ShimService.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::pb;
use daemonplane::store::{PgStore, Store};
use tokio_stream::StreamExt;

const NODES: usize = 6;

fn manifest(image: &str) -> String {
    let mut ds: serde_json::Value = serde_json::from_str(&daemonset_json("agent", image, &[])).unwrap();
    ds["spec"]["updateStrategy"] = serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}});
    ds.to_string()
}

/// The Kubernetes side: pods by name, every pod Ready as soon as it is created — except pods of a broken
/// revision (an image that cannot be pulled), which stay Pending.
#[derive(Default)]
struct Cluster {
    pods: BTreeMap<String, pb::Pod>,
    broken_hash: Option<String>,
}

impl Cluster {
    fn nodes() -> Vec<pb::Node> {
        (0..NODES).map(|i| node(&format!("n{i}"), &[])).collect()
    }

    /// Applies whatever actions arrive until the service is quiet; returns how many there were.
    async fn step(&mut self, shim: &mut FakeShim) -> usize {
        let messages = shim.drain(Duration::from_millis(300)).await;
        for m in &messages {
            let Some(pb::server_message::Kind::Action(a)) = &m.kind else { continue };
            match &a.kind {
                Some(pb::action::Kind::CreatePod(c)) => {
                    let create = Create {
                        action_id: a.action_id.clone(),
                        namespace: c.namespace.clone(),
                        name: c.name.clone(),
                        node: c.node_name.clone(),
                        pod: serde_json::from_str(&c.pod_json).unwrap(),
                    };
                    // A redelivered create names the same pod: no second one.
                    if !self.pods.contains_key(&c.name) {
                        let hash = create.pod.metadata.labels.as_ref().and_then(|l| l.get("controller-revision-hash"));
                        let broken = hash.is_some() && hash == self.broken_hash.as_ref();
                        let pod = shim.run_pod(&create, !broken).await;
                        self.pods.insert(pod.name.clone(), pod);
                    } else {
                        shim.ack(&a.action_id, true).await;
                    }
                }
                Some(pb::action::Kind::DeletePod(d)) => {
                    let delete = Delete {
                        action_id: a.action_id.clone(),
                        namespace: d.namespace.clone(),
                        name: d.name.clone(),
                        uid: d.uid.clone(),
                    };
                    self.pods.remove(&d.name);
                    shim.delete_pod(&delete).await;
                }
                None => {}
            }
        }
        messages.len()
    }

    /// Nodes without a Ready pod.
    fn unavailable(&self) -> usize {
        (0..NODES).filter(|i| !self.pods.values().any(|p| p.node_name == format!("n{i}") && p.ready)).count()
    }

    fn on_revision(&self, hash: &str) -> usize {
        self.pods.values().filter(|p| p.revision_hash == hash).count()
    }
}

async fn rollout_status(fleet: &mut daemonplane::client::FleetClient) -> pb::RolloutStatus {
    fleet
        .get_rollout_status(pb::GetRolloutStatusRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner()
}

/// Steps the cluster until the rollout is done, checking the budget at every step; returns the steps taken.
async fn drive_to_done(
    cluster: &mut Cluster,
    shim: &mut FakeShim,
    fleet: &mut daemonplane::client::FleetClient,
    max_unavailable: usize,
) -> usize {
    for steps in 0..60 {
        cluster.step(shim).await;
        assert!(cluster.unavailable() <= max_unavailable, "budget broken: {} unavailable", cluster.unavailable());
        if rollout_status(fleet).await.done {
            return steps;
        }
    }
    panic!("rollout never completed: {:#?}", rollout_status(fleet).await);
}

async fn rollout_restart_and_rollback(store: Arc<dyn Store>, reopen: impl Fn() -> Arc<dyn Store>) {
    let server = TestServer::start(store).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    let v1 = apply(&mut fleet, &manifest("agent:1"), &["c1"]).await.unwrap().daemonset.unwrap();
    let mut cluster = Cluster::default();
    let mut shim = FakeShim::connect(&server, &token, "c1", Cluster::nodes(), vec![]).await;
    drive_to_done(&mut cluster, &mut shim, &mut fleet, NODES).await;
    assert_eq!(cluster.on_revision(&v1.current_revision_hash), NODES);

    // New image: a rolling update, two nodes at a time; the watch streams it to the end.
    let v2 = apply(&mut fleet, &manifest("agent:2"), &["c1"]).await.unwrap().daemonset.unwrap();
    assert_eq!((v2.generation, v2.current_revision), (2, 2));
    let mut watch = fleet
        .watch_rollout(pb::GetRolloutStatusRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.phase, pb::RolloutPhase::Progressing as i32, "{first:?}");
    assert_eq!(first.target_revision, 2);
    let watcher = tokio::spawn(async move {
        let mut seen = vec![first];
        while let Some(Ok(status)) = watch.next().await {
            seen.push(status);
        }
        seen
    });

    // A few rounds, then the server restarts in the middle of the rollout.
    for _ in 0..2 {
        cluster.step(&mut shim).await;
        assert!(cluster.unavailable() <= 2);
    }
    let midway = cluster.on_revision(&v2.current_revision_hash);
    assert!(midway > 0 && midway < NODES, "mid-rollout: {midway} of {NODES} updated");
    drop(shim);
    server.stop().await;
    let seen = watcher.await.unwrap();
    assert!(!seen.last().unwrap().done, "the watch ended with the server, not with the rollout");

    let server = TestServer::start(reopen()).await;
    let mut fleet = server.fleet().await;
    let history = fleet
        .list_revisions(pb::ListRevisionsRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner()
        .revisions;
    assert_eq!(history.iter().map(|r| (r.revision, r.current)).collect::<Vec<_>>(), [(1, false), (2, true)]);
    let snapshot: Vec<pb::Pod> = cluster.pods.values().cloned().collect();
    let mut shim = FakeShim::connect(&server, &token, "c1", Cluster::nodes(), snapshot).await;
    // A watch opened now streams the rest of the rollout and ends when it is done.
    let mut watch = fleet
        .watch_rollout(pb::GetRolloutStatusRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(Ok(status)) = watch.next().await {
            seen.push(status);
        }
        seen
    });
    drive_to_done(&mut cluster, &mut shim, &mut fleet, 2).await;
    let seen = tokio::time::timeout(WAIT, watcher).await.expect("the watch ends once the rollout is done").unwrap();
    assert!(seen.iter().any(|s| s.phase == pb::RolloutPhase::Progressing as i32), "{seen:?}");
    let last = seen.last().unwrap();
    assert!(last.done && last.phase == pb::RolloutPhase::Complete as i32, "{last:?}");
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "only changes are streamed");
    assert_eq!(cluster.on_revision(&v2.current_revision_hash), NODES, "every node on the new revision");
    let done = rollout_status(&mut fleet).await;
    assert_eq!(done.phase, pb::RolloutPhase::Complete as i32);
    assert_eq!(done.clusters[0].updated, NODES as i32);

    // Roll back: revision 1 comes back as 3, and the rolling update takes every node back to it.
    let undone = fleet
        .rollback(pb::RollbackRequest {
            namespace: "default".into(),
            name: "agent".into(),
            to_revision: 0,
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    let ds = undone.daemonset.unwrap();
    assert_eq!((ds.current_revision, ds.current_revision_hash.as_str()), (3, v1.current_revision_hash.as_str()));
    drive_to_done(&mut cluster, &mut shim, &mut fleet, 2).await;
    assert_eq!(cluster.on_revision(&v1.current_revision_hash), NODES);
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/postgres")]
async fn rollout_survives_a_restart_postgres(pool: sqlx::PgPool) {
    let store: Arc<dyn Store> = Arc::new(PgStore::from_pool(pool.clone()));
    rollout_restart_and_rollback(store, move || Arc::new(PgStore::from_pool(pool.clone()))).await;
}

#[tokio::test]
async fn rollout_survives_a_restart_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    let store = daemonplane::store::connect(&url).await.unwrap();
    let reopened = daemonplane::store::connect(&url).await.unwrap();
    rollout_restart_and_rollback(store, move || reopened.clone()).await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn paused_rollouts_hold_and_resume(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(daemonplane::store::SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &manifest("agent:1"), &["c1"]).await.unwrap();
    let mut cluster = Cluster::default();
    let mut shim = FakeShim::connect(&server, &token, "c1", Cluster::nodes(), vec![]).await;
    drive_to_done(&mut cluster, &mut shim, &mut fleet, NODES).await;
    let paused = fleet
        .pause_rollout(pb::PauseRolloutRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(paused.rollout.unwrap().paused);
    let v2 = apply(&mut fleet, &manifest("agent:2"), &["c1"]).await.unwrap().daemonset.unwrap();
    assert!(v2.rollout.unwrap().paused, "an apply without rollout settings keeps them");
    assert_eq!(cluster.step(&mut shim).await, 0, "paused: nothing is replaced");
    let status = rollout_status(&mut fleet).await;
    assert_eq!(status.phase, pb::RolloutPhase::Paused as i32, "{status:?}");
    fleet.resume_rollout(pb::ResumeRolloutRequest { namespace: "default".into(), name: "agent".into() }).await.unwrap();
    drive_to_done(&mut cluster, &mut shim, &mut fleet, 2).await;
    assert_eq!(cluster.on_revision(&v2.current_revision_hash), NODES);
    server.stop().await;
}

/// upstream e2e "should rollback without unnecessary restarts" [Conformance]: an update to an image that cannot
/// be pulled leaves some nodes with failing new pods; restoring the old template replaces those, and every pod
/// that was never replaced keeps its name.
#[sqlx::test(migrations = "./migrations/sqlite")]
async fn rollback_without_unnecessary_restarts(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(daemonplane::store::SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    let v1 = apply(&mut fleet, &manifest("agent:1"), &["c1"]).await.unwrap().daemonset.unwrap();
    let mut cluster = Cluster::default();
    let mut shim = FakeShim::connect(&server, &token, "c1", Cluster::nodes(), vec![]).await;
    drive_to_done(&mut cluster, &mut shim, &mut fleet, NODES).await;

    let bad = apply(&mut fleet, &manifest("agent:does-not-exist"), &["c1"]).await.unwrap().daemonset.unwrap();
    cluster.broken_hash = Some(bad.current_revision_hash.clone());
    for _ in 0..4 {
        cluster.step(&mut shim).await;
    }
    let stuck = cluster.on_revision(&bad.current_revision_hash);
    assert_eq!(stuck, 2, "maxUnavailable 2: two nodes got the broken pod, then the rollout stopped");
    let survivors: Vec<String> =
        cluster.pods.values().filter(|p| p.revision_hash == v1.current_revision_hash).map(|p| p.name.clone()).collect();
    assert_eq!(survivors.len(), NODES - 2);

    let restored = apply(&mut fleet, &manifest("agent:1"), &["c1"]).await.unwrap().daemonset.unwrap();
    assert_eq!(
        (restored.current_revision, restored.current_revision_hash.as_str()),
        (3, v1.current_revision_hash.as_str())
    );
    drive_to_done(&mut cluster, &mut shim, &mut fleet, NODES).await;
    assert_eq!(cluster.on_revision(&v1.current_revision_hash), NODES);
    for name in &survivors {
        assert!(cluster.pods.contains_key(name), "{name} was restarted");
    }
    server.stop().await;
}
