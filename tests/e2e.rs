//! End to end over gRPC: a real server on an ephemeral port, driven by a fleet client and a scripted shim.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use daemonplane::pb;
use daemonplane::store::{PgStore, SqliteStore, Store};

/// The walking-skeleton scenario: 5 nodes, 3 matching; creates, status, relabel, restart.
async fn placement_status_relabel_and_restart(store: Arc<dyn Store>, reopen: impl Fn() -> Arc<dyn Store>) {
    let server = TestServer::start(store).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "edge-1").await;
    let manifest = daemonset_json("node-agent", "agent:1", &[("role", "worker")]);
    let applied = apply(&mut fleet, &manifest, &["edge-1"]).await.unwrap();
    assert_eq!(applied.outcome, pb::ApplyOutcome::Created as i32);
    let ds = applied.daemonset.unwrap();
    assert_eq!((ds.generation, ds.current_revision), (1, 1));

    let nodes = vec![
        node("n1", &[("role", "worker")]),
        node("n2", &[("role", "worker")]),
        node("n3", &[("role", "worker")]),
        node("n4", &[("role", "control-plane")]),
        node("n5", &[]),
    ];
    let mut shim = FakeShim::connect(&server, &token, "edge-1", nodes, vec![]).await;
    assert_eq!(shim.welcome.cluster, "edge-1");
    let (creates, deletes) = shim.actions(3).await;
    assert!(deletes.is_empty());
    let pinned: BTreeSet<String> = creates.iter().map(|c| c.node.clone()).collect();
    assert_eq!(pinned, BTreeSet::from(["n1".to_string(), "n2".into(), "n3".into()]));
    for c in &creates {
        // Pinned upstream's way: no nodeName, one required term `metadata.name In [node]`.
        let spec = c.pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name, None);
        let terms = &spec
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        let field = &terms[0].match_fields.as_ref().unwrap()[0];
        assert_eq!((field.key.as_str(), field.operator.as_str()), ("metadata.name", "In"));
        assert_eq!(field.values.as_deref(), Some(&[c.node.clone()][..]));
        let labels = c.pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["controller-revision-hash"], ds.current_revision_hash);
        assert_eq!(labels["app"], "node-agent");
        assert_eq!(labels["daemonplane.io/daemonset-uid"], ds.uid);
    }
    // No second create while the first is in flight.
    shim.expect_quiet(Duration::from_millis(1500)).await;

    let mut pods = Vec::new();
    for c in &creates {
        pods.push(shim.run_pod(c, true).await);
    }
    let ds = wait_for_daemonset(&mut fleet, "default", "node-agent", |d| {
        d.fleet.as_ref().is_some_and(|s| s.number_ready == 3)
    })
    .await;
    let status = ds.clusters[0].status.unwrap();
    assert_eq!((status.desired_number_scheduled, status.current_number_scheduled, status.number_ready), (3, 3, 3));
    assert_eq!((status.updated_number_scheduled, status.number_available, status.number_unavailable), (3, 3, 0));
    assert_eq!(status.observed_generation, 1);
    assert!(ds.clusters[0].connected);

    // Relabel n2: its pod no longer belongs there.
    let mut n2 = node("n2", &[("role", "storage")]);
    n2.resource_version = shim.rv();
    shim.send(pb::shim_message::Kind::NodeUpsert(pb::NodeUpsert { node: Some(n2) })).await;
    let (creates, deletes) = shim.actions(1).await;
    assert!(creates.is_empty());
    let on_n2 = pods.iter().find(|p| p.node_name == "n2").unwrap();
    assert_eq!((deletes[0].name.as_str(), deletes[0].uid.as_str()), (on_n2.name.as_str(), on_n2.uid.as_str()));
    shim.delete_pod(&deletes[0]).await;
    wait_for_daemonset(&mut fleet, "default", "node-agent", |d| {
        d.fleet.as_ref().is_some_and(|s| s.desired_number_scheduled == 2 && s.number_ready == 2)
    })
    .await;
    drop(shim);
    server.stop().await;

    // Restart on the same database: everything durable is still there.
    let server = TestServer::start(reopen()).await;
    let mut fleet = server.fleet().await;
    let cluster = fleet.get_cluster(pb::GetClusterRequest { name: "edge-1".into() }).await.unwrap().into_inner();
    assert_eq!(cluster.node_count, 5);
    assert!(cluster.last_seen.is_some());
    let ds = fleet
        .get_daemon_set(pb::GetDaemonSetRequest { namespace: "default".into(), name: "node-agent".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ds.generation, ds.current_revision), (1, 1));
    assert_eq!(ds.targets.unwrap().clusters, vec!["edge-1".to_string()]);
    assert_eq!(ds.fleet.unwrap().number_ready, 2, "last known status survives the restart");
    // The old token still authenticates the shim against the restarted server.
    let shim = FakeShim::connect(&server, &token, "edge-1", vec![], vec![]).await;
    assert_eq!(shim.welcome.cluster, "edge-1");
    server.stop().await;
}

