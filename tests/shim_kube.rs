//! The shim against a mocked Kubernetes API speaking real API JSON.
//!
//! Watchers run against [`kube_mock::FakeApi`], an in-memory API server answering by path (the node and pod
//! watchers run concurrently). The applier runs against a `tower_test` mock, so each test sees the exact
//! requests in order and answers them one by one.

mod kube_mock;

use std::sync::Arc;
use std::time::{Duration, Instant};

use daemonplane::pb;
use daemonplane::pb::shim_message::Kind;
use daemonplane::shim::kubernetes::{KubeApplier, Retry, run_watchers};
use daemonplane::shim::mirror::{Deltas, Mirror};
use daemonplane::shim::{Applier, Outcome};
use http::{Method, StatusCode};
use kube_mock::{FakeApi, api_status, event};
use serde_json::{Value, json};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const NODES: &str = "/api/v1/nodes";
const PODS: &str = "/api/v1/pods";

// ---- fixtures: objects as the API server returns them ----

fn node(name: &str, rv: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name, "uid": format!("uid-{name}"), "resourceVersion": rv, "labels": labels,
            "creationTimestamp": "2026-11-01T00:00:00Z"
        },
        "spec": {"podCIDR": "10.244.1.0/24", "providerID": format!("kind://docker/kind/{name}")},
        "status": {
            "capacity": {"cpu": "4", "memory": "16393244Ki", "pods": "110", "ephemeral-storage": "102625208Ki"},
            "allocatable": {"cpu": "3920m", "memory": "16Gi", "pods": "110", "ephemeral-storage": "102625208Ki"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "2026-11-23T10:00:00Z",
                 "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": "2026-11-23T10:00:00Z",
                 "lastTransitionTime": "2026-11-01T00:00:00Z", "reason": "KubeletHasNoDiskPressure",
                 "message": "kubelet has no disk pressure"},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-23T10:00:00Z",
                 "lastTransitionTime": "2026-11-01T00:00:10Z", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status"}
            ],
            "nodeInfo": {"kubeletVersion": "v1.34.0", "containerRuntimeVersion": "containerd://2.1.0"}
        }
    })
}

/// A daemonplane pod pinned to `target` by node affinity; `node_name` once scheduled.
fn daemon_pod(name: &str, uid: &str, rv: &str, target: &str, node_name: Option<&str>, ready: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "kube-system", "uid": uid, "resourceVersion": rv,
            "creationTimestamp": "2026-11-23T10:00:00Z",
            "labels": {
                "app": "node-agent", "app.kubernetes.io/managed-by": "daemonplane",
                "daemonplane.io/daemonset-uid": "ds-1", "controller-revision-hash": "6d9c7b5f4"
            },
            "annotations": {"daemonplane.io/action-id": "act-1", "daemonplane.io/daemonset": "kube-system/node-agent"}
        },
        "spec": {
            "nodeName": node_name,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [target]}]}
            ]}}},
            "containers": [{"name": "agent", "image": "agent:1",
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                "ports": [{"containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}]}]
        },
        "status": {
            "phase": if node_name.is_some() { "Running" } else { "Pending" },
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                            "lastTransitionTime": "2026-11-23T10:00:30Z"}]
        }
    })
}

/// A pod daemonplane does not manage.
fn other_pod(
    name: &str,
    uid: &str,
    rv: &str,
    node_name: Option<&str>,
    phase: &str,
    requests: Value,
    ports: Value,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": rv,
                     "labels": {"app": "web"}, "creationTimestamp": "2026-11-23T09:00:00Z"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "web:1",
            "resources": {"requests": requests}, "ports": ports}]},
        "status": {"phase": phase}
    })
}

/// List items come without kind and apiVersion, as the API server sends them.
fn items(objects: Vec<Value>) -> Vec<Value> {
    objects
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect()
}

fn gone() -> Value {
    event("ERROR", api_status(410, "Expired", "too old resource version: 10 (19)"))
}

// ---- helpers ----

