//! Placement end to end: a shim with a mixed 12-node cluster gets exactly upstream's creates, and
//! ExplainPlacement / PlanPlacement say why for every node.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use daemonplane::pb;
use daemonplane::store::SqliteStore;
use tonic::Code;

fn taint(key: &str, value: &str, effect: &str) -> pb::Taint {
    pb::Taint { key: key.into(), value: value.into(), effect: effect.into() }
}

fn tainted(mut n: pb::Node, taints: Vec<pb::Taint>) -> pb::Node {
    n.taints = taints;
    n
}

/// tier=edge nodes only, zone not z9, tolerating dedicated=logging; requests 100m CPU.
fn manifest(extra_tolerations: serde_json::Value) -> String {
    let mut tolerations =
        vec![serde_json::json!({"key": "dedicated", "operator": "Equal", "value": "logging", "effect": "NoSchedule"})];
    if let serde_json::Value::Array(more) = extra_tolerations {
        tolerations.extend(more);
    }
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "edge-agent", "namespace": "ops"},
        "spec": {
            "selector": {"matchLabels": {"app": "edge-agent"}},
            "template": {
                "metadata": {"labels": {"app": "edge-agent"}},
                "spec": {
                    "nodeSelector": {"tier": "edge"},
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z9"]}]}]
                    }}},
                    "tolerations": tolerations,
                    "containers": [{"name": "agent", "image": "agent:1", "resources": {"requests": {"cpu": "100m"}}}]
                }
            }
        }
    })
    .to_string()
}

fn cluster_nodes() -> Vec<pb::Node> {
    let edge = |name: &str| node(name, &[("tier", "edge")]);
    let mut cordoned = tainted(edge("n02"), vec![taint("node.kubernetes.io/unschedulable", "", "NoSchedule")]);
    cordoned.unschedulable = true;
    let mut small = edge("n12");
    small.allocatable = Some(pb::Resources { cpu_millis: 1000, memory_bytes: 1 << 30, pods: 110 });
    small.other_pods = Some(pb::OtherPods {
        requested: Some(pb::Resources { cpu_millis: 950, memory_bytes: 0, pods: 0 }),
        pod_count: 12,
        host_ports: vec![],
    });
    vec![
        edge("n01"),
        cordoned,
        tainted(edge("n03"), vec![taint("dedicated", "logging", "NoSchedule")]),
        tainted(edge("n04"), vec![taint("dedicated", "gpu", "NoSchedule")]),
        tainted(edge("n05"), vec![taint("node.kubernetes.io/not-ready", "", "NoExecute")]),
        node("n06", &[("tier", "core")]),
        node("n07", &[]),
        tainted(edge("n08"), vec![taint("special", "x", "NoExecute")]),
        tainted(edge("n09"), vec![taint("soft", "y", "PreferNoSchedule")]),
        node("n10", &[("tier", "edge"), ("zone", "z2")]),
        node("n11", &[("tier", "edge"), ("zone", "z9")]),
        small,
    ]
}

