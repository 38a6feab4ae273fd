//! Revision history over gRPC: listing with usage, rollback with kubectl's semantics, history cleanup.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::pb;
use daemonplane::store::SqliteStore;
use tonic::Code;

/// OnDelete keeps pods on the revision they were created with, so the history's usage stays put.
fn manifest(image: &str, cause: &str, history_limit: Option<i32>) -> String {
    let mut ds: serde_json::Value = serde_json::from_str(&daemonset_json("agent", image, &[])).unwrap();
    ds["metadata"]["annotations"] = serde_json::json!({"kubernetes.io/change-cause": cause});
    ds["spec"]["updateStrategy"] = serde_json::json!({"type": "OnDelete"});
    if let Some(limit) = history_limit {
        ds["spec"]["revisionHistoryLimit"] = limit.into();
    }
    ds.to_string()
}

async fn revisions(fleet: &mut daemonplane::client::FleetClient) -> Vec<pb::Revision> {
    fleet
        .list_revisions(pb::ListRevisionsRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner()
        .revisions
}

async fn rollback(
    fleet: &mut daemonplane::client::FleetClient,
    to_revision: i64,
    dry_run: bool,
) -> Result<pb::RollbackResponse, tonic::Status> {
    fleet
        .rollback(pb::RollbackRequest { namespace: "default".into(), name: "agent".into(), to_revision, dry_run })
        .await
        .map(|r| r.into_inner())
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn history_rollback_and_usage(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &manifest("agent:1", "initial", None), &["c1"]).await.unwrap();
    // One revision: nothing to roll back to.
    let err = rollback(&mut fleet, 0, false).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::FailedPrecondition, "no last revision to roll back to"));

    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[]), node("n2", &[])], vec![]).await;
    let (creates, _) = shim.actions(2).await;
    for c in &creates {
        shim.run_pod(c, true).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while revisions(&mut fleet).await[0].nodes != 2 {
        assert!(tokio::time::Instant::now() < deadline, "usage never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let b = apply(&mut fleet, &manifest("agent:2", "bump to 2", None), &["c1"]).await.unwrap().daemonset.unwrap();
    assert_eq!(b.current_revision, 2);
    let history = revisions(&mut fleet).await;
    assert_eq!(history.iter().map(|r| (r.revision, r.current)).collect::<Vec<_>>(), [(1, false), (2, true)]);
    assert_eq!(history[0].change_cause, "initial");
    assert_eq!(history[1].change_cause, "bump to 2");
    assert_eq!((history[0].nodes, history[0].clusters[0].cluster.as_str()), (2, "c1"), "pods still run revision 1");
    assert!(history[0].template.is_empty(), "templates only from GetRevision");
    let one = fleet
        .get_revision(pb::GetRevisionRequest { namespace: "default".into(), name: "agent".into(), revision: 1 })
        .await
        .unwrap()
        .into_inner();
    assert!(one.template.contains("agent:1"), "{}", one.template);

    // Dry run changes nothing.
    let dry = rollback(&mut fleet, 0, true).await.unwrap();
    assert!(dry.message.starts_with("will roll back to revision 1"), "{}", dry.message);
    assert_eq!(dry.daemonset.unwrap().current_revision, 2);

    // kubectl rollout undo: back to revision 1, renumbered 3, same hash; the pods on it are not touched.
    let undone = rollback(&mut fleet, 0, false).await.unwrap();
    assert_eq!(undone.message, "rolled back");
    let ds = undone.daemonset.unwrap();
    assert_eq!((ds.current_revision, ds.current_revision_hash.as_str()), (3, history[0].hash.as_str()));
    assert_eq!(ds.generation, 3);
    let history = revisions(&mut fleet).await;
    assert_eq!(history.iter().map(|r| r.revision).collect::<Vec<_>>(), [2, 3]);
    shim.expect_quiet(Duration::from_millis(1500)).await;

    let err = rollback(&mut fleet, 3, false).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "skipped rollback (current template already matches revision 3)")
    );
    let err = rollback(&mut fleet, 99, false).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::NotFound, "unable to find specified revision 99 in history"));
    let err = rollback(&mut fleet, -1, false).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = fleet
        .get_revision(pb::GetRevisionRequest { namespace: "default".into(), name: "agent".into(), revision: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

/// upstream cleanupHistory: with revisionHistoryLimit 1, old revisions beyond one go oldest first, except one a
/// pod still runs.
#[sqlx::test(migrations = "./migrations/sqlite")]
async fn history_is_pruned_but_live_revisions_stay(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &manifest("agent:1", "one", Some(1)), &["c1"]).await.unwrap();
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[])], vec![]).await;
    let (creates, _) = shim.actions(1).await;
    shim.run_pod(&creates[0], true).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while revisions(&mut fleet).await[0].nodes != 1 {
        assert!(tokio::time::Instant::now() < deadline, "usage never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (image, cause) in [("agent:2", "two"), ("agent:3", "three"), ("agent:4", "four")] {
        apply(&mut fleet, &manifest(image, cause, Some(1)), &["c1"]).await.unwrap();
    }
    // Revision 1 is live (its pod still runs), 4 is current; of 2 and 3 only one old revision may stay besides
    // the live one, and upstream prunes after every change: 2 goes when 3 arrives, 3 when 4 arrives.
    let history = revisions(&mut fleet).await;
    assert_eq!(
        history.iter().map(|r| (r.revision, r.change_cause.as_str())).collect::<Vec<_>>(),
        [(1, "one"), (4, "four")]
    );
    server.stop().await;
}