/// Starts the watchers against `fake` and waits until both initial lists are in.
async fn synced(fake: &FakeApi) -> (Arc<Mirror>, tokio::task::JoinHandle<()>) {
    let mirror = Arc::new(Mirror::new());
    let task = tokio::spawn(run_watchers(fake.client(), mirror.clone()));
    timeout(WAIT, mirror.wait_synced()).await.expect("the mirror syncs");
    (mirror, task)
}

async fn next_delta(deltas: &mut Deltas) -> Kind {
    timeout(WAIT, deltas.recv()).await.expect("a delta in time").expect("the delta stream is open")
}

async fn node_upsert(deltas: &mut Deltas) -> pb::Node {
    match next_delta(deltas).await {
        Kind::NodeUpsert(u) => u.node.expect("an upserted node"),
        other => panic!("expected a node upsert, got {other:?}"),
    }
}

async fn pod_upsert(deltas: &mut Deltas) -> pb::Pod {
    match next_delta(deltas).await {
        Kind::PodUpsert(u) => u.pod.expect("an upserted pod"),
        other => panic!("expected a pod upsert, got {other:?}"),
    }
}

fn port(port: i32, protocol: &str) -> pb::HostPort {
    pb::HostPort { port, protocol: protocol.into(), host_ip: "0.0.0.0".into() }
}

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

// ---- watchers ----