async fn explain(fleet: &mut daemonplane::client::FleetClient, node: &str) -> pb::NodePlacement {
    fleet
        .explain_placement(pb::ExplainPlacementRequest {
            namespace: "ops".into(),
            name: "edge-agent".into(),
            cluster: "edge".into(),
            node: node.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[sqlx::test(migrations = "./migrations/sqlite")]
async fn mixed_cluster_gets_upstreams_creates_and_explanations(pool: sqlx::SqlitePool) {
    let server = TestServer::start(Arc::new(SqliteStore::from_pool(pool))).await;
    let mut fleet = server.fleet().await;
    let token = register(&mut fleet, "edge").await;
    register(&mut fleet, "offline").await;
    apply(&mut fleet, &manifest(serde_json::json!([])), &["edge"]).await.unwrap();
    let mut shim = FakeShim::connect(&server, &token, "edge", cluster_nodes(), vec![]).await;

    let (creates, deletes) = shim.actions(7).await;
    assert!(deletes.is_empty());
    let nodes: BTreeSet<&str> = creates.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes, BTreeSet::from(["n01", "n02", "n03", "n05", "n09", "n10", "n12"]));
    // The created pods carry the default tolerations that let them onto cordoned and not-ready nodes.
    let tolerations = creates[0].pod.spec.as_ref().unwrap().tolerations.clone().unwrap();
    for key in ["node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready", "dedicated"] {
        assert!(tolerations.iter().any(|t| t.key.as_deref() == Some(key)), "{key}");
    }
    shim.expect_quiet(std::time::Duration::from_millis(500)).await;

    let ds = wait_for_daemonset(&mut fleet, "ops", "edge-agent", |d| {
        d.fleet.as_ref().is_some_and(|s| s.desired_number_scheduled == 7)
    })
    .await;
    let status = ds.fleet.unwrap();
    assert_eq!((status.number_misscheduled, status.predicted_pending), (0, 1), "{status:?}");

    // Every excluded node names its reason.
    let cases: [(&str, &str); 5] = [
        ("n04", "node n04: untolerated taint dedicated=gpu:NoSchedule"),
        ("n06", "node n06: node selector: want tier=edge, node has tier=core"),
        ("n07", "node n07: node selector: want tier=edge, node lacks tier"),
        ("n08", "node n08: untolerated taint special=x:NoExecute"),
        ("n11", "node n11: "),
    ];
    for (node, summary) in cases {
        let e = explain(&mut fleet, node).await;
        assert!(!e.should_run, "{node}");
        assert_eq!(e.fit.as_ref().unwrap().outcome, pb::FitOutcome::Excluded as i32);
        assert!(e.summary.starts_with(summary), "{node}: {}", e.summary);
        assert_eq!(e.reasons.len(), 1, "{node}: {:?}", e.reasons);
    }
    use pb::placement_reason::Kind;
    let n06 = explain(&mut fleet, "n06").await;
    let Some(Kind::NodeSelectorMismatch(m)) = &n06.reasons[0].kind else { panic!("{n06:?}") };
    assert_eq!((m.key.as_str(), m.want.as_str(), m.got.as_str(), m.present), ("tier", "edge", "core", true));
    let n11 = explain(&mut fleet, "n11").await;
    let Some(Kind::NodeAffinityMismatch(m)) = &n11.reasons[0].kind else { panic!("{n11:?}") };
    assert_eq!(m.terms, vec!["zone NotIn [z9]".to_string()]);
    let n08 = explain(&mut fleet, "n08").await;
    let Some(Kind::UntoleratedTaint(t)) = &n08.reasons[0].kind else { panic!("{n08:?}") };
    assert_eq!((t.key.as_str(), t.value.as_str(), t.effect.as_str()), ("special", "x", "NoExecute"));
    assert!(!n08.should_continue_running, "an untolerated NoExecute taint evicts");
    let n04 = explain(&mut fleet, "n04").await;
    assert!(n04.should_continue_running, "NoSchedule only blocks new pods");

    // Qualifying nodes: the cordoned one runs; the small one is predicted to pend.
    let n02 = explain(&mut fleet, "n02").await;
    assert!(n02.should_run && n02.reasons.is_empty());
    let n12 = explain(&mut fleet, "n12").await;
    assert!(n12.should_run);
    let fit = n12.fit.unwrap();
    assert_eq!(fit.outcome, pb::FitOutcome::WillPend as i32);
    let Some(pb::pend_reason::Kind::InsufficientCpu(cpu)) = &fit.reasons[0].kind else { panic!("{fit:?}") };
    assert_eq!((cpu.requested, cpu.available), (100, 50));
    assert!(n12.summary.contains("predicted to stay Pending: insufficient cpu"), "{}", n12.summary);

    // Unknown node or unconnected cluster.
    let err = fleet
        .explain_placement(pb::ExplainPlacementRequest {
            namespace: "ops".into(),
            name: "edge-agent".into(),
            cluster: "edge".into(),
            node: "n99".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = fleet
        .explain_placement(pb::ExplainPlacementRequest {
            namespace: "ops".into(),
            name: "edge-agent".into(),
            cluster: "offline".into(),
            node: "n01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    // Dry run of a change that also tolerates the gpu taint: n04 joins; only it needs a new pod (the others have
    // creates in flight); nothing is sent to the shim.
    let gpu = manifest(
        serde_json::json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]),
    );
    let plan = fleet
        .plan_placement(pb::PlanPlacementRequest {
            source: Some(pb::plan_placement_request::Source::Manifest(gpu)),
            clusters: vec!["edge".into(), "offline".into()],
            include_all_nodes: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.clusters.len(), 2);
    let edge = &plan.clusters[0];
    assert!(edge.connected);
    assert!(edge.run_nodes.contains(&"n04".to_string()));
    assert_eq!(edge.run_nodes.len(), 8);
    assert_eq!(edge.excluded.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["n06", "n07", "n08", "n11"]);
    assert_eq!(edge.will_pend.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["n12"]);
    assert_eq!(edge.actions.len(), 1, "{:?}", edge.actions);
    assert_eq!((edge.actions[0].kind, edge.actions[0].node.as_str()), (pb::PlannedActionKind::Create as i32, "n04"));
    assert!(!plan.clusters[1].connected);
    shim.expect_quiet(std::time::Duration::from_millis(500)).await;
    // The stored DaemonSet is unchanged by the dry run.
    let ds = fleet
        .get_daemon_set(pb::GetDaemonSetRequest { namespace: "ops".into(), name: "edge-agent".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ds.generation, 1);

    // A dry run of the stored DaemonSet lists every node on request.
    let plan = fleet
        .plan_placement(pb::PlanPlacementRequest {
            source: Some(pb::plan_placement_request::Source::Daemonset(pb::DaemonSetRef {
                namespace: "ops".into(),
                name: "edge-agent".into(),
            })),
            clusters: vec![],
            include_all_nodes: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.clusters.len(), 1);
    assert_eq!(plan.clusters[0].nodes.len(), 12);
    assert!(plan.clusters[0].actions.is_empty(), "all creates are in flight: {:?}", plan.clusters[0].actions);
    server.stop().await;
}
