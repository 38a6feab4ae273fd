//! The simulated cluster end to end, on paused time: actions in, mirror contents out.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::json;

use super::*;
use crate::engine::daemonset_util::TAINT_NODE_NOT_READY;
use crate::engine::pod::{PodOwner, daemon_pod};
use crate::shim::{Applier, Outcome};

const DELAY: Duration = Duration::from_secs(5);
const MIB: i64 = 1 << 20;

fn manifest(node: &str, name: &str, action: &str, image: &str) -> String {
    let template: PodTemplateSpec = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "agent"}},
        "spec": {"containers": [{
            "name": "agent",
            "image": image,
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "ports": [{"containerPort": 9100, "hostPort": 9100}]
        }]}
    }))
    .unwrap();
    let owner = PodOwner { namespace: "kube-system", name: "agent", uid: "ds-uid", revision_hash: "rev1" };
    serde_json::to_string(&daemon_pod(&template, owner, node, name, action)).unwrap()
}

fn create(node: &str, name: &str, action: &str, image: &str) -> pb::CreatePod {
    pb::CreatePod {
        namespace: "kube-system".into(),
        name: name.into(),
        node_name: node.into(),
        pod_json: manifest(node, name, action, image),
    }
}

fn delete(name: &str, uid: &str) -> pb::DeletePod {
    pb::DeletePod { namespace: "kube-system".into(), name: name.into(), uid: uid.into() }
}

fn cluster(config: SimConfig) -> (SimCluster, Arc<Mirror>) {
    let mirror = Arc::new(Mirror::new());
    (SimCluster::start(config, mirror.clone()), mirror)
}

fn nodes(names: &[&str]) -> SimConfig {
    SimConfig { ready_after: DELAY, ..SimConfig::with_nodes(names.iter().map(|n| SimNode::new(n)).collect()) }
}

async fn created(sim: &SimCluster, node: &str, name: &str, image: &str) -> String {
    let outcome = sim.create_pod(&create(node, name, &format!("act-{name}"), image)).await;
    assert!(outcome.succeeded, "{outcome:?}");
    assert!(!outcome.pod_uid.is_empty());
    outcome.pod_uid
}

async fn wait(d: Duration) {
    tokio::time::sleep(d).await;
}

fn phase(p: &pb::Pod) -> pb::PodPhase {
    pb::PodPhase::try_from(p.phase).unwrap()
}

#[tokio::test(start_paused = true)]
async fn start_fills_the_mirror_with_increasing_revisions() {
    let (_sim, mirror) = cluster(nodes(&["a", "b", "c"]));
    tokio::time::timeout(Duration::from_secs(1), mirror.wait_synced()).await.unwrap();
    let (snapshot, _) = mirror.subscribe();
    let revisions: Vec<&str> = snapshot.nodes.iter().map(|n| n.resource_version.as_str()).collect();
    assert_eq!(revisions, ["1", "2", "3"]);
    let a = &snapshot.nodes[0];
    assert_eq!((a.name.as_str(), a.labels["kubernetes.io/hostname"].as_str()), ("a", "a"));
    assert_eq!(a.allocatable.unwrap().pods, 110);
    assert_eq!(a.other_pods, Some(pb::OtherPods::default()));
}

#[tokio::test(start_paused = true)]
async fn a_pod_is_pending_then_running_and_ready_after_the_delay() {
    let (sim, mirror) = cluster(nodes(&["a", "b"]));
    let uid = created(&sim, "b", "agent-x1", "agent:1").await;
    let pod = mirror.pod(&uid).unwrap();
    assert_eq!((phase(&pod), pod.ready), (pb::PodPhase::Pending, false));
    assert_eq!((pod.node_name.as_str(), pod.target_node.as_str()), ("b", "b"));
    assert_eq!(pod.resource_version, "3");
    assert_eq!(pod.revision_hash, "rev1");
    assert_eq!(pod.labels["app.kubernetes.io/managed-by"], "daemonplane");
    assert_eq!(pod.requests, Some(pb::Resources { cpu_millis: 100, memory_bytes: 64 * MIB, pods: 0 }));
    assert_eq!(pod.host_ports, [pb::HostPort { port: 9100, protocol: "TCP".into(), host_ip: "0.0.0.0".into() }]);
    assert!(pod.created_at.is_some() && pod.ready_since.is_none() && pod.deletion_timestamp.is_none());

    wait(DELAY - Duration::from_millis(10)).await;
    assert_eq!(phase(&mirror.pod(&uid).unwrap()), pb::PodPhase::Pending);
    wait(Duration::from_millis(20)).await;
    let pod = mirror.pod(&uid).unwrap();
    assert_eq!((phase(&pod), pod.ready), (pb::PodPhase::Running, true));
    assert!(pod.ready_since.is_some());
    assert_eq!(pod.resource_version, "4");
}