#[tokio::test]
async fn initial_lists_fill_the_mirror_with_converted_nodes_summaries_and_daemon_pods() {
    let fake = FakeApi::new();
    let mut n1 = node("n1", "5", json!({"role": "worker", "kubernetes.io/hostname": "n1"}));
    n1["spec"]["taints"] = json!([{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]);
    let mut n2 = node("n2", "6", json!({"role": "worker"}));
    n2["spec"]["unschedulable"] = json!(true);
    n2["status"]["conditions"][2]["status"] = json!("False");
    fake.set_list(NODES, "NodeList", "10", items(vec![n1, n2]));
    fake.set_list(
        PODS,
        "PodList",
        "10",
        items(vec![
            daemon_pod("node-agent-bcdfg", "d-1", "7", "n1", Some("n1"), true),
            other_pod("web-1", "o-1", "8", Some("n1"), "Running", json!({"cpu": "500m", "memory": "1Gi"}),
                json!([{"containerPort": 80, "hostPort": 8080}])),
            other_pod("web-2", "o-2", "8", Some("n1"), "Pending", json!({"cpu": "250m", "memory": "512Mi"}),
                json!([{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "hostPort": 9090, "protocol": "UDP"}])),
            other_pod("job-1", "o-3", "8", Some("n1"), "Succeeded", json!({"cpu": "2"}), json!([])),
            other_pod("web-3", "o-4", "9", Some("n2"), "Running", json!({"cpu": "100m"}), json!([])),
            other_pod("unbound", "o-5", "9", None, "Pending", json!({"cpu": "8"}), json!([])),
        ]),
    );

    let (mirror, task) = synced(&fake).await;
    assert_eq!(mirror.counts(), (2, 1));

    let n1 = mirror.node("n1").expect("n1 mirrored");
    assert_eq!(n1.resource_version, "5");
    assert_eq!(n1.labels.get("role").map(String::as_str), Some("worker"));
    assert_eq!(
        n1.taints,
        vec![pb::Taint { key: "dedicated".into(), value: "infra".into(), effect: "NoSchedule".into() }]
    );
    assert!(!n1.unschedulable);
    let conditions: Vec<(&str, &str)> = n1.conditions.iter().map(|c| (c.r#type.as_str(), c.status.as_str())).collect();
    assert_eq!(conditions, [("MemoryPressure", "False"), ("DiskPressure", "False"), ("Ready", "True")]);
    assert_eq!(n1.allocatable, Some(pb::Resources { cpu_millis: 3920, memory_bytes: 16 * GIB, pods: 110 }));
    // web-1 and web-2 count; the finished job and the unbound pod do not; the daemon pod is reported as itself.
    assert_eq!(
        n1.other_pods,
        Some(pb::OtherPods {
            requested: Some(pb::Resources { cpu_millis: 750, memory_bytes: GIB + 512 * MIB, pods: 0 }),
            pod_count: 2,
            host_ports: vec![port(8080, "TCP"), port(9090, "UDP")],
        })
    );

    let n2 = mirror.node("n2").expect("n2 mirrored");
    assert!(n2.unschedulable);
    assert_eq!(n2.conditions.iter().find(|c| c.r#type == "Ready").map(|c| c.status.as_str()), Some("False"));
    let summary = n2.other_pods.expect("a summary");
    assert_eq!((summary.pod_count, summary.requested.map(|r| r.cpu_millis)), (1, Some(100)));

    let pod = mirror.pod("d-1").expect("the daemon pod mirrored");
    assert_eq!((pod.namespace.as_str(), pod.name.as_str()), ("kube-system", "node-agent-bcdfg"));
    assert_eq!((pod.node_name.as_str(), pod.target_node.as_str()), ("n1", "n1"));
    assert_eq!(pod.resource_version, "7");
    assert_eq!(pod.phase, pb::PodPhase::Running as i32);
    assert!(pod.ready);
    assert_eq!(pod.revision_hash, "6d9c7b5f4");
    assert_eq!(pod.labels.get("daemonplane.io/daemonset-uid").map(String::as_str), Some("ds-1"));
    assert_eq!(pod.requests, Some(pb::Resources { cpu_millis: 50, memory_bytes: 64 * MIB, pods: 0 }));
    assert_eq!(pod.host_ports, vec![port(9100, "TCP")]);
    assert!(pod.created_at.is_some() && pod.ready_since.is_some() && pod.deletion_timestamp.is_none());

    // Both watches are cluster-wide and unfiltered: other pods matter for the summaries.
    let requests = fake.requests();
    assert_eq!((fake.list_count(NODES), fake.list_count(PODS)), (1, 1), "{requests:?}");
    assert!(requests.iter().all(|r| !r.contains("labelSelector") && !r.contains("/namespaces/")), "{requests:?}");
    task.abort();
}

#[tokio::test]
async fn large_lists_are_read_page_by_page_and_every_page_reaches_the_mirror() {
    let fake = FakeApi::new();
    let nodes: Vec<Value> = (0..1_200).map(|i| node(&format!("n{i:04}"), "5", json!({"role": "worker"}))).collect();
    // On every node a daemon pod and two other pods: 3,600 pods, several pages at the watcher's page size.
    let mut pods = Vec::new();
    for i in 0..1_200 {
        let n = format!("n{i:04}");
        pods.push(daemon_pod(&format!("node-agent-{i:04}"), &format!("d-{i}"), "7", &n, Some(&n), true));
        for j in 0..2 {
            pods.push(other_pod(
                &format!("web-{i}-{j}"),
                &format!("o-{i}-{j}"),
                "8",
                Some(&n),
                "Running",
                json!({"cpu": "100m"}),
                json!([]),
            ));
        }
    }
    fake.set_list(NODES, "NodeList", "10", items(nodes));
    fake.set_list(PODS, "PodList", "10", items(pods));

    let (mirror, task) = synced(&fake).await;
    assert_eq!(mirror.counts(), (1_200, 1_200));
    let last = mirror.node("n1199").expect("a node from the last page");
    let summary = last.other_pods.expect("a summary");
    assert_eq!((summary.pod_count, summary.requested.map(|r| r.cpu_millis)), (2, Some(200)));
    assert!(mirror.pod("d-1199").is_some(), "a daemon pod from the last page");

    // Paged: the first request carries a limit, the following ones the previous page's continue token.
    let requests = fake.requests();
    let pod_lists: Vec<&String> =
        requests.iter().filter(|r| r.starts_with(&format!("GET {PODS}?")) && !r.contains("watch=true")).collect();
    assert!(pod_lists.len() > 1, "one list request for 3,600 pods: {pod_lists:?}");
    assert!(pod_lists[0].contains("limit=") && !pod_lists[0].contains("continue="), "{pod_lists:?}");
    assert!(pod_lists[1..].iter().all(|r| r.contains("continue=")), "{pod_lists:?}");
    task.abort();
}

#[tokio::test]
async fn watch_events_added_modified_and_deleted_update_the_mirror() {
    let fake = FakeApi::new();
    fake.set_list(NODES, "NodeList", "10", items(vec![node("n1", "10", json!({"role": "worker"}))]));
    fake.set_list(PODS, "PodList", "10", vec![]);
    let (mirror, task) = synced(&fake).await;
    let (snapshot, mut deltas) = mirror.subscribe();
    assert_eq!(snapshot.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["n1"]);
    assert!(snapshot.pods.is_empty());

    fake.send(NODES, event("ADDED", node("n2", "11", json!({})))).await;
    let n2 = node_upsert(&mut deltas).await;
    assert_eq!((n2.name.as_str(), n2.resource_version.as_str()), ("n2", "11"));

    let mut n1 = node("n1", "12", json!({"role": "worker"}));
    n1["spec"]["taints"] = json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]);
    fake.send(NODES, event("MODIFIED", n1)).await;
    let n1 = node_upsert(&mut deltas).await;
    assert_eq!((n1.name.as_str(), n1.resource_version.as_str()), ("n1", "12"));
    assert_eq!(n1.taints[0].key, "node.kubernetes.io/not-ready");

    fake.send(PODS, event("ADDED", daemon_pod("agent-x", "d-1", "13", "n1", None, false))).await;
    let pod = pod_upsert(&mut deltas).await;
    assert_eq!((pod.uid.as_str(), pod.node_name.as_str(), pod.target_node.as_str()), ("d-1", "", "n1"));
    assert_eq!((pod.phase, pod.ready), (pb::PodPhase::Pending as i32, false));

    fake.send(PODS, event("MODIFIED", daemon_pod("agent-x", "d-1", "14", "n1", Some("n1"), true))).await;
    let pod = pod_upsert(&mut deltas).await;
    assert_eq!((pod.resource_version.as_str(), pod.node_name.as_str()), ("14", "n1"));
    assert_eq!((pod.phase, pod.ready), (pb::PodPhase::Running as i32, true));

    // Another pod lands on n2: n2 is upserted with its new summary; finishing takes it off again.
    let web = |rv: &str, phase: &str| {
        other_pod(
            "web-1",
            "o-1",
            rv,
            Some("n2"),
            phase,
            json!({"cpu": "300m"}),
            json!([{"containerPort": 53, "hostPort": 53}]),
        )
    };
    fake.send(PODS, event("ADDED", web("15", "Running"))).await;
    let n2 = node_upsert(&mut deltas).await;
    assert_eq!(n2.name, "n2");
    let summary = n2.other_pods.expect("a summary");
    assert_eq!((summary.pod_count, summary.requested.map(|r| r.cpu_millis)), (1, Some(300)));
    assert_eq!(summary.host_ports, vec![port(53, "TCP")]);
    fake.send(PODS, event("MODIFIED", web("16", "Succeeded"))).await;
    let n2 = node_upsert(&mut deltas).await;
    assert_eq!(n2.other_pods, Some(pb::OtherPods::default()));

    fake.send(PODS, event("DELETED", daemon_pod("agent-x", "d-1", "17", "n1", Some("n1"), true))).await;
    match next_delta(&mut deltas).await {
        Kind::PodDelete(d) => {
            assert_eq!((d.namespace.as_str(), d.name.as_str(), d.uid.as_str()), ("kube-system", "agent-x", "d-1"));
            assert_eq!(d.resource_version, "17");
        }
        other => panic!("expected a pod delete, got {other:?}"),
    }

    fake.send(NODES, event("DELETED", node("n2", "18", json!({})))).await;
    match next_delta(&mut deltas).await {
        Kind::NodeDelete(d) => assert_eq!((d.name.as_str(), d.resource_version.as_str()), ("n2", "18")),
        other => panic!("expected a node delete, got {other:?}"),
    }
    assert_eq!(mirror.counts(), (1, 0));
    assert!(deltas.try_recv().is_err(), "no further deltas");
    task.abort();
}

#[tokio::test]
async fn a_forbidden_list_is_retried_and_the_mirror_stays_unsynced_until_access_is_granted() {
    // A kubeconfig or service account without permission to list nodes: the watcher logs the API's
    // message and retries with backoff; no snapshot goes out while the view would be incomplete.
    let fake = FakeApi::new();
    fake.set_error(
        NODES,
        403,
        "Forbidden",
        "nodes is forbidden: User \"system:serviceaccount:default:shim\" cannot list resource \"nodes\"",
    );
    fake.set_list(PODS, "PodList", "10", vec![]);
    let mirror = Arc::new(Mirror::new());
    let task = tokio::spawn(run_watchers(fake.client(), mirror.clone()));
    let deadline = tokio::time::Instant::now() + WAIT;
    while fake.requests().iter().filter(|r| r.starts_with(&format!("GET {NODES}?"))).count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the forbidden list was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(timeout(Duration::from_millis(100), mirror.wait_synced()).await.is_err(), "not synced while forbidden");
    assert!(!task.is_finished(), "the watchers keep going");

    // Access granted (the ClusterRole applied): the next retry lists and the mirror syncs.
    fake.clear_error(NODES);
    fake.set_list(NODES, "NodeList", "11", items(vec![node("node-a", "11", json!({}))]));
    timeout(Duration::from_secs(40), mirror.wait_synced()).await.expect("syncs once the list is allowed");
    assert_eq!(mirror.counts().0, 1);
    task.abort();
}

#[tokio::test]
async fn a_410_gone_watch_error_relists_and_reports_what_the_relist_lacks_as_deleted() {
    let fake = FakeApi::new();
    let nodes = vec![node("n1", "5", json!({})), node("n2", "6", json!({})), node("n3", "7", json!({}))];
    fake.set_list(NODES, "NodeList", "10", items(nodes));
    let web = other_pod("web-1", "o-1", "9", Some("n1"), "Running", json!({"cpu": "200m"}), json!([]));
    fake.set_list(PODS, "PodList", "10", items(vec![daemon_pod("agent-x", "d-1", "8", "n3", Some("n3"), true), web]));
    let (mirror, task) = synced(&fake).await;
    assert_eq!(mirror.counts(), (3, 1));
    assert_eq!(mirror.node("n1").and_then(|n| n.other_pods).map(|s| s.pod_count), Some(1));
    let (_, mut deltas) = mirror.subscribe();

    fake.send(NODES, event("MODIFIED", node("n3", "12", json!({"zone": "b"})))).await;
    assert_eq!(node_upsert(&mut deltas).await.resource_version, "12");

    // While the watch is down, n3 goes and n2 changes; the API server then expires the watch.
    fake.set_list(
        NODES,
        "NodeList",
        "20",
        items(vec![node("n1", "5", json!({})), node("n2", "15", json!({"zone": "a"}))]),
    );
    fake.send(NODES, gone()).await;
    match next_delta(&mut deltas).await {
        // The deletion is reported at the newest version seen, never older than n3's last one (12), so the
        // service does not drop it as stale.
        Kind::NodeDelete(d) => assert_eq!((d.name.as_str(), d.resource_version.as_str()), ("n3", "15")),
        other => panic!("expected n3 deleted, got {other:?}"),
    }
    let n2 = node_upsert(&mut deltas).await;
    assert_eq!((n2.name.as_str(), n2.resource_version.as_str()), ("n2", "15"));
    assert_eq!(fake.list_count(NODES), 2);
    assert_eq!(mirror.counts(), (2, 1));

    // The same for pods: the daemon pod and the other pod are gone after the relist.
    fake.set_list(PODS, "PodList", "21", vec![]);
    fake.send(PODS, gone()).await;
    match next_delta(&mut deltas).await {
        Kind::PodDelete(d) => assert_eq!((d.uid.as_str(), d.resource_version.as_str()), ("d-1", "9")),
        other => panic!("expected d-1 deleted, got {other:?}"),
    }
    let n1 = node_upsert(&mut deltas).await;
    assert_eq!((n1.name.as_str(), n1.other_pods), ("n1", Some(pb::OtherPods::default())));
    assert_eq!(fake.list_count(PODS), 2);
    assert_eq!(mirror.counts(), (2, 0));
    task.abort();
}

// ---- applier ----

type Handle = tower_test::mock::Handle<http::Request<kube::client::Body>, http::Response<kube::client::Body>>;
type Respond = tower_test::mock::SendResponse<http::Response<kube::client::Body>>;

/// An applier on a mocked API, retrying `attempts` times without real waiting.
fn mock_applier(attempts: u32) -> (KubeApplier, Handle) {
    let (service, handle) = tower_test::mock::pair();
    let client = kube::Client::new(service, "default");
    let retry = Retry { attempts, first_delay: Duration::from_millis(1), max_retry_after: Duration::from_secs(2) };
    (KubeApplier::new(client).with_retry(retry), handle)
}

/// The next request: method, path, JSON body (`Null` when empty), and where to answer.
async fn next_request(handle: &mut Handle) -> (Method, String, Value, Respond) {
    let (request, respond) = timeout(WAIT, handle.next_request()).await.expect("a request in time").expect("a request");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = request.into_body().collect_bytes().await.expect("a readable body");
    let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).expect("a JSON body") };
    (method, path, body, respond)
}

fn answer(respond: Respond, code: u16, body: Value) {
    let body = kube::client::Body::from(serde_json::to_vec(&body).expect("a body serializes"));
    let response = http::Response::builder()
        .status(StatusCode::from_u16(code).expect("a status code"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("a response");
    respond.send_response(response);
}

/// Waits for the action's outcome, then checks that it sent nothing more.
async fn finish(task: tokio::task::JoinHandle<Outcome>, handle: &mut Handle) -> Outcome {
    let outcome = timeout(WAIT, task).await.expect("an outcome in time").expect("the action does not panic");
    // The applier (and its client) is gone with the task, so the mock ends unless a request is still queued.
    let more = timeout(WAIT, handle.next_request()).await.expect("the mock closes");
    assert!(more.is_none(), "unexpected further request: {:?}", more.map(|(r, _)| r.uri().clone()));
    outcome
}

const NS: &str = "kube-system";
const NAME: &str = "node-agent-bcdfg";
const POD_PATH: &str = "/api/v1/namespaces/kube-system/pods";
const NAMED_POD_PATH: &str = "/api/v1/namespaces/kube-system/pods/node-agent-bcdfg";

/// The pod the service would send: the manifest without uid, resourceVersion or status.
fn manifest(action_id: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": NAME, "namespace": NS,
            "labels": {"app": "node-agent", "app.kubernetes.io/managed-by": "daemonplane",
                       "daemonplane.io/daemonset-uid": "ds-1", "controller-revision-hash": "6d9c7b5f4"},
            "annotations": {"daemonplane.io/action-id": action_id, "daemonplane.io/daemonset": "kube-system/node-agent"}
        },
        "spec": {
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
            ]}}},
            "containers": [{"name": "agent", "image": "agent:1", "resources": {"requests": {"cpu": "50m"}}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]
        }
    })
}

