//! The whole chain on the real-cluster path: kube-rs watchers and applier against a fake API server that
//! serves pod writes, a shim session, and a real daemonplane service deciding what to create and delete.

mod common;
mod kube_mock;

use std::sync::Arc;

use common::*;
use daemonplane::pb;
use daemonplane::shim::Applier;
use daemonplane::shim::kubernetes::{KubeApplier, run_watchers};
use daemonplane::shim::mirror::Mirror;
use daemonplane::shim::session::{self, SessionConfig, ShimState, TokenSource};
use kube_mock::FakeApi;
use serde_json::{Value, json};
use tokio::sync::watch;

fn node(name: &str, taints: Value) -> Value {
    json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "5",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

async fn fleet_status(server: &TestServer) -> Option<pb::DaemonSetStatus> {
    let mut fleet = server.fleet().await;
    let ds = fleet
        .get_daemon_set(pb::GetDaemonSetRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
        })
        .await
        .ok()?
        .into_inner();
    ds.fleet
}

#[tokio::test]
async fn a_kube_shim_runs_the_daemonset_through_the_api_server_and_removes_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(sqlite_store(&dir).await).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "kube-1").await;

    let fake = FakeApi::new();
    let gpu_taint = json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]);
    fake.set_list(
        "/api/v1/nodes",
        "NodeList",
        "10",
        vec![node("node-a", Value::Null), node("node-b", Value::Null), node("gpu-1", gpu_taint)],
    );
    fake.set_list("/api/v1/pods", "PodList", "10", vec![]);
    fake.serve_pod_writes(100);

    let mirror = Arc::new(Mirror::new());
    let watchers = tokio::spawn(run_watchers(fake.client(), Arc::clone(&mirror)));
    let applier: Arc<dyn Applier> = Arc::new(KubeApplier::new(fake.client()));
    let config = SessionConfig::new(format!("http://{}", server.addr), "kube-1", TokenSource::Value(token));
    let (state, mut state_rx) = watch::channel(ShimState::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shim = tokio::spawn(session::run(config, Arc::clone(&mirror), applier, state, async move {
        let _ = stopped.await;
    }));
    tokio::time::timeout(WAIT, state_rx.wait_for(|s| s.connected)).await.unwrap().unwrap();

    apply(&mut fleet, FLUENTD, &["kube-1"]).await.unwrap();
    let status = eventually("two pods ready", async || {
        fleet_status(&server).await.filter(|s| s.number_ready == 2 && s.desired_number_scheduled == 2)
    })
    .await;
    assert_eq!(status.number_misscheduled, 0);
    let created = fake.created_pods();
    let mut nodes: Vec<&str> = created.iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    nodes.sort();
    assert_eq!(nodes, ["node-a", "node-b"], "no pod on the GPU node");
    for pod in &created {
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
        assert_eq!(pod["metadata"]["labels"]["app.kubernetes.io/managed-by"], "daemonplane");
        assert_eq!(pod["spec"]["containers"][0]["image"], "quay.io/fluentd_elasticsearch/fluentd:v5.0.1");
    }
    let posts = fake.requests().iter().filter(|r| r.starts_with("POST /api/v1/namespaces/kube-system/pods")).count();
    assert_eq!(posts, 2, "exactly one create per node");

    fleet
        .delete_daemon_set(pb::DeleteDaemonSetRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
            propagation: pb::DeletePropagation::Background as i32,
        })
        .await
        .unwrap();
    eventually("pods deleted through the API server", async || fake.created_pods().is_empty().then_some(())).await;
    eventually("the DaemonSet gone", async || fleet_status(&server).await.is_none().then_some(())).await;
    let deletes =
        fake.requests().iter().filter(|r| r.starts_with("DELETE /api/v1/namespaces/kube-system/pods/")).count();
    assert_eq!(deletes, 2);

    let _ = stop.send(());
    tokio::time::timeout(WAIT, shim).await.unwrap().unwrap().unwrap();
    watchers.abort();
    server.stop().await;
}
