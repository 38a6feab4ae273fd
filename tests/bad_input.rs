//! Every bad input gets a clear status with its reason, and nothing else is disturbed.

mod common;

use std::sync::Arc;

use common::*;
use daemonplane::pb;
use daemonplane::store::SqliteStore;
use tonic::Code;
use tonic_types::StatusExt;

async fn server(pool: sqlx::SqlitePool) -> TestServer {
    TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await
}

fn with_template(spec_patch: serde_json::Value) -> String {
    let mut ds: serde_json::Value = serde_json::from_str(&daemonset_json("bad", "img:1", &[])).unwrap();
    merge(&mut ds, spec_patch);
    ds.to_string()
}

fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn bad_manifests_are_invalid_argument_with_field_paths(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    register(&mut fleet, "c1").await;
    use serde_json::json;
    let cases: Vec<(String, &str)> = vec![
        ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: [unclosed".into(), "not valid YAML or JSON"),
        ("{\"apiVersion\": ".into(), "not valid YAML or JSON"),
        (FLUENTD.replace("kind: DaemonSet", "kind: Deployment"), "kind: Unsupported value"),
        (
            with_template(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}}})),
            "spec.template.metadata.labels: Invalid value",
        ),
        (with_template(json!({"spec": {"selector": {"matchLabels": null}}})), "spec.selector"),
        (
            with_template(json!({"spec": {"template": {"spec": {"restartPolicy": "Never"}}}})),
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\"",
        ),
        (
            with_template(
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "110%"}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
        ),
        (
            with_template(
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": -1}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
        ),
        (
            with_template(
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value",
        ),
        (
            with_template(
                json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}}}),
            ),
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value",
        ),
        (
            with_template(
                json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "i", "ports": [{"containerPort": "http"}]}]}}}}),
            ),
            "spec.template.spec.containers[0].ports[0].containerPort",
        ),
    ];
    for (manifest, want) in cases {
        let err = apply(&mut fleet, &manifest, &["c1"]).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{manifest}: {err:?}");
        assert!(err.message().contains(want), "{:?} does not mention {want:?}", err.message());
        // The same errors, machine-readable: one BadRequest field violation per field error.
        let details = err.get_details_bad_request().unwrap_or_else(|| panic!("no BadRequest details in {err:?}"));
        assert!(!details.field_violations.is_empty());
        let field = want.split(':').next().unwrap();
        assert!(
            details.field_violations.iter().any(|v| v.field == field || (v.field == "manifest" && field == want)),
            "no violation of {field:?} in {:?}",
            details.field_violations
        );
    }
    // Nothing was stored.
    let list = fleet.list_daemon_sets(pb::ListDaemonSetsRequest::default()).await.unwrap().into_inner();
    assert!(list.daemonsets.is_empty());
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn unknown_things_are_not_found_and_duplicates_already_exist(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    register(&mut fleet, "c1").await;
    let err = apply(&mut fleet, FLUENTD, &["c1", "nope"]).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("\"nope\""), "{err:?}");
    let err = fleet.get_cluster(pb::GetClusterRequest { name: "nope".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = fleet
        .get_daemon_set(pb::GetDaemonSetRequest { namespace: "default".into(), name: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = fleet
        .delete_daemon_set(pb::DeleteDaemonSetRequest { namespace: "x".into(), name: "nope".into(), propagation: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = fleet
        .register_cluster(pb::RegisterClusterRequest { name: "c1".into(), labels: Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = fleet
        .register_cluster(pb::RegisterClusterRequest { name: "Not_A_Name".into(), labels: Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = fleet
        .rotate_cluster_token(pb::RotateClusterTokenRequest { name: "nope".into(), overlap_seconds: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn oversized_requests_are_resource_exhausted(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    register(&mut fleet, "c1").await;
    // Just above the 4 MiB limit, and far above the codec's own ceiling: the same answer either way.
    for size in [4 * 1024 * 1024 + 1, 65 * 1024 * 1024] {
        let manifest = format!("{FLUENTD}\n# {}", "x".repeat(size));
        let err = apply(&mut fleet, &manifest, &["c1"]).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{size}: {err:?}");
        assert!(err.message().contains("4194304-byte limit"), "{err:?}");
    }
    // The connection is still good for the next request.
    apply(&mut fleet, FLUENTD, &["c1"]).await.unwrap();
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn shim_credentials_are_checked(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    register(&mut fleet, "c2").await;

    let err = open_stream(&server, None, "c1").await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = open_stream(&server, Some("dpt_wrong"), "c1").await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = open_stream(&server, Some(&token), "c2").await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("\"c1\"") && err.message().contains("\"c2\""), "{err:?}");

    // Rotation disconnects the live shim and invalidates the old token.
    let mut shim = FakeShim::connect(&server, &token, "c1", vec![], vec![]).await;
    let rotated = fleet
        .rotate_cluster_token(pb::RotateClusterTokenRequest { name: "c1".into(), overlap_seconds: 0 })
        .await
        .unwrap()
        .into_inner();
    let status = shim.next().await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(open_stream(&server, Some(&token), "c1").await.unwrap_err().code(), Code::Unauthenticated);
    let shim = FakeShim::connect(&server, &rotated.token, "c1", vec![], vec![]).await;
    drop(shim);
    // Revocation leaves no working token.
    let c = fleet.revoke_cluster_token(pb::RevokeClusterTokenRequest { name: "c1".into() }).await.unwrap().into_inner();
    assert!(!c.token_active);
    assert_eq!(open_stream(&server, Some(&rotated.token), "c1").await.unwrap_err().code(), Code::Unauthenticated);
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn bad_shim_messages_end_only_their_own_stream(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    let t1 = register(&mut fleet, "c1").await;
    let t2 = register(&mut fleet, "c2").await;
    apply(&mut fleet, &daemonset_json("agent", "a:1", &[]), &["c1", "c2"]).await.unwrap();
    let mut good = FakeShim::connect(&server, &t2, "c2", vec![node("n1", &[])], vec![]).await;
    let (creates, _) = good.actions(1).await;

    // Oversized: a snapshot chunk above 4 MiB.
    let mut big = FakeShim::connect(&server, &t1, "c1", vec![], vec![]).await;
    let huge_labels = (0..5000).map(|i| (format!("k{i}"), "v".repeat(1000))).collect();
    let fat = pb::Node { name: "fat".into(), labels: huge_labels, ..Default::default() };
    big.send(pb::shim_message::Kind::NodeUpsert(pb::NodeUpsert { node: Some(fat) })).await;
    let status = big.next().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("4194304"), "{status:?}");

    // Malformed: a pod without uid; an empty message; a second hello.
    for bad in [
        pb::shim_message::Kind::PodUpsert(pb::PodUpsert {
            pod: Some(pb::Pod { namespace: "default".into(), name: "p".into(), ..Default::default() }),
        }),
        pb::shim_message::Kind::Hello(pb::Hello { cluster: "c1".into(), shim_version: "x".into() }),
    ] {
        let mut shim = FakeShim::connect(&server, &t1, "c1", vec![], vec![]).await;
        shim.send(bad).await;
        let status = shim.next().await.unwrap_err();
        assert!(matches!(status.code(), Code::InvalidArgument | Code::FailedPrecondition), "{status:?}");
    }
    let mut shim = FakeShim::connect(&server, &t1, "c1", vec![], vec![]).await;
    shim.send_raw(pb::ShimMessage { kind: None }).await;
    let status = shim.next().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // The other cluster's stream is untouched and keeps working.
    good.run_pod(&creates[0], true).await;
    wait_for_daemonset(&mut fleet, "default", "agent", |d| {
        d.clusters.iter().any(|c| c.cluster == "c2" && c.status.is_some_and(|s| s.number_ready == 1))
    })
    .await;
    server.stop().await;
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn deltas_before_the_snapshot_are_a_protocol_error(pool: sqlx::SqlitePool) {
    let server = server(pool).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "c1").await;
    let (tx, mut rx) = open_stream(&server, Some(&token), "c1").await.unwrap();
    let welcome = rx.message().await.unwrap().unwrap();
    assert!(matches!(welcome.kind, Some(pb::server_message::Kind::Welcome(_))));
    tx.send(msg(pb::shim_message::Kind::NodeUpsert(pb::NodeUpsert { node: Some(node("n1", &[])) }))).await.unwrap();
    let status = rx.message().await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("snapshot"), "{status:?}");
    server.stop().await;
}