/// The manifest as the API server returns it once stored.
fn stored(action_id: &str, uid: &str) -> Value {
    let mut pod = manifest(action_id);
    pod["metadata"]["uid"] = json!(uid);
    pod["metadata"]["resourceVersion"] = json!("4711");
    pod["metadata"]["creationTimestamp"] = json!("2026-11-23T10:00:00Z");
    pod["status"] = json!({"phase": "Pending", "qosClass": "Burstable"});
    pod
}

fn create(pod_json: String) -> pb::CreatePod {
    pb::CreatePod { namespace: NS.into(), name: NAME.into(), node_name: "n1".into(), pod_json }
}

fn spawn_create(applier: KubeApplier, pod_json: String) -> tokio::task::JoinHandle<Outcome> {
    tokio::spawn(async move { applier.create_pod(&create(pod_json)).await })
}

fn spawn_delete(applier: KubeApplier, uid: &str) -> tokio::task::JoinHandle<Outcome> {
    let delete = pb::DeletePod { namespace: NS.into(), name: NAME.into(), uid: uid.into() };
    tokio::spawn(async move { applier.delete_pod(&delete).await })
}

fn already_exists() -> Value {
    let mut status = api_status(409, "AlreadyExists", &format!("pods \"{NAME}\" already exists"));
    status["details"] = json!({"name": NAME, "kind": "pods"});
    status
}