#[tokio::test]
async fn placement_status_relabel_and_restart_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    let store = daemonplane::store::connect(&url).await.unwrap();
    let reopened = daemonplane::store::connect(&url).await.unwrap();
    placement_status_relabel_and_restart(store, move || reopened.clone()).await;
}

#[sqlx::test(migrations = "./migrations/postgres")]
async fn placement_status_relabel_and_restart_postgres(pool: sqlx::PgPool) {
    let store: Arc<dyn Store> = Arc::new(PgStore::from_pool(pool.clone()));
    placement_status_relabel_and_restart(store, move || Arc::new(PgStore::from_pool(pool.clone()))).await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn apply_is_idempotent_and_tracks_revisions(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    register(&mut fleet, "c1").await;
    let first = apply(&mut fleet, FLUENTD, &["c1"]).await.unwrap();
    assert_eq!(first.outcome, pb::ApplyOutcome::Created as i32);
    let a = first.daemonset.unwrap();
    assert_eq!(
        (a.namespace.as_str(), a.name.as_str(), a.generation, a.current_revision),
        ("kube-system", "fluentd-elasticsearch", 1, 1)
    );

    let again = apply(&mut fleet, FLUENTD, &["c1"]).await.unwrap();
    assert_eq!(again.outcome, pb::ApplyOutcome::Unchanged as i32);
    let again = again.daemonset.unwrap();
    assert_eq!((again.generation, again.current_revision, again.uid), (1, 1, a.uid.clone()));

    // A metadata-only change is configured without a new generation.
    let relabelled = FLUENTD.replace("k8s-app: fluentd-logging", "k8s-app: fluentd-logging\n    team: obs");
    let r = apply(&mut fleet, &relabelled, &["c1"]).await.unwrap();
    assert_eq!(r.outcome, pb::ApplyOutcome::Configured as i32);
    assert_eq!((r.daemonset.as_ref().unwrap().generation, r.daemonset.as_ref().unwrap().current_revision), (1, 1));

    // New image: generation 2, revision 2. Back to the first image: revision 3 with the first hash (A -> B -> A).
    let b = apply(&mut fleet, &relabelled.replace("fluentd:v5.0.1", "fluentd:v5.0.2"), &["c1"]).await.unwrap();
    let b = b.daemonset.unwrap();
    assert_eq!((b.generation, b.current_revision), (2, 2));
    assert_ne!(b.current_revision_hash, a.current_revision_hash);
    let back = apply(&mut fleet, &relabelled, &["c1"]).await.unwrap().daemonset.unwrap();
    assert_eq!((back.generation, back.current_revision), (3, 3));
    assert_eq!(back.current_revision_hash, a.current_revision_hash);

    let list =
        fleet.list_daemon_sets(pb::ListDaemonSetsRequest { namespace: String::new() }).await.unwrap().into_inner();
    assert_eq!(list.daemonsets.len(), 1);
    let none =
        fleet.list_daemon_sets(pb::ListDaemonSetsRequest { namespace: "default".into() }).await.unwrap().into_inner();
    assert!(none.daemonsets.is_empty());
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn clusters_register_list_and_select(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    for (name, env) in [("a", "prod"), ("b", "dev"), ("c", "prod")] {
        let r = fleet
            .register_cluster(pb::RegisterClusterRequest {
                name: name.into(),
                labels: [("env".to_string(), env.to_string())].into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.token.starts_with("dpt_"));
        assert!(!r.cluster.unwrap().connected);
    }
    let prod =
        fleet.list_clusters(pb::ListClustersRequest { label_selector: "env=prod".into() }).await.unwrap().into_inner();
    assert_eq!(prod.clusters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "c"]);
    let all = fleet.list_clusters(pb::ListClustersRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.clusters.len(), 3);
    let bad = fleet.list_clusters(pb::ListClustersRequest { label_selector: "env in (prod".into() }).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn background_delete_removes_pods_then_the_daemonset(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[]), node("n2", &[])], vec![]).await;
    let (creates, _) = shim.actions(2).await;
    for c in &creates {
        shim.run_pod(c, true).await;
    }
    wait_for_daemonset(&mut fleet, "default", "agent", |d| d.fleet.as_ref().is_some_and(|s| s.number_ready == 2)).await;

    let deleted = fleet
        .delete_daemon_set(pb::DeleteDaemonSetRequest {
            namespace: "default".into(),
            name: "agent".into(),
            propagation: pb::DeletePropagation::Background as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.daemonset.unwrap().deleting);
    let (creates, deletes) = shim.actions(2).await;
    assert!(creates.is_empty());
    assert_eq!(deletes.len(), 2);
    // Still visible, deleting, until the pods are gone.
    let ds = fleet
        .get_daemon_set(pb::GetDaemonSetRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(ds.deleting);
    for d in &deletes {
        shim.delete_pod(d).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r =
            fleet.get_daemon_set(pb::GetDaemonSetRequest { namespace: "default".into(), name: "agent".into() }).await;
        match r {
            Err(s) if s.code() == tonic::Code::NotFound => break,
            _ => {
                assert!(tokio::time::Instant::now() < deadline, "daemonset never went away: {r:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn orphan_delete_leaves_pods_running(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[])], vec![]).await;
    let (creates, _) = shim.actions(1).await;
    shim.run_pod(&creates[0], true).await;
    wait_for_daemonset(&mut fleet, "default", "agent", |d| d.fleet.as_ref().is_some_and(|s| s.number_ready == 1)).await;
    let r = fleet
        .delete_daemon_set(pb::DeleteDaemonSetRequest {
            namespace: "default".into(),
            name: "agent".into(),
            propagation: pb::DeletePropagation::Orphan as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.daemonset.is_none());
    shim.expect_quiet(Duration::from_millis(1500)).await;
    let err = fleet
        .get_daemon_set(pb::GetDaemonSetRequest { namespace: "default".into(), name: "agent".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn unconfirmed_actions_are_resent_on_reconnect(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let nodes = vec![node("n1", &[]), node("n2", &[])];
    let mut shim = FakeShim::connect(&server, &token, "c1", nodes.clone(), vec![]).await;
    let (first, _) = shim.actions(2).await;
    drop(shim);
    // The shim went away before applying anything: the same actions (same ids, same pod names) come again,
    // and no new ones are planned next to them.
    let mut shim = FakeShim::connect(&server, &token, "c1", nodes, vec![]).await;
    let (again, _) = shim.actions(2).await;
    let ids = |v: &[Create]| v.iter().map(|c| (c.action_id.clone(), c.name.clone())).collect::<BTreeSet<_>>();
    assert_eq!(ids(&first), ids(&again));
    shim.expect_quiet(Duration::from_millis(1500)).await;
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn failed_create_is_retried_after_backoff(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![node("n1", &[])], vec![]).await;
    let (first, _) = shim.actions(1).await;
    shim.send(pb::shim_message::Kind::ActionResult(pb::ActionResult {
        action_id: first[0].action_id.clone(),
        outcome: pb::ActionOutcome::Failed as i32,
        message: "pods \"x\" is forbidden: exceeded quota".into(),
        pod_uid: String::new(),
    }))
    .await;
    // Not at once: the first retry waits one second.
    shim.expect_quiet(Duration::from_millis(700)).await;
    let (retry, _) = shim.actions(1).await;
    assert_eq!(retry[0].node, "n1");
    assert_ne!(retry[0].action_id, first[0].action_id);
    server.stop().await;
}

/// upstream: TestSimpleDaemonSetPodCreateErrors — 100 nodes, the API accepts only 10 creates: batches of 1, 2,
/// 4 and 8 go out, each after the previous one's results, and the failure in the fourth ends the run.
#[sqlx::test(migrations = "./migrations/sqlite")]
async fn creates_go_out_in_slow_start_batches(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let nodes = (0..100).map(|i| node(&format!("n{i:03}"), &[])).collect();
    let mut shim = FakeShim::connect(&server, &token, "c1", nodes, vec![]).await;
    let (mut sizes, mut accepted) = (Vec::new(), 0);
    while sizes.len() < 5 {
        let batch = shim.drain(Duration::from_millis(400)).await;
        if batch.is_empty() {
            continue;
        }
        sizes.push(batch.len());
        for m in batch {
            let Some(pb::server_message::Kind::Action(a)) = m.kind else { panic!("{m:?}") };
            assert!(matches!(a.kind, Some(pb::action::Kind::CreatePod(_))));
            let ok = accepted < 10;
            accepted += usize::from(ok);
            shim.ack(&a.action_id, ok).await;
        }
    }
    assert_eq!(sizes, [1, 2, 4, 8, 1], "a failure ends the run; the next one starts from 1 again");
    assert_eq!(accepted, 10);
    server.stop().await;
}

/// A snapshot arrives in chunks: nothing is planned until its last chunk; a chunk with a new id abandons an
/// unfinished snapshot, and a reconnect's fresh snapshot replaces the view.
#[sqlx::test(migrations = "./migrations/sqlite")]
async fn chunked_snapshots_are_assembled_before_planning(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1"]).await.unwrap();
    let (tx, mut rx) = open_stream(&server, Some(&token), "c1").await.unwrap();
    let welcome = rx.message().await.unwrap().unwrap();
    let Some(pb::server_message::Kind::Welcome(w)) = welcome.kind else { panic!("{welcome:?}") };
    assert_eq!(w.max_message_bytes, 4 * 1024 * 1024);
    let chunk = |id: u64, names: &[&str], last: bool| {
        msg(pb::shim_message::Kind::Snapshot(pb::SnapshotChunk {
            snapshot_id: id,
            nodes: names.iter().map(|n| node(n, &[])).collect(),
            pods: vec![],
            last,
        }))
    };
    // Snapshot 1 is abandoned half way; snapshot 2 arrives in three chunks.
    tx.send(chunk(1, &["stale-a", "stale-b"], false)).await.unwrap();
    tx.send(chunk(2, &["n1", "n2"], false)).await.unwrap();
    tx.send(chunk(2, &["n3"], false)).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(700), rx.message()).await;
    assert!(early.is_err(), "nothing may be planned before the last chunk: {early:?}");
    tx.send(chunk(2, &["n4"], true)).await.unwrap();
    let mut nodes = BTreeSet::new();
    while nodes.len() < 4 {
        let m = tokio::time::timeout(WAIT, rx.message()).await.unwrap().unwrap().unwrap();
        let Some(pb::server_message::Kind::Action(a)) = m.kind else { panic!("{m:?}") };
        let Some(pb::action::Kind::CreatePod(c)) = a.kind else { panic!("create expected") };
        nodes.insert(c.node_name);
        tx.send(msg(pb::shim_message::Kind::ActionResult(pb::ActionResult {
            action_id: a.action_id,
            outcome: pb::ActionOutcome::Succeeded as i32,
            message: String::new(),
            pod_uid: String::new(),
        })))
        .await
        .unwrap();
    }
    assert_eq!(nodes, BTreeSet::from(["n1".to_string(), "n2".into(), "n3".into(), "n4".into()]));
    let cluster = fleet.get_cluster(pb::GetClusterRequest { name: "c1".into() }).await.unwrap().into_inner();
    assert_eq!((cluster.node_count, cluster.synced, cluster.connected), (4, true, true));
    server.stop().await;
}