#[tokio::test(start_paused = true)]
async fn a_pod_for_a_missing_node_waits_unscheduled_until_the_node_joins() {
    let (sim, mirror) = cluster(nodes(&["a"]));
    let uid = created(&sim, "late", "agent-x1", "agent:1").await;
    wait(DELAY * 2).await;
    let pod = mirror.pod(&uid).unwrap();
    assert_eq!((pod.node_name.as_str(), pod.target_node.as_str(), phase(&pod)), ("", "late", pb::PodPhase::Pending));

    sim.add_node(SimNode::new("late"));
    assert_eq!(mirror.pod(&uid).unwrap().node_name, "late");
    wait(DELAY + Duration::from_millis(10)).await;
    assert!(mirror.pod(&uid).unwrap().ready);
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_create_is_idempotent_and_a_conflicting_one_fails() {
    let (sim, mirror) = cluster(nodes(&["a"]));
    let first = sim.create_pod(&create("a", "agent-x1", "act-1", "agent:1")).await;
    let again = sim.create_pod(&create("a", "agent-x1", "act-1", "agent:1")).await;
    assert!(first.succeeded && again.succeeded);
    assert_eq!(first.pod_uid, again.pod_uid);
    assert_eq!(sim.pod_count(), 1);

    let conflict = sim.create_pod(&create("a", "agent-x1", "act-2", "agent:1")).await;
    assert_eq!(conflict, Outcome::failed("AlreadyExists: pods \"agent-x1\" already exists"));
    assert_eq!(mirror.counts(), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn malformed_creates_fail_with_a_clear_message() {
    let (sim, mirror) = cluster(nodes(&["a"]));
    let mut bad = create("a", "agent-x1", "act-1", "agent:1");
    bad.pod_json = "{not json".into();
    let outcome = sim.create_pod(&bad).await;
    assert!(!outcome.succeeded && outcome.message.starts_with("pod_json: "), "{outcome:?}");

    let mut renamed = create("a", "agent-x1", "act-1", "agent:1");
    renamed.name = "agent-other".into();
    let outcome = sim.create_pod(&renamed).await;
    assert!(!outcome.succeeded && outcome.message.contains("does not match"), "{outcome:?}");

    let mut no_containers = create("a", "agent-x1", "act-1", "agent:1");
    no_containers.pod_json = json!({"metadata": {"name": "agent-x1"}, "spec": {"containers": []}}).to_string();
    let outcome = sim.create_pod(&no_containers).await;
    assert_eq!(outcome.message, "Pod \"agent-x1\" is invalid: spec.containers: Required value");

    let mut bad_quantity = create("a", "agent-x1", "act-1", "agent:1");
    bad_quantity.pod_json = bad_quantity.pod_json.replace("100m", "lots");
    let outcome = sim.create_pod(&bad_quantity).await;
    assert!(!outcome.succeeded && outcome.message.contains("\"lots\""), "{outcome:?}");

    assert_eq!((sim.pod_count(), mirror.counts().1), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn pods_without_the_managed_by_label_are_not_reported() {
    let (sim, mirror) = cluster(nodes(&["a"]));
    let mut plain = create("a", "plain", "act-1", "agent:1");
    plain.pod_json = json!({
        "metadata": {"name": "plain", "namespace": "kube-system"},
        "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "i"}]}
    })
    .to_string();
    assert!(sim.create_pod(&plain).await.succeeded);
    assert_eq!((sim.pod_count(), mirror.counts().1), (1, 0));
    assert_eq!(sim.pods()[0].node_name, "a");
}

#[tokio::test(start_paused = true)]
async fn a_delete_terminates_then_removes_and_a_stale_uid_spares_the_new_pod() {
    let (sim, mirror) = cluster(nodes(&["a"]));
    assert_eq!(sim.delete_pod(&delete("agent-x1", "nope")).await, Outcome::succeeded_with("already gone"));

    let old = created(&sim, "a", "agent-x1", "agent:1").await;
    assert_eq!(sim.delete_pod(&delete("agent-x1", &old)).await, Outcome::succeeded_with(""));
    assert!(mirror.pod(&old).unwrap().deletion_timestamp.is_some());
    assert_eq!(sim.delete_pod(&delete("agent-x1", &old)).await, Outcome::succeeded_with("already terminating"));
    // While terminating the name is still taken.
    let early = sim.create_pod(&create("a", "agent-x1", "act-other", "agent:1")).await;
    assert!(!early.succeeded && early.message.starts_with("AlreadyExists"));

    wait(DELAY / 2 + Duration::from_millis(10)).await;
    assert!(mirror.pod(&old).is_none());
    assert_eq!(sim.pod_count(), 0);

    let new = created(&sim, "a", "agent-x1", "agent:1").await;
    let stale = sim.delete_pod(&delete("agent-x1", &old)).await;
    assert!(stale.succeeded && stale.message.contains("another pod"), "{stale:?}");
    assert!(mirror.pod(&new).unwrap().deletion_timestamp.is_none());
    wait(DELAY * 2).await;
    assert!(mirror.pod(&new).unwrap().ready);
}

#[tokio::test(start_paused = true)]
async fn an_unpullable_image_keeps_the_pod_pending() {
    let config = SimConfig { image_pull_failure: Some("agent:broken".into()), ..nodes(&["a"]) };
    let (sim, mirror) = cluster(config);
    let broken = created(&sim, "a", "agent-x1", "registry.example/agent:broken").await;
    let fine = created(&sim, "a", "agent-x2", "registry.example/agent:1").await;
    wait(DELAY * 10).await;
    let pod = mirror.pod(&broken).unwrap();
    assert_eq!((phase(&pod), pod.ready, pod.ready_since), (pb::PodPhase::Pending, false, None));
    assert!(mirror.pod(&fine).unwrap().ready);
}

#[tokio::test(start_paused = true)]
async fn a_crash_looping_pod_runs_but_is_never_ready() {
    let config = SimConfig { crash_loop: Some(":crash".into()), ..nodes(&["a"]) };
    let (sim, mirror) = cluster(config);
    let uid = created(&sim, "a", "agent-x1", "agent:crash").await;
    wait(DELAY * 10).await;
    let pod = mirror.pod(&uid).unwrap();
    assert_eq!((phase(&pod), pod.ready), (pb::PodPhase::Running, false));
}

#[tokio::test(start_paused = true)]
async fn churn_removes_a_worker_with_its_pods_then_a_new_node_joins() {
    let period = Duration::from_secs(60);
    let mut config = nodes(&["w1", "w2", "w3"]);
    let mut control_plane = SimNode::new("cp");
    control_plane.labels.insert(CONTROL_PLANE_LABEL.into(), String::new());
    config.nodes.push(control_plane);
    config.node_churn = Some(period);
    let (sim, mirror) = cluster(config);
    for node in ["w1", "w2", "w3", "cp"] {
        created(&sim, node, &format!("agent-{node}"), "agent:1").await;
    }

    wait(period + Duration::from_millis(10)).await;
    let names = sim.node_names();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"cp".to_string()));
    let gone = ["w1", "w2", "w3"].into_iter().find(|n| !names.contains(&n.to_string())).unwrap();
    assert!(mirror.node(gone).is_none());
    let pods = sim.pods();
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| p.node_name != gone));
    assert_eq!(mirror.counts(), (3, 3));

    wait(period).await;
    let joined = format!("{gone}-j1");
    assert_eq!(sim.node_names().len(), 4);
    let node = mirror.node(&joined).unwrap();
    assert_eq!(node.labels[HOSTNAME_LABEL], joined);
    assert!(node.conditions.iter().any(|c| c.r#type == CONDITION_READY && c.status == "True"));
}

#[tokio::test(start_paused = true)]
async fn a_flapping_node_goes_not_ready_with_its_pods_and_recovers_next_tick() {
    let period = Duration::from_secs(60);
    let config = SimConfig { not_ready_flap: Some(period), ..nodes(&["a", "b", "c"]) };
    let (sim, mirror) = cluster(config);
    let mut uids = Vec::new();
    for node in ["a", "b", "c"] {
        uids.push((node, created(&sim, node, &format!("agent-{node}"), "agent:1").await));
    }
    wait(DELAY + Duration::from_millis(10)).await;
    assert!(uids.iter().all(|(_, uid)| mirror.pod(uid).unwrap().ready));

    wait(period - DELAY).await;
    let flapped: Vec<&str> = ["a", "b", "c"].into_iter().filter(|n| !sim.node(n).unwrap().is_ready()).collect();
    let [first] = flapped[..] else { panic!("one node should be NotReady: {flapped:?}") };
    let reported = mirror.node(first).unwrap();
    let taints: Vec<(&str, &str)> = reported.taints.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
    assert_eq!(taints, [(TAINT_NODE_NOT_READY, "NoSchedule"), (TAINT_NODE_NOT_READY, "NoExecute")]);
    for (node, uid) in &uids {
        assert_eq!(mirror.pod(uid).unwrap().ready, *node != first, "pod on {node}");
    }

    wait(period).await;
    let first_pod = &uids.iter().find(|(n, _)| *n == first).unwrap().1;
    assert!(sim.node(first).unwrap().is_ready());
    assert!(mirror.node(first).unwrap().taints.is_empty());
    assert!(mirror.pod(first_pod).unwrap().ready);
    let not_ready = ["a", "b", "c"].into_iter().filter(|n| !sim.node(n).unwrap().is_ready()).count();
    assert_eq!(not_ready, 1);
}

#[tokio::test(start_paused = true)]
async fn stopping_ends_the_tasks_and_refuses_actions() {
    let config = SimConfig { node_churn: Some(Duration::from_secs(1)), ..nodes(&["a", "b", "c"]) };
    let (sim, mirror) = cluster(config);
    created(&sim, "a", "agent-a", "agent:1").await;
    sim.stop();
    assert_eq!(sim.create_pod(&create("a", "agent-y", "act-y", "agent:1")).await, Outcome::failed(STOPPED_MESSAGE));
    wait(Duration::from_secs(30)).await;
    assert_eq!(sim.node_names().len(), 3);
    assert_eq!(mirror.counts(), (3, 1));
    assert_eq!(phase(&sim.pods()[0]), pb::PodPhase::Pending);
}

#[tokio::test(start_paused = true)]
async fn extreme_periods_do_not_panic() {
    let config = SimConfig {
        ready_after: Duration::MAX,
        node_churn: Some(Duration::MAX),
        not_ready_flap: Some(Duration::ZERO),
        ..nodes(&["a"])
    };
    let (sim, mirror) = cluster(config);
    let uid = created(&sim, "a", "agent-a", "agent:1").await;
    wait(Duration::from_secs(3600)).await;
    assert_eq!(phase(&mirror.pod(&uid).unwrap()), pb::PodPhase::Pending);
    assert!(sim.node("a").unwrap().is_ready());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_cluster_ends_its_tasks() {
    let config = SimConfig { node_churn: Some(Duration::from_secs(1)), ..nodes(&["a", "b", "c"]) };
    let (sim, mirror) = cluster(config);
    created(&sim, "a", "agent-a", "agent:1").await;
    assert!(sim.delete_pod(&delete("agent-a", "")).await.succeeded);
    assert!(Arc::strong_count(&mirror) > 1);
    drop(sim);
    // The tasks see the stop on their next poll; then nothing holds the mirror any more.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(Arc::strong_count(&mirror), 1);
}

const STOPPED_MESSAGE: &str = "the simulated cluster is stopped";