fn internal_error() -> Value {
    api_status(500, "InternalError", "Internal error occurred: etcdserver: request timed out")
}

#[tokio::test]
async fn create_posts_the_pod_json_to_its_namespace_and_reports_the_new_uid() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    let (method, path, body, respond) = next_request(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::POST, POD_PATH));
    assert_eq!(body, manifest("act-1"));
    answer(respond, 201, stored("act-1", "new-uid"));
    assert_eq!(finish(task, &mut handle).await, Outcome::succeeded("new-uid"));
}

#[tokio::test]
async fn create_already_exists_from_the_same_action_is_success_with_the_existing_uid() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    let (method, _, _, respond) = next_request(&mut handle).await;
    assert_eq!(method, Method::POST);
    answer(respond, 409, already_exists());
    let (method, path, _, respond) = next_request(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::GET, NAMED_POD_PATH));
    answer(respond, 200, stored("act-1", "earlier-uid"));
    let outcome = finish(task, &mut handle).await;
    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.pod_uid, "earlier-uid");
}

#[tokio::test]
async fn create_already_exists_from_another_action_fails() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    let (_, _, _, respond) = next_request(&mut handle).await;
    answer(respond, 409, already_exists());
    let (method, path, _, respond) = next_request(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::GET, NAMED_POD_PATH));
    answer(respond, 200, stored("act-0", "other-uid"));
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded, "{outcome:?}");
    assert!(outcome.message.contains("already exists") && outcome.message.contains("act-0"), "{}", outcome.message);
    assert_eq!(outcome.pod_uid, "");
}

#[tokio::test]
async fn delete_sends_the_uid_precondition_and_succeeds() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_delete(applier, "u-1");
    let (method, path, body, respond) = next_request(&mut handle).await;
    assert_eq!((method, path.as_str()), (Method::DELETE, NAMED_POD_PATH));
    assert_eq!(body, json!({"preconditions": {"uid": "u-1"}}));
    // Graceful deletion: the API answers with the pod, now terminating.
    let mut terminating = stored("act-1", "u-1");
    terminating["metadata"]["deletionTimestamp"] = json!("2026-11-23T11:00:00Z");
    terminating["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    answer(respond, 200, terminating);
    let outcome = finish(task, &mut handle).await;
    assert!(outcome.succeeded, "{outcome:?}");
}

#[tokio::test]
async fn delete_of_a_pod_already_gone_is_success() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_delete(applier, "u-1");
    let (method, _, _, respond) = next_request(&mut handle).await;
    assert_eq!(method, Method::DELETE);
    answer(respond, 404, api_status(404, "NotFound", &format!("pods \"{NAME}\" not found")));
    assert_eq!(finish(task, &mut handle).await, Outcome::succeeded_with("already gone"));
}

#[tokio::test]
async fn delete_precondition_conflict_is_success_because_the_targeted_pod_is_gone() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_delete(applier, "u-1");
    let (_, _, body, respond) = next_request(&mut handle).await;
    assert_eq!(body["preconditions"]["uid"], "u-1");
    let message = "Precondition failed: UID in precondition: u-1, UID in object meta: u-2";
    answer(respond, 409, api_status(409, "Conflict", message));
    let outcome = finish(task, &mut handle).await;
    assert!(outcome.succeeded, "{outcome:?}");
    assert_eq!(outcome.message, "pod u-1 already gone; name now used by another pod");
}

#[tokio::test]
async fn delete_without_a_uid_fails_without_a_request() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_delete(applier, "");
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded);
    assert!(outcome.message.starts_with("uid: Required value"), "{}", outcome.message);
}

#[tokio::test]
async fn server_errors_are_retried_until_the_create_succeeds() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    for _ in 0..2 {
        let (method, path, body, respond) = next_request(&mut handle).await;
        assert_eq!((method, path.as_str(), &body), (Method::POST, POD_PATH, &manifest("act-1")));
        answer(respond, 500, internal_error());
    }
    let (method, _, _, respond) = next_request(&mut handle).await;
    assert_eq!(method, Method::POST);
    answer(respond, 201, stored("act-1", "new-uid"));
    assert_eq!(finish(task, &mut handle).await, Outcome::succeeded("new-uid"));
}

#[tokio::test]
async fn throttling_and_a_broken_connection_are_retried_too() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_delete(applier, "u-1");
    let (_, _, _, respond) = next_request(&mut handle).await;
    answer(respond, 429, api_status(429, "TooManyRequests", "the server has received too many requests"));
    let (_, _, _, respond) = next_request(&mut handle).await;
    respond.send_error(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer"));
    let (method, _, _, respond) = next_request(&mut handle).await;
    assert_eq!(method, Method::DELETE);
    answer(respond, 200, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}));
    assert!(finish(task, &mut handle).await.succeeded);
}

/// A 429 as the API server's priority and fairness sends it: the wait is also in the Status details.
fn too_many_requests(retry_after_seconds: u32) -> Value {
    let mut status = api_status(429, "TooManyRequests", "Too many requests, please try again later.");
    status["details"] = json!({"retryAfterSeconds": retry_after_seconds});
    status
}

/// How long a create throttled with `retryAfterSeconds` waits before its second try (which then succeeds).
async fn wait_after_throttling(retry_after_seconds: u32) -> Duration {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    let (_, _, _, respond) = next_request(&mut handle).await;
    let throttled = Instant::now();
    answer(respond, 429, too_many_requests(retry_after_seconds));
    let (method, _, _, respond) = next_request(&mut handle).await;
    let waited = throttled.elapsed();
    assert_eq!(method, Method::POST);
    answer(respond, 201, stored("act-1", "new-uid"));
    assert!(finish(task, &mut handle).await.succeeded);
    waited
}

#[tokio::test]
async fn throttling_waits_as_long_as_the_api_server_asks() {
    // Without the server's retryAfterSeconds the applier's own first delay (1 ms) would apply.
    let waited = wait_after_throttling(1).await;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before the 1 s the server asked for");
}

#[tokio::test]
async fn an_excessive_retry_after_is_cut_to_the_configured_maximum() {
    let waited = wait_after_throttling(3600).await;
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(10)).contains(&waited),
        "retried after {waited:?}; the maximum is 2 s"
    );
}

#[tokio::test]
async fn server_errors_fail_with_the_api_text_after_the_configured_attempts() {
    let (applier, mut handle) = mock_applier(4);
    let task = spawn_create(applier, manifest("act-1").to_string());
    for _ in 0..4 {
        let (method, _, _, respond) = next_request(&mut handle).await;
        assert_eq!(method, Method::POST);
        answer(respond, 500, internal_error());
    }
    // `outcome` also checks that no fifth request follows.
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded);
    assert_eq!(outcome.message, "Internal error occurred: etcdserver: request timed out (gave up after 4 attempts)");
}

#[tokio::test]
async fn forbidden_fails_at_once_with_the_api_message() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, manifest("act-1").to_string());
    let (_, _, _, respond) = next_request(&mut handle).await;
    let message = "pods is forbidden: User \"system:serviceaccount:daemonplane:shim\" cannot create resource \
                   \"pods\" in API group \"\" in the namespace \"kube-system\"";
    answer(respond, 403, api_status(403, "Forbidden", message));
    assert_eq!(finish(task, &mut handle).await, Outcome::failed(message));
}

#[tokio::test]
async fn malformed_pod_json_fails_without_a_request() {
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, "{\"metadata\": {\"name\": ".to_string());
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded);
    assert!(outcome.message.starts_with("pod_json: EOF while parsing"), "{}", outcome.message);

    // Valid JSON that is not a Pod (containers must be a list) fails the same way.
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(
        applier,
        json!({"metadata": {"name": NAME, "namespace": NS}, "spec": {"containers": "agent"}}).to_string(),
    );
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded && outcome.message.starts_with("pod_json: invalid type"), "{outcome:?}");
}

#[tokio::test]
async fn pod_json_naming_another_pod_than_the_action_fails_without_a_request() {
    let mut pod = manifest("act-1");
    pod["metadata"]["namespace"] = json!("default");
    let (applier, mut handle) = mock_applier(5);
    let task = spawn_create(applier, pod.to_string());
    let outcome = finish(task, &mut handle).await;
    assert!(!outcome.succeeded);
    assert!(
        outcome.message.contains("\"default\"") && outcome.message.contains("\"kube-system\""),
        "{}",
        outcome.message
    );
}
