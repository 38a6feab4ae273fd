//! Table-driven ports of the upstream DaemonSet controller unit scenarios (reference
//! `k8s-daemonset-semantics.md`, section 7: 1-4, 11-12 at the whole-plan level, and 32-58) to the pure engine.
//!
//! Mapping to upstream's fake controller:
//! - a plan is the list of actions of one sync, so upstream's "c/d/e" is `plan.creates.len()` /
//!   `plan.deletes.len()`; events are not modelled;
//! - upstream's fake pod control observes its own writes at once; here the test applies a plan to the view
//!   (creates become pods, deletes remove them) before the next sync;
//! - ownership: the `daemonplane.io/daemonset-uid` label stands in for the controllerRef. "Owned by another
//!   DaemonSet" is another uid that is live, "orphan" is no owner label, a Kubernetes `controller` is never
//!   touched;
//! - plan status is the status of the view as it is, before the plan's actions take effect.
//!
//! Where daemonplane deliberately differs from upstream, the test says so.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use daemonplane::apiserver::daemonset::validate_daemon_set;
use daemonplane::apiserver::defaults::set_defaults;
use daemonplane::apiserver::field::FieldErrorType;
use daemonplane::engine::backoff::{FailedPodBackoff, INITIAL_BACKOFF};
use daemonplane::engine::daemonset::CompiledDaemonSet;
use daemonplane::engine::daemonset_util::target_node_name;
use daemonplane::engine::manage::{
    DEFAULT_BURST, DeleteReason, ManageContext, Plan, Planner, all_removed, claimed_pods, manage, remove_all,
};
use daemonplane::engine::model::{
    ControllerRef, Labels, Node, OWNER_UID_LABEL, Pod, PodPhase, REVISION_HASH_LABEL, Resources,
};
use daemonplane::engine::pod::{PodOwner, daemon_pod};
use daemonplane::engine::view::{Applied, ClusterView};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Taint;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------------------
// Fixtures (daemon_controller_test.go)
// ---------------------------------------------------------------------------------------------------------

const NS: &str = "default";
const DS_UID: &str = "uid-foo";
/// A live DaemonSet that is not the one under test ("owned by another DaemonSet").
const OTHER_UID: &str = "uid-other";
/// The current revision hash of the DaemonSet under test.
const HASH: &str = "hash-current";

const SIMPLE_DAEMON_SET_LABEL: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "production")];
const SIMPLE_DAEMON_SET_LABEL2: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "test")];
const SIMPLE_NODE_LABEL: &[(&str, &str)] = &[("color", "blue"), ("speed", "fast")];
const SIMPLE_NODE_LABEL2: &[(&str, &str)] = &[("color", "red"), ("speed", "fast")];

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn label_json(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    OnDelete,
    /// RollingUpdate with maxUnavailable=1 (upstream's default for the unit tests).
    RollingUpdate,
    /// RollingUpdate with maxSurge=1, maxUnavailable=0.
    Surge,
}

/// Unless stated otherwise, upstream runs every scenario under both strategies.
const STRATEGIES: [Strategy; 2] = [Strategy::OnDelete, Strategy::RollingUpdate];

/// upstream newDaemonSet("foo") with `template_spec` merged into `spec.template.spec`.
fn manifest(uid: &str, strategy: Strategy, template_spec: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "foo", "image": "foo/bar"}]});
    if let Value::Object(extra) = template_spec {
        spec.as_object_mut().unwrap().extend(extra);
    }
    let update_strategy = match strategy {
        Strategy::OnDelete => json!({"type": "OnDelete"}),
        Strategy::RollingUpdate => json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
        Strategy::Surge => json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "foo", "namespace": NS, "uid": uid, "generation": 1},
        "spec": {
            "selector": {"matchLabels": label_json(SIMPLE_DAEMON_SET_LABEL)},
            "updateStrategy": update_strategy,
            "template": {"metadata": {"labels": label_json(SIMPLE_DAEMON_SET_LABEL)}, "spec": spec}
        }
    })
}

/// Defaults, validates (it must pass) and compiles a DaemonSet manifest.
fn compile(manifest: Value) -> Arc<CompiledDaemonSet> {
    let mut ds: DaemonSet = serde_json::from_value(manifest).expect("a DaemonSet manifest");
    set_defaults(&mut ds);
    let errors = validate_daemon_set(&ds);
    assert!(errors.is_empty(), "fixture must validate: {errors:?}");
    let meta = &ds.metadata;
    Arc::new(CompiledDaemonSet::new(
        meta.uid.as_deref().unwrap(),
        meta.namespace.as_deref().unwrap(),
        meta.name.as_deref().unwrap(),
        meta.generation.unwrap_or(1),
        &ds.spec,
        HASH,
    ))
}

fn daemon_set(strategy: Strategy, template_spec: Value) -> Arc<CompiledDaemonSet> {
    compile(manifest(DS_UID, strategy, template_spec))
}

fn simple_daemon_set(strategy: Strategy) -> Arc<CompiledDaemonSet> {
    daemon_set(strategy, json!({}))
}

/// upstream newNode: Ready, no taints.
fn node(name: &str, node_labels: &[(&str, &str)]) -> Node {
    Node {
        name: name.into(),
        resource_version: "1".to_string(),
        labels: labels(node_labels).into(),
        conditions: [("Ready".to_string(), "True".to_string())].into(),
        ..Node::default()
    }
}

/// upstream addNodes(start, count, labels): `node-<i>`.
fn add_nodes(nodes: &mut Vec<Node>, start: usize, count: usize, node_labels: &[(&str, &str)]) {
    nodes.extend((start..start + count).map(|i| node(&format!("node-{i}"), node_labels)));
}

fn nodes(count: usize) -> Vec<Node> {
    let mut all = Vec::new();
    add_nodes(&mut all, 0, count, &[]);
    all
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The DaemonSet under test (owner label = its uid, plus the current hash, as upstream's newPod).
    This,
    /// Another live DaemonSet.
    Other,
    /// No owner label.
    Orphan,
    /// A Kubernetes controller (a ReplicaSet) owns it.
    Kube,
}

/// upstream newPod(name, node, labels, ds): a Running, not Ready pod bound to `node`.
fn pod(name: &str, node: &str, pod_labels: &[(&str, &str)], owner: Owner) -> Pod {
    let mut l = labels(pod_labels);
    match owner {
        Owner::This => {
            l.insert(OWNER_UID_LABEL.to_string(), DS_UID.to_string());
            l.insert(REVISION_HASH_LABEL.to_string(), HASH.to_string());
        }
        Owner::Other => {
            l.insert(OWNER_UID_LABEL.to_string(), OTHER_UID.to_string());
        }
        Owner::Orphan | Owner::Kube => {}
    }
    Pod {
        namespace: NS.into(),
        name: name.to_string(),
        uid: format!("uid-{name}"),
        resource_version: "1".to_string(),
        node_name: node.into(),
        labels: l.into(),
        phase: PodPhase::Running,
        created_at: Some(t0()),
        controller: (owner == Owner::Kube).then(|| {
            Box::new(ControllerRef {
                api_version: "apps/v1".to_string(),
                kind: "ReplicaSet".to_string(),
                name: "rs".to_string(),
                uid: "uid-rs".to_string(),
            })
        }),
        ..Pod::default()
    }
}

/// upstream addPods(node, labels, ds, count): `count` pods of this DaemonSet on `node`.
fn add_pods(pods: &mut Vec<Pod>, node: &str, pod_labels: &[(&str, &str)], count: usize) {
    let start = pods.iter().filter(|p| p.node_name == node).count();
    pods.extend((start..start + count).map(|i| pod(&format!("{node}-{i:02}"), node, pod_labels, Owner::This)));
}

/// upstream addFailedPods.
fn add_failed_pods(pods: &mut Vec<Pod>, node: &str, count: usize) {
    let start = pods.iter().filter(|p| p.node_name == node).count();
    pods.extend((start..start + count).map(|i| Pod {
        phase: PodPhase::Failed,
        ..pod(&format!("{node}-failed-{i:02}"), node, SIMPLE_DAEMON_SET_LABEL, Owner::This)
    }));
}

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint { key: key.to_string(), value: Some(value.to_string()), effect: effect.to_string(), time_added: None }
}

/// The live DaemonSet uids of every scenario.
fn live() -> HashSet<String> {
    [DS_UID.to_string(), OTHER_UID.to_string()].into()
}

/// The clock, in-flight sets and backoff of one controller.
struct Env {
    live: HashSet<String>,
    creating: HashSet<String>,
    deleting: HashSet<String>,
    now: DateTime<Utc>,
    observed_generation: i64,
    burst: usize,
    backoff: FailedPodBackoff,
}

impl Env {
    fn new() -> Env {
        Env {
            live: live(),
            creating: HashSet::new(),
            deleting: HashSet::new(),
            now: t0(),
            observed_generation: 1,
            burst: DEFAULT_BURST,
            backoff: FailedPodBackoff::default(),
        }
    }

    fn ctx(&self) -> ManageContext<'_> {
        ManageContext {
            now: self.now,
            live_owner_uids: &self.live,
            creating_nodes: &self.creating,
            deleting_pods: &self.deleting,
            observed_generation: self.observed_generation,
            burst: self.burst,
        }
    }

    /// One sync: a fresh `manage` with this controller's backoff.
    fn sync(&mut self, ds: &Arc<CompiledDaemonSet>, view: &ClusterView) -> Plan {
        // The backoff is taken out for the call, so the context can borrow the rest of self.
        let mut backoff = std::mem::take(&mut self.backoff);
        let plan = manage(ds, view, &self.ctx(), &mut backoff);
        self.backoff = backoff;
        plan
    }
}

/// A cluster whose pods follow the plans applied to it.
struct Cluster {
    view: ClusterView,
    rv: u64,
}

impl Cluster {
    fn new(nodes: Vec<Node>, pods: Vec<Pod>) -> Cluster {
        Cluster { view: ClusterView::from_snapshot(nodes, pods), rv: 100 }
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Creates become Running pods bound to their node (Ready when `ready`), deletes remove the pod.
    fn apply(&mut self, plan: &Plan, ready: bool, now: DateTime<Utc>) {
        for node in &plan.creates {
            let rv = self.next_rv();
            let mut p = pod(&format!("{node}-new-{rv}"), node, SIMPLE_DAEMON_SET_LABEL, Owner::This);
            p.resource_version = rv;
            p.created_at = Some(now);
            p.ready = ready;
            p.ready_since = ready.then_some(now - Duration::hours(1));
            assert!(matches!(self.view.upsert_pod(p), Applied::Changed(_)));
        }
        for d in &plan.deletes {
            let rv = self.next_rv();
            assert!(matches!(self.view.delete_pod(&d.uid, &rv), Applied::Changed(_)), "delete of {}", d.name);
        }
    }

    fn upsert_pod(&mut self, mut p: Pod) -> Applied {
        p.resource_version = self.next_rv();
        self.view.upsert_pod(p)
    }
}

fn counts(plan: &Plan) -> (usize, usize) {
    (plan.creates.len(), plan.deletes.len())
}

/// Deletes per node.
fn deletes_by_node(plan: &Plan) -> BTreeMap<String, usize> {
    let mut by_node = BTreeMap::new();
    for d in &plan.deletes {
        *by_node.entry(d.node.clone()).or_insert(0) += 1;
    }
    by_node
}

fn names(prefix_indices: impl IntoIterator<Item = usize>) -> Vec<String> {
    prefix_indices.into_iter().map(|i| format!("node-{i}")).collect()
}

fn node_counts(pairs: &[(usize, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(i, n)| (format!("node-{i}"), *n)).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Placement at the whole-plan level: scenarios 1-4, 11, 12
// ---------------------------------------------------------------------------------------------------------

struct LaunchCase {
    scenario: u32,
    upstream: &'static str,
    unlabeled: usize,
    labeled: usize,
    node_selector: Option<&'static [(&'static str, &'static str)]>,
    /// Nodes (by index) that get a pod.
    want_creates: Vec<usize>,
}

/// upstream: TestSimpleDaemonSetLaunchesPods (1), TestNoNodesDoesNothing (3), TestOneNodeDaemonLaunchesPod (4),
/// TestSelectorDaemonLaunchesPods (11), TestBadSelectorDaemonDoesNothing (12).
#[test]
fn s01_s03_s04_s11_s12_launches_pods() {
    let cases = [
        LaunchCase {
            scenario: 1,
            upstream: "TestSimpleDaemonSetLaunchesPods",
            unlabeled: 5,
            labeled: 0,
            node_selector: None,
            want_creates: (0..5).collect(),
        },
        LaunchCase {
            scenario: 3,
            upstream: "TestNoNodesDoesNothing",
            unlabeled: 0,
            labeled: 0,
            node_selector: None,
            want_creates: vec![],
        },
        LaunchCase {
            scenario: 4,
            upstream: "TestOneNodeDaemonLaunchesPod",
            unlabeled: 1,
            labeled: 0,
            node_selector: None,
            want_creates: vec![0],
        },
        LaunchCase {
            scenario: 11,
            upstream: "TestSelectorDaemonLaunchesPods",
            unlabeled: 4,
            labeled: 3,
            node_selector: Some(SIMPLE_NODE_LABEL),
            want_creates: vec![4, 5, 6],
        },
        LaunchCase {
            scenario: 12,
            upstream: "TestBadSelectorDaemonDoesNothing",
            unlabeled: 4,
            labeled: 3,
            node_selector: Some(SIMPLE_NODE_LABEL2),
            want_creates: vec![],
        },
    ];
    for case in cases {
        for strategy in STRATEGIES {
            let what = format!("scenario {} {} {strategy:?}", case.scenario, case.upstream);
            let spec = match case.node_selector {
                Some(sel) => json!({"nodeSelector": label_json(sel)}),
                None => json!({}),
            };
            let ds = daemon_set(strategy, spec);
            let mut all = Vec::new();
            add_nodes(&mut all, 0, case.unlabeled, &[]);
            add_nodes(&mut all, case.unlabeled, case.labeled, SIMPLE_NODE_LABEL);
            let view = ClusterView::from_snapshot(all, vec![]);
            let plan = Env::new().sync(&ds, &view);
            assert_eq!(plan.creates, names(case.want_creates.iter().copied()), "{what}");
            assert!(plan.deletes.is_empty(), "{what}");
            assert_eq!(plan.status.desired_number_scheduled as usize, case.want_creates.len(), "{what}");
            assert_eq!(plan.status.current_number_scheduled, 0, "{what}");
        }
    }
}

/// upstream: TestSimpleDaemonSetScheduleDaemonSetPodsLaunchesPods (2): every node is covered once, and each
/// created pod has an empty nodeName and exactly one required term with one matchFields `metadata.name In
/// [node]`.
#[test]
fn s02_schedule_daemon_set_pods_launches_pods() {
    for strategy in STRATEGIES {
        let ds = simple_daemon_set(strategy);
        let view = ClusterView::from_snapshot(nodes(5), vec![]);
        let plan = Env::new().sync(&ds, &view);
        assert_eq!(plan.creates.len(), 5);
        let covered: BTreeSet<&String> = plan.creates.iter().collect();
        assert_eq!(covered.len(), 5, "each node once");
        for (i, node) in plan.creates.iter().enumerate() {
            let owner = PodOwner { namespace: NS, name: "foo", uid: DS_UID, revision_hash: HASH };
            let created = daemon_pod(&ds.template, owner, node, &format!("foo-{i}"), &format!("act-{i}"));
            let spec = created.spec.as_ref().unwrap();
            assert_eq!(spec.node_name.as_deref().unwrap_or(""), "");
            let terms = &spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
                .expect("required node affinity")
                .node_selector_terms;
            assert_eq!(terms.len(), 1);
            assert!(terms[0].match_expressions.as_deref().unwrap_or_default().is_empty());
            let fields = terms[0].match_fields.as_deref().unwrap_or_default();
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].key, "metadata.name");
            assert_eq!(fields[0].operator, "In");
            assert_eq!(fields[0].values.as_deref(), Some(&[node.clone()][..]));
            assert_eq!(target_node_name(spec).as_deref(), Some(node.as_str()));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Existing pods, duplicates, failures, ownership: scenarios 32-49
// ---------------------------------------------------------------------------------------------------------

/// A fixture label set.
type PodLabels = &'static [(&'static str, &'static str)];

struct ExistingPodsCase {
    scenario: u32,
    upstream: &'static str,
    strategies: &'static [Strategy],
    unlabeled: usize,
    labeled: usize,
    node_selector: bool,
    /// (node index, count, labels) of pods owned by the DaemonSet.
    pods: Vec<(usize, usize, PodLabels)>,
    want_creates: Vec<usize>,
    want_deletes: Vec<(usize, usize)>,
}

/// upstream: TestDealsWithExistingPods (32), TestSelectorDaemonDeletesUnselectedPods (33),
/// TestSelectorDaemonDealsWithExistingPods (34), TestSurgeDealsWithExistingPods (35).
#[test]
fn s32_to_s35_deals_with_existing_pods() {
    const L1: &[(&str, &str)] = SIMPLE_DAEMON_SET_LABEL;
    const L2: &[(&str, &str)] = SIMPLE_DAEMON_SET_LABEL2;
    let cases = [
        ExistingPodsCase {
            scenario: 32,
            upstream: "TestDealsWithExistingPods",
            strategies: &STRATEGIES,
            unlabeled: 5,
            labeled: 0,
            node_selector: false,
            pods: vec![(1, 1, L1), (2, 2, L1), (3, 5, L1), (4, 2, L2)],
            want_creates: vec![0, 4],
            want_deletes: vec![(2, 1), (3, 4)],
        },
        ExistingPodsCase {
            scenario: 33,
            upstream: "TestSelectorDaemonDeletesUnselectedPods",
            strategies: &STRATEGIES,
            unlabeled: 5,
            labeled: 5,
            node_selector: true,
            pods: vec![(0, 2, L2), (1, 3, L1), (1, 1, L2), (4, 1, L1)],
            want_creates: vec![5, 6, 7, 8, 9],
            want_deletes: vec![(1, 3), (4, 1)],
        },
        ExistingPodsCase {
            scenario: 34,
            upstream: "TestSelectorDaemonDealsWithExistingPods",
            strategies: &STRATEGIES,
            unlabeled: 5,
            labeled: 5,
            node_selector: true,
            pods: vec![(0, 1, L1), (1, 3, L1), (1, 2, L2), (2, 4, L1), (6, 13, L1), (7, 4, L2), (9, 1, L1), (9, 1, L2)],
            want_creates: vec![5, 7, 8],
            want_deletes: vec![(0, 1), (1, 3), (2, 4), (6, 12)],
        },
        ExistingPodsCase {
            scenario: 35,
            upstream: "TestSurgeDealsWithExistingPods",
            strategies: &[Strategy::Surge],
            unlabeled: 5,
            labeled: 0,
            node_selector: false,
            pods: vec![(1, 1, L1), (2, 2, L1), (3, 5, L1), (4, 2, L2)],
            want_creates: vec![0, 4],
            want_deletes: vec![(2, 1), (3, 4)],
        },
    ];
    for case in cases {
        for &strategy in case.strategies {
            let what = format!("scenario {} {} {strategy:?}", case.scenario, case.upstream);
            let spec =
                if case.node_selector { json!({"nodeSelector": label_json(SIMPLE_NODE_LABEL)}) } else { json!({}) };
            let ds = daemon_set(strategy, spec);
            let mut all = Vec::new();
            add_nodes(&mut all, 0, case.unlabeled, &[]);
            add_nodes(&mut all, case.unlabeled, case.labeled, SIMPLE_NODE_LABEL);
            let mut pods = Vec::new();
            for &(node_index, count, pod_labels) in &case.pods {
                add_pods(&mut pods, &format!("node-{node_index}"), pod_labels, count);
            }
            let released: HashSet<String> =
                pods.iter().filter(|p| !ds.selects(&p.labels)).map(|p| p.uid.clone()).collect();
            let view = ClusterView::from_snapshot(all, pods);
            let plan = Env::new().sync(&ds, &view);
            assert_eq!(plan.creates, names(case.want_creates.iter().copied()), "{what}: creates");
            assert_eq!(deletes_by_node(&plan), node_counts(&case.want_deletes), "{what}: deletes");
            for d in &plan.deletes {
                assert!(!released.contains(&d.uid), "{what}: released pod {} deleted", d.name);
                let on_labeled = view.node(&d.node).is_some_and(|n| !n.labels.is_empty());
                let want = if case.node_selector && !on_labeled {
                    DeleteReason::NodeNoLongerQualifies
                } else {
                    DeleteReason::Duplicate
                };
                assert_eq!(d.reason, want, "{what}: {}", d.name);
            }
            // The pod that stays on a node with duplicates is upstream's first (all pods are equally old and
            // bound, so the lowest name).
            for (node, _) in deletes_by_node(&plan).iter().filter(|_| !case.node_selector) {
                let kept = view
                    .pods()
                    .filter(|p| &p.node_name == node && ds.selects(&p.labels))
                    .map(|p| p.name.clone())
                    .min()
                    .unwrap();
                assert!(plan.deletes.iter().all(|d| d.name != kept), "{what}: the first pod on {node} is kept");
            }
        }
    }
}

/// upstream: TestDaemonKillFailedPods (36), table (failed, normal) → (creates, deletes) on 1 node.
#[test]
fn s36_daemon_kill_failed_pods() {
    let cases = [
        ("0 failed, 1 normal", 0, 1, (0, 0)),
        ("0 failed, 0 normal", 0, 0, (1, 0)),
        ("1 failed, 0 normal", 1, 0, (0, 1)),
        ("1 failed, 3 normal", 1, 3, (0, 3)),
    ];
    for strategy in STRATEGIES {
        for (what, failed, normal, want) in cases {
            let ds = simple_daemon_set(strategy);
            let mut pods = Vec::new();
            add_failed_pods(&mut pods, "node-0", failed);
            add_pods(&mut pods, "node-0", SIMPLE_DAEMON_SET_LABEL, normal);
            let mut cluster = Cluster::new(nodes(1), pods);
            let mut env = Env::new();
            let plan = env.sync(&ds, &cluster.view);
            assert_eq!(counts(&plan), want, "{what} {strategy:?}");
            let failed_deletes = plan.deletes.iter().filter(|d| d.reason == DeleteReason::Failed).count();
            assert_eq!(failed_deletes, failed, "{what}: the failed pod is deleted");
            if failed > 0 && normal == 0 {
                // No create in the same sync; the replacement comes once the failed pod is gone.
                cluster.apply(&plan, false, env.now);
                let next = env.sync(&ds, &cluster.view);
                assert_eq!(counts(&next), (1, 0), "{what}: replaced in the next sync");
            }
        }
    }
}

/// upstream: TestDaemonKillFailedPodsBackoff (37): 1 node, 1 Failed pod that the fake never removes.
#[test]
fn s37_daemon_kill_failed_pods_backoff() {
    for strategy in STRATEGIES {
        let ds = simple_daemon_set(strategy);
        let mut pods = Vec::new();
        add_failed_pods(&mut pods, "node-0", 1);
        let view = ClusterView::from_snapshot(nodes(1), pods);
        let mut env = Env::new();
        let key = FailedPodBackoff::key(DS_UID, env.observed_generation, "node-0");

        let plan = env.sync(&ds, &view);
        assert_eq!(counts(&plan), (0, 1), "sync 1 deletes the failed pod");
        let delay = env.backoff.delay(&key).expect("backoff is set");
        assert_eq!(delay, INITIAL_BACKOFF);

        let plan = env.sync(&ds, &view);
        assert_eq!(counts(&plan), (0, 0), "sync 2 at the same instant is in backoff");
        assert_eq!(env.backoff.delay(&key), Some(delay), "delay unchanged");
        assert_eq!(plan.wake_at, Some(t0() + delay), "plan asks to be woken when the backoff ends");

        assert!(env.backoff.is_in_backoff(&key, t0() + delay - Duration::nanoseconds(1)));
        assert!(!env.backoff.is_in_backoff(&key, t0() + delay));

        env.now = t0() + delay - Duration::nanoseconds(1);
        assert_eq!(counts(&env.sync(&ds, &view)), (0, 0), "still in backoff at delay - 1ns");

        env.now = t0() + delay;
        let plan = env.sync(&ds, &view);
        assert_eq!(counts(&plan), (0, 1), "sync 3 deletes again");
        assert_eq!(env.backoff.delay(&key), Some(delay * 2), "and the delay doubles");
    }
}

/// upstream: TestSimpleDaemonSetRestartsPodsOnTerminalPhase (38, integration): one of 3 running pods turns
/// Succeeded, Failed, or Succeeded with a finalizer (its delete only sets the deletionTimestamp); the
/// controller replaces it and status settles at 3.
#[test]
fn s38_simple_daemon_set_restarts_pods_on_terminal_phase() {
    for (what, phase, finalizer) in [
        ("Succeeded", PodPhase::Succeeded, false),
        ("Failed", PodPhase::Failed, false),
        ("finalizer", PodPhase::Succeeded, true),
    ] {
        let ds = simple_daemon_set(Strategy::RollingUpdate);
        let mut env = Env::new();
        let mut cluster = Cluster::new(nodes(3), vec![]);
        let plan = env.sync(&ds, &cluster.view);
        cluster.apply(&plan, true, env.now);
        let victim = cluster.view.pods().find(|p| p.node_name == "node-1").unwrap().clone();
        cluster.upsert_pod(Pod { phase, ready: false, ..victim.clone() });

        let mut rounds = 0;
        loop {
            env.now += Duration::minutes(20);
            let plan = env.sync(&ds, &cluster.view);
            if plan.creates.is_empty() && plan.deletes.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds < 10, "{what}: no convergence");
            for d in &plan.deletes {
                assert_eq!(d.uid, victim.uid, "{what}: only the terminal pod is deleted");
            }
            if finalizer {
                // The delete only marks the pod; the finalizer keeps it.
                for d in &plan.deletes {
                    let held = cluster.view.pod(&d.uid).unwrap().clone();
                    cluster.upsert_pod(Pod { deletion_timestamp: Some(env.now), ..held });
                }
                cluster.apply(&Plan { creates: plan.creates.clone(), ..Plan::default() }, true, env.now);
            } else {
                cluster.apply(&plan, true, env.now);
            }
        }
        let active = cluster
            .view
            .pods()
            .filter(|p| !p.phase.is_terminal() && !p.is_terminating() && ds.selects(&p.labels))
            .count();
        assert_eq!(active, 3, "{what}");
        let status = env.sync(&ds, &cluster.view).status;
        assert_eq!(
            (status.desired_number_scheduled, status.current_number_scheduled, status.number_ready),
            (3, 3, 3),
            "{what}"
        );
    }
}

/// upstream: TestDaemonSetRespectsTermination (39): the only pod is terminating (not terminal) → 0/0, and no
/// replacement until it is gone.
#[test]
fn s39_daemon_set_respects_termination() {
    for strategy in STRATEGIES {
        let ds = simple_daemon_set(strategy);
        let terminating =
            Pod { deletion_timestamp: Some(t0()), ..pod("node-0-00", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::This) };
        let uid = terminating.uid.clone();
        let mut cluster = Cluster::new(nodes(1), vec![terminating]);
        let mut env = Env::new();
        let plan = env.sync(&ds, &cluster.view);
        assert_eq!(counts(&plan), (0, 0));
        assert_eq!(plan.status.current_number_scheduled, 1, "a terminating pod still counts as scheduled");
        let rv = cluster.next_rv();
        cluster.view.delete_pod(&uid, &rv);
        assert_eq!(counts(&env.sync(&ds, &cluster.view)), (1, 0), "replaced once gone");
    }
}

/// upstream: TestSurgeCreatesNewPodWhenAtMaxSurgeAndOldPodDeleted (40): maxSurge=1, 5 nodes; node-0 has a new
/// unready pod (t=100) and an old ready pod (t=50); nodes 1-4 old ready pods, node-4's terminating → 1/0 with
/// the create on node-4.
#[test]
fn s40_surge_creates_new_pod_when_at_max_surge_and_old_pod_deleted() {
    let ds = simple_daemon_set(Strategy::Surge);
    let at = |s: i64| Some(Utc.timestamp_opt(s, 0).unwrap());
    let old = |p: Pod| {
        let mut p = Pod { ready: true, ready_since: at(1), ..p };
        p.labels.insert(REVISION_HASH_LABEL.to_string(), "old".to_string());
        p
    };
    let mut pods = vec![
        Pod { created_at: at(100), ..pod("node-0-new", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::This) },
        old(Pod { created_at: at(50), ..pod("node-0-old", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::This) }),
    ];
    for i in 1..5 {
        let mut p = old(pod(&format!("node-{i}-old"), &format!("node-{i}"), SIMPLE_DAEMON_SET_LABEL, Owner::This));
        p.created_at = at(1);
        if i == 4 {
            p.deletion_timestamp = at(31);
        }
        pods.push(p);
    }
    let view = ClusterView::from_snapshot(nodes(5), pods);
    let plan = Env::new().sync(&ds, &view);
    assert_eq!(counts(&plan), (1, 0));
    assert_eq!(plan.creates, ["node-4"]);
}

/// upstream: TestDeleteUnscheduledPodForNotExistingNode (41): only node-0 exists; a pod bound to the missing
/// node-1 is left to pod GC, the unscheduled pod pinned to the missing node-2 is deleted → 0/1.
#[test]
fn s41_delete_unscheduled_pod_for_not_existing_node() {
    for strategy in STRATEGIES {
        let ds = simple_daemon_set(strategy);
        let unscheduled = Pod {
            target_node: "node-2".into(),
            phase: PodPhase::Pending,
            ..pod("pod1-node-2", "", SIMPLE_DAEMON_SET_LABEL, Owner::This)
        };
        let pods = vec![
            pod("pod1-node-0", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::This),
            pod("pod1-node-1", "node-1", SIMPLE_DAEMON_SET_LABEL, Owner::This),
            unscheduled.clone(),
        ];
        let view = ClusterView::from_snapshot(nodes(1), pods);
        let plan = Env::new().sync(&ds, &view);
        assert_eq!(counts(&plan), (0, 1));
        assert_eq!(plan.deletes[0].uid, unscheduled.uid);
        assert_eq!(plan.deletes[0].node, "node-2");
        assert_eq!(plan.deletes[0].reason, DeleteReason::NodeGone);
        assert_eq!(plan.status.desired_number_scheduled, 1, "pods on missing nodes are in no count");
        assert_eq!(plan.status.current_number_scheduled, 1);
    }
}

/// upstream: TestGetNodesToDaemonPods (42). The `includeDeletedTerminal=true` variant is history cleanup's,
/// which does not group pods by node here; it has no engine counterpart.
#[test]
fn s42_get_nodes_to_daemon_pods() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let l1 = SIMPLE_DAEMON_SET_LABEL;
    let named = |name: &str, p: Pod| Pod { name: name.to_string(), uid: format!("uid-{name}"), ..p };
    let dead_owner = {
        let mut p = pod("x", "node-0", l1, Owner::Orphan);
        p.labels.insert(OWNER_UID_LABEL.to_string(), "uid-deleted-ds".to_string());
        p
    };
    let included = [
        pod("owned-matching", "node-0", l1, Owner::This),
        pod("orphan-matching", "node-0", l1, Owner::Orphan),
        named("orphan-of-deleted-ds", dead_owner),
        Pod { phase: PodPhase::Succeeded, ..pod("owned-succeeded", "node-0", l1, Owner::This) },
        Pod { phase: PodPhase::Failed, ..pod("owned-failed", "node-0", l1, Owner::This) },
        Pod { deletion_timestamp: Some(t0()), ..pod("owned-terminating", "node-0", l1, Owner::This) },
    ];
    let excluded = [
        pod("owned-label-mismatch", "node-0", SIMPLE_DAEMON_SET_LABEL2, Owner::This),
        pod("orphan-not-matching", "node-0", SIMPLE_DAEMON_SET_LABEL2, Owner::Orphan),
        pod("owned-by-other-ds", "node-0", l1, Owner::Other),
        pod("owned-by-kubernetes", "node-0", l1, Owner::Kube),
        Pod { namespace: "other-ns".into(), ..pod("other-namespace", "node-0", l1, Owner::This) },
        Pod {
            phase: PodPhase::Succeeded,
            deletion_timestamp: Some(t0()),
            ..pod("succeeded-deleting", "node-0", l1, Owner::This)
        },
        Pod {
            phase: PodPhase::Failed,
            deletion_timestamp: Some(t0()),
            ..pod("failed-deleting", "node-0", l1, Owner::This)
        },
    ];
    let all: Vec<Pod> = included.iter().chain(&excluded).cloned().collect();
    let view = ClusterView::from_snapshot(nodes(1), all);
    let env = Env::new();
    let slot = view.slot(view.slot_of("node-0").unwrap());
    let got: BTreeSet<&str> = claimed_pods(&ds, slot, &env.live).iter().map(|p| p.name.as_str()).collect();
    let want: BTreeSet<&str> = included.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(got, want);
}

/// upstream: TestDontDoAnythingIfBeingDeleted (43), daemonplane analogue. Upstream does nothing and leaves the
/// pods to the garbage collector; in the fleet a deleting DaemonSet is not managed but `remove_all` deletes
/// its pods (no Kubernetes GC follows the owner label): never a Kubernetes-owned or terminating pod, never one
/// in flight, at most `burst`, until `all_removed`.
#[test]
fn s43_dont_do_anything_if_being_deleted_fleet_analogue() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let l1 = SIMPLE_DAEMON_SET_LABEL;
    let mut pods = Vec::new();
    for i in 0..4 {
        add_pods(&mut pods, &format!("node-{i}"), l1, 1);
    }
    let kube = {
        let mut p = pod("kube-owned", "node-0", l1, Owner::Kube);
        p.labels.insert(OWNER_UID_LABEL.to_string(), DS_UID.to_string());
        p
    };
    pods.push(kube);
    pods.push(Pod { deletion_timestamp: Some(t0()), ..pod("terminating", "node-1", l1, Owner::This) });
    pods.push(pod("other", "node-2", l1, Owner::Other));
    let mut cluster = Cluster::new(nodes(4), pods);
    let in_flight: HashSet<String> = ["uid-node-0-00".to_string()].into();

    let first = remove_all(&ds, &cluster.view, &live(), &in_flight, 2);
    assert_eq!(first.len(), 2, "capped by the burst");
    let all = remove_all(&ds, &cluster.view, &live(), &in_flight, DEFAULT_BURST);
    let got: BTreeSet<&str> = all.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(got, BTreeSet::from(["node-1-00", "node-2-00", "node-3-00"]));
    assert!(all.iter().all(|d| d.reason == DeleteReason::Removed));
    assert!(!all_removed(&ds, &cluster.view, &live()));
    let everything = remove_all(&ds, &cluster.view, &live(), &HashSet::new(), DEFAULT_BURST);
    cluster.apply(&Plan { deletes: everything, ..Plan::default() }, false, t0());
    assert!(!all_removed(&ds, &cluster.view, &live()), "the terminating pod is still there");
    let rv = cluster.next_rv();
    cluster.view.delete_pod("uid-terminating", &rv);
    assert!(all_removed(&ds, &cluster.view, &live()), "Kubernetes-owned pods do not count");
    assert!(cluster.view.pod("uid-other").is_some(), "another DaemonSet's pod is untouched");
}

/// upstream: TestDontDoAnythingIfBeingDeleted (43) with an adopted orphan. Upstream's adoption writes the
/// controllerRef, so the garbage collector deletes the pod with its DaemonSet. Here adoption writes nothing:
/// `manage` counts the orphan as the DaemonSet's pod (and creates no other pod on that node), but
/// `remove_all` deletes only pods labelled with the uid, so the adopted pod outlives its DaemonSet.
#[test]
fn s43_adopted_orphan_goes_with_its_daemon_set() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let orphan = pod("orphan", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::Orphan);
    let view = ClusterView::from_snapshot(nodes(1), vec![orphan]);
    let plan = Env::new().sync(&ds, &view);
    assert!(plan.creates.is_empty(), "the orphan is adopted: no second pod");
    assert_eq!(plan.status.current_number_scheduled, 1);
    let removed = remove_all(&ds, &view, &live(), &HashSet::new(), DEFAULT_BURST);
    assert_eq!(removed.len(), 1, "the adopted pod is deleted with its DaemonSet");
}

// 44 (TestDontDoAnythingIfBeingDeletedRace: a live GET during adoption) belongs to the fleet layer's catalog:
// the engine adopts without a write, so there is no adoption to abort.

/// upstream: TestPodIsNotDeletedByDaemonsetWithEmptyLabelSelector (45). Upstream returns early for a `{}`
/// selector; daemonplane never compiles one: validation rejects it at `spec.selector`.
#[test]
fn s45_pod_is_not_deleted_by_daemonset_with_empty_label_selector() {
    let mut m = manifest(DS_UID, Strategy::RollingUpdate, json!({"nodeSelector": {"foo": "bar"}}));
    m["spec"]["selector"] = json!({});
    let mut ds: DaemonSet = serde_json::from_value(m).unwrap();
    set_defaults(&mut ds);
    let errors = validate_daemon_set(&ds);
    assert!(
        errors.iter().any(|e| e.field() == "spec.selector"
            && e.error_type() == FieldErrorType::Invalid
            && e.detail().contains("empty selector is invalid for daemonset")),
        "{errors:?}"
    );
}

/// Three DaemonSets (ds1 and ds2 select `simple-daemon` production, ds3 test), each with an incremental
/// planner; returns, per event, which DaemonSets' plans changed, checking on the way that refreshing only the
/// touched slots gives the same plan as a fresh `manage`.
struct Fleet {
    cluster: Cluster,
    dss: Vec<Arc<CompiledDaemonSet>>,
    planners: Vec<Planner>,
    env: Env,
}

impl Fleet {
    fn new(nodes: Vec<Node>, pods: Vec<Pod>, dss: Vec<Arc<CompiledDaemonSet>>) -> Fleet {
        let cluster = Cluster::new(nodes, pods);
        let mut env = Env::new();
        env.live.extend(dss.iter().map(|d| d.uid.to_string()));
        let planners = dss.iter().map(|d| Planner::new(Arc::clone(d), &cluster.view, &env.ctx())).collect();
        Fleet { cluster, dss, planners, env }
    }

    fn plans(&mut self) -> Vec<Plan> {
        let ctx = self.env.ctx();
        let view = &self.cluster.view;
        self.planners
            .iter()
            .zip(&self.dss)
            .map(|(planner, ds)| {
                let incremental = planner.plan(view, &ctx, &mut FailedPodBackoff::default());
                let fresh = manage(ds, view, &ctx, &mut FailedPodBackoff::default());
                assert_eq!(incremental, fresh, "incremental plan of {} differs from a fresh manage", ds.name);
                fresh
            })
            .collect()
    }

    /// Applies an event; returns the names of the DaemonSets whose plan changed.
    fn event(&mut self, apply: impl FnOnce(&mut Cluster) -> Applied) -> (Applied, Vec<String>) {
        let before = self.plans();
        let applied = apply(&mut self.cluster);
        if let Applied::Changed(slots) = &applied {
            let ctx = self.env.ctx();
            for planner in &mut self.planners {
                planner.refresh(&self.cluster.view, slots, &ctx);
            }
        }
        let after = self.plans();
        let changed =
            self.dss.iter().zip(before.iter().zip(&after)).filter(|(_, (b, a))| b != a).map(|(d, _)| d.name.clone());
        (applied, changed.collect())
    }
}

fn three_daemon_sets() -> Vec<Arc<CompiledDaemonSet>> {
    let mut dss = Vec::new();
    for (i, sel) in [(1, SIMPLE_DAEMON_SET_LABEL), (2, SIMPLE_DAEMON_SET_LABEL), (3, SIMPLE_DAEMON_SET_LABEL2)] {
        let mut m = manifest(&format!("uid-ds{i}"), Strategy::RollingUpdate, json!({}));
        m["metadata"]["name"] = json!(format!("ds{i}"));
        m["spec"]["selector"]["matchLabels"] = label_json(sel);
        m["spec"]["template"]["metadata"]["labels"] = label_json(sel);
        dss.push(compile(m));
    }
    dss
}

fn owned_by(mut p: Pod, uid: Option<&str>) -> Pod {
    match uid {
        Some(uid) => p.labels.insert(OWNER_UID_LABEL, uid),
        None => p.labels.remove(OWNER_UID_LABEL),
    };
    p
}

/// upstream: TestAddPodOrphan, TestUpdatePodOrphanWithNewLabels, TestUpdatePodOrphanSameLabels,
/// TestUpdatePodChangeControllerRef, TestUpdatePodControllerRefRemoved, TestDeletePodOrphan (46).
///
/// Upstream counts enqueued DaemonSets; the engine has no queue, so this counts DaemonSets whose plan changed
/// (and checks that the touched slots were enough to see it). daemonplane adopts without writing the owner
/// label, so every matching live DaemonSet keeps counting an orphan as its own: removing a controllerRef
/// changes only the DaemonSet that did not own it yet (upstream enqueues both), and deleting an orphan changes
/// both matching plans (upstream enqueues none).
#[test]
fn s46_orphan_pod_events() {
    struct OrphanCase {
        upstream: &'static str,
        upstream_enqueued: usize,
        before: Option<Pod>,
        after: Pod,
        want_changed: Vec<&'static str>,
    }
    let orphan = pod("pod1", "node-0", SIMPLE_DAEMON_SET_LABEL, Owner::Orphan);
    let cases = [
        OrphanCase {
            upstream: "TestAddPodOrphan",
            upstream_enqueued: 2,
            before: None,
            after: orphan.clone(),
            want_changed: vec!["ds1", "ds2"],
        },
        OrphanCase {
            upstream: "TestUpdatePodOrphanWithNewLabels",
            upstream_enqueued: 2,
            before: Some(Pod { labels: labels(&[("foo2", "bar2")]).into(), ..orphan.clone() }),
            after: orphan.clone(),
            want_changed: vec!["ds1", "ds2"],
        },
        OrphanCase {
            upstream: "TestUpdatePodOrphanSameLabels",
            upstream_enqueued: 0,
            before: Some(orphan.clone()),
            after: orphan.clone(),
            want_changed: vec![],
        },
        OrphanCase {
            upstream: "TestUpdatePodChangeControllerRef",
            upstream_enqueued: 2,
            before: Some(owned_by(orphan.clone(), Some("uid-ds2"))),
            after: owned_by(orphan.clone(), Some("uid-ds1")),
            want_changed: vec!["ds1", "ds2"],
        },
        OrphanCase {
            upstream: "TestUpdatePodControllerRefRemoved",
            upstream_enqueued: 2,
            before: Some(owned_by(orphan.clone(), Some("uid-ds2"))),
            after: orphan.clone(),
            want_changed: vec!["ds1"],
        },
    ];
    for case in cases {
        let mut fleet = Fleet::new(nodes(2), case.before.into_iter().collect(), three_daemon_sets());
        // Cluster::upsert_pod bumps the resourceVersion, as an update does.
        let (applied, changed) = fleet.event(|c| c.upsert_pod(case.after));
        assert!(matches!(applied, Applied::Changed(_)), "{}", case.upstream);
        assert_eq!(changed, case.want_changed, "{} (upstream enqueues {})", case.upstream, case.upstream_enqueued);
    }

    // TestDeletePodOrphan: upstream enqueues none.
    let mut fleet = Fleet::new(nodes(2), vec![orphan.clone()], three_daemon_sets());
    let (_, changed) = fleet.event(|c| {
        let rv = c.next_rv();
        c.view.delete_pod(&orphan.uid, &rv)
    });
    assert_eq!(changed, ["ds1", "ds2"], "TestDeletePodOrphan: both DaemonSets counted the orphan as theirs");

    // The same orphan event applied twice changes nothing the second time.
    let mut fleet = Fleet::new(nodes(2), vec![], three_daemon_sets());
    fleet.event(|c| c.view.upsert_pod(orphan.clone()));
    let (applied, changed) = fleet.event(|c| c.view.upsert_pod(orphan.clone()));
    assert_eq!(applied, Applied::Stale);
    assert!(changed.is_empty());
}

/// upstream: TestUpdateNode (47): a node update matters only when labels or taints change.
#[test]
fn s47_update_node() {
    let ds = daemon_set(Strategy::RollingUpdate, json!({"nodeSelector": label_json(SIMPLE_NODE_LABEL)}));
    let bumped = |n: &Node, rv: &str| Node { resource_version: rv.to_string(), ..n.clone() };

    // Identical node: Stale.
    let n = node("node-0", SIMPLE_NODE_LABEL);
    let mut fleet = Fleet::new(vec![n.clone()], vec![], vec![Arc::clone(&ds)]);
    let (applied, changed) = fleet.event(|c| c.view.upsert_node(n.clone()));
    assert_eq!(applied, Applied::Stale, "identical node");
    assert!(changed.is_empty());

    // Labels gain the selector's labels.
    let n = node("node-0", &[]);
    let mut fleet = Fleet::new(vec![n.clone()], vec![], vec![Arc::clone(&ds)]);
    assert!(fleet.plans()[0].creates.is_empty());
    let (_, changed) =
        fleet.event(|c| c.view.upsert_node(Node { labels: labels(SIMPLE_NODE_LABEL).into(), ..bumped(&n, "2") }));
    assert_eq!(changed, ["foo"], "labels gained");
    assert_eq!(fleet.plans()[0].creates, ["node-0"]);

    // A NoSchedule taint is removed.
    let n = Node { taints: vec![taint("key1", "val1", "NoSchedule")].into(), ..node("node-0", SIMPLE_NODE_LABEL) };
    let mut fleet = Fleet::new(vec![n.clone()], vec![], vec![Arc::clone(&ds)]);
    assert!(fleet.plans()[0].creates.is_empty());
    let (_, changed) = fleet.event(|c| c.view.upsert_node(Node { taints: Default::default(), ..bumped(&n, "2") }));
    assert_eq!(changed, ["foo"], "taint removed");
    assert_eq!(fleet.plans()[0].creates, ["node-0"]);

    // Only allocatable changes: the first sync creates 1 pod, the update changes no action.
    let n = node("node-0", SIMPLE_NODE_LABEL);
    let mut fleet = Fleet::new(vec![n.clone()], vec![], vec![Arc::clone(&ds)]);
    assert_eq!(fleet.plans()[0].creates, ["node-0"]);
    let before = fleet.plans().remove(0);
    let resized =
        Node { allocatable: Resources { cpu_millis: 4000, memory_bytes: 1 << 33, pods: 110 }, ..bumped(&n, "2") };
    fleet.event(|c| c.view.upsert_node(resized));
    let after = fleet.plans().remove(0);
    assert_eq!((&after.creates, &after.deletes), (&before.creates, &before.deletes), "allocatable only");
}

/// upstream: TestDeleteNoDaemonPod (48): deleting pods that are not the DaemonSet's changes nothing.
#[test]
fn s48_delete_no_daemon_pod() {
    let l1 = SIMPLE_DAEMON_SET_LABEL;
    let others = vec![
        pod("kube-owned", "node-0", l1, Owner::Kube),
        pod("other-ds", "node-0", l1, Owner::Other),
        pod("orphan-not-matching", "node-1", &[("app", "web")], Owner::Orphan),
        Pod { node_name: Default::default(), ..pod("unscheduled-no-target", "", l1, Owner::This) },
    ];
    for victim in &others {
        let mut fleet = Fleet::new(nodes(2), others.clone(), vec![simple_daemon_set(Strategy::RollingUpdate)]);
        let (_, changed) = fleet.event(|c| {
            let rv = c.next_rv();
            c.view.delete_pod(&victim.uid, &rv)
        });
        assert!(changed.is_empty(), "deleting {} changed the plan", victim.name);
    }
}

/// upstream: TestExpectationsOnRecreate (49): a create in flight is not planned again; a DaemonSet re-created
/// with the same name and a new uid starts with no in-flight actions and plans its create.
#[test]
fn s49_expectations_on_recreate() {
    let view = ClusterView::from_snapshot(nodes(1), vec![]);
    let first = simple_daemon_set(Strategy::RollingUpdate);
    let mut env = Env::new();
    assert_eq!(env.sync(&first, &view).creates, ["node-0"]);
    env.creating.insert("node-0".to_string());
    let plan = env.sync(&first, &view);
    assert!(plan.creates.is_empty(), "the create is in flight");
    assert_eq!(plan.status.observed_generation, env.observed_generation, "observedGeneration held while in flight");

    let recreated = compile(manifest("uid-foo-2", Strategy::RollingUpdate, json!({})));
    let mut env = Env::new();
    env.live = ["uid-foo-2".to_string()].into();
    assert_eq!(env.sync(&recreated, &view).creates, ["node-0"], "fresh in-flight state");
}

// ---------------------------------------------------------------------------------------------------------
// Bursts and status: scenarios 50-58
// ---------------------------------------------------------------------------------------------------------

/// upstream: TestSimpleDaemonSetPodCreateErrors (50) and TestDaemonSetPodCreateExpectationsError (51). Slow
/// start is the fleet layer's; the engine's part is the burst: 100 nodes, burst 10 → 10 creates, and the next
/// round plans the next 10 (in-flight ones are not planned again), or the same 10 again if they failed.
#[test]
fn s50_s51_creates_are_capped_by_burst() {
    for strategy in STRATEGIES {
        let ds = simple_daemon_set(strategy);
        let mut cluster = Cluster::new(nodes(100), vec![]);
        let mut env = Env::new();
        env.burst = 10;
        let plan = env.sync(&ds, &cluster.view);
        assert_eq!(plan.creates.len(), 10);
        assert_eq!(plan.status.desired_number_scheduled, 100);
        assert_eq!(plan.status.current_number_scheduled, 0);

        // The creates failed: nothing in flight, nothing created; the next round retries them.
        assert_eq!(env.sync(&ds, &cluster.view).creates, plan.creates, "retried after failure");

        // The creates are in flight: the next round plans the next 10.
        env.creating = plan.creates.iter().cloned().collect();
        let next = env.sync(&ds, &cluster.view);
        assert_eq!(next.creates.len(), 10);
        assert!(next.creates.iter().all(|n| !env.creating.contains(n)));

        // They landed: status follows.
        env.creating.clear();
        cluster.apply(&plan, false, env.now);
        let after = env.sync(&ds, &cluster.view);
        assert_eq!(
            (after.status.desired_number_scheduled, after.status.current_number_scheduled),
            (100, 10),
            "current=10"
        );
        assert_eq!(after.status.updated_number_scheduled, 10);
        assert_eq!(after.creates.len(), 10);
    }
}

/// upstream: TestSimpleDaemonSetUpdatesStatusAfterLaunchingPods (52): 5 nodes. Upstream's status write in the
/// same sync shows current=5 because the fake observes its creates; here plan status is the view's, so it
/// shows 5 once the creates have landed.
#[test]
fn s52_updates_status_after_launching_pods() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let mut cluster = Cluster::new(nodes(5), vec![]);
    let mut env = Env::new();
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(counts(&plan), (5, 0));
    assert_eq!(plan.status.current_number_scheduled, 0);
    cluster.apply(&plan, false, env.now);
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(counts(&plan), (0, 0));
    assert_eq!(plan.status.current_number_scheduled, 5);
}

// 53 (TestSimpleDaemonSetUpdatesStatusError) and 56 (TestStoreDaemonSetStatus) are about status-write
// retries and error precedence: they belong to the fleet layer, not the engine.

/// upstream: TestNumberReadyStatus (54): 2 nodes with an unready pod each → numberReady=0; Ready → 2.
#[test]
fn s54_number_ready_status() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let mut pods = Vec::new();
    add_pods(&mut pods, "node-0", SIMPLE_DAEMON_SET_LABEL, 1);
    add_pods(&mut pods, "node-1", SIMPLE_DAEMON_SET_LABEL, 1);
    let mut cluster = Cluster::new(nodes(2), pods.clone());
    let mut env = Env::new();
    let status = env.sync(&ds, &cluster.view).status;
    assert_eq!((status.number_ready, status.number_available, status.number_unavailable), (0, 0, 2));
    for p in pods {
        cluster.upsert_pod(Pod { ready: true, ready_since: Some(t0()), ..p });
    }
    let status = env.sync(&ds, &cluster.view).status;
    assert_eq!((status.number_ready, status.number_available, status.number_unavailable), (2, 2, 0));
}

/// upstream: TestObservedGeneration (55): generation 1, 1 node with its pod → observedGeneration=1. While an
/// action of the DaemonSet is in flight (upstream: unsatisfied expectations) the reported one is kept.
#[test]
fn s55_observed_generation() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let mut pods = Vec::new();
    add_pods(&mut pods, "node-0", SIMPLE_DAEMON_SET_LABEL, 1);
    let view = ClusterView::from_snapshot(nodes(1), pods);
    let mut env = Env::new();
    env.observed_generation = 0;
    assert_eq!(env.sync(&ds, &view).status.observed_generation, 1);
    env.deleting.insert("uid-node-0-00".to_string());
    assert_eq!(env.sync(&ds, &view).status.observed_generation, 0, "a delete of its pod is in flight");
    env.deleting = ["uid-someone-elses".to_string()].into();
    assert_eq!(env.sync(&ds, &view).status.observed_generation, 1, "in-flight deletes of unknown pods do not count");
}

/// upstream: TestUpdateStatusDespitePodCreationFailure (57, integration): admission allows only 2 pods; 5
/// nodes → 2 pods, and status reflects 2.
#[test]
fn s57_update_status_despite_pod_creation_failure() {
    let ds = simple_daemon_set(Strategy::RollingUpdate);
    let mut cluster = Cluster::new(nodes(5), vec![]);
    let mut env = Env::new();
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(plan.creates.len(), 5);
    let admitted = Plan { creates: plan.creates[..2].to_vec(), ..Plan::default() };
    cluster.apply(&admitted, false, env.now);
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!((plan.status.desired_number_scheduled, plan.status.current_number_scheduled), (5, 2));
    assert_eq!(plan.creates.len(), 3, "the rejected creates are planned again");
}

/// upstream: TestInsufficientCapacityNode (58, integration): the pod requests 120M; on a 100M node it is
/// created but stays unschedulable. A 200M node gets a pod that runs: 2 pods, 1 ready, status ready=1. The
/// engine never holds a create back for capacity; it only predicts the Pending pod (`predicted_pending`).
#[test]
fn s58_insufficient_capacity_node() {
    let ds = daemon_set(
        Strategy::RollingUpdate,
        json!({"containers": [{"name": "foo", "image": "foo/bar", "resources": {"requests": {"memory": "120M"}}}]}),
    );
    let sized = |name: &str, memory: i64| Node {
        allocatable: Resources { cpu_millis: 1000, memory_bytes: memory, pods: 110 },
        ..node(name, &[])
    };
    let mut cluster = Cluster::new(vec![sized("node-small", 100_000_000)], vec![]);
    let mut env = Env::new();
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(plan.creates, ["node-small"], "created even though it will not fit");
    assert_eq!(plan.status.predicted_pending, 1);
    // The created pod is pinned to the node but never bound.
    let rv = cluster.next_rv();
    let mut pending = pod("small-pod", "", SIMPLE_DAEMON_SET_LABEL, Owner::This);
    pending.target_node = "node-small".into();
    pending.phase = PodPhase::Pending;
    pending.resource_version = rv;
    cluster.view.upsert_pod(pending);

    cluster.view.upsert_node(Node { resource_version: "2".to_string(), ..sized("node-big", 200_000_000) });
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(plan.creates, ["node-big"]);
    assert!(plan.deletes.is_empty());
    cluster.apply(&plan, true, env.now);
    let plan = env.sync(&ds, &cluster.view);
    assert_eq!(counts(&plan), (0, 0));
    let s = plan.status;
    assert_eq!((s.desired_number_scheduled, s.current_number_scheduled, s.number_ready), (2, 2, 1));
    assert_eq!(s.predicted_pending, 1, "the 100M node's pod stays Pending");
}

/// upstream: TestIsPodUpdated (79), as status's updatedNumberScheduled sees it: a pod is updated when its
/// controller-revision-hash equals the current hash; another hash, no hash label, or no labels at all is not; an
/// empty current hash never matches. (daemonplane has no legacy pod-template-generation label.)
#[test]
fn s79_is_pod_updated() {
    let updated_with = |current_hash: &str, pod: Pod| {
        let mut ds = (*simple_daemon_set(Strategy::OnDelete)).clone();
        ds.hash = current_hash.into();
        let view = ClusterView::from_snapshot(nodes(1), vec![pod]);
        Env::new().sync(&Arc::new(ds), &view).status.updated_number_scheduled
    };
    let l1 = SIMPLE_DAEMON_SET_LABEL;
    assert_eq!(updated_with(HASH, pod("p", "node-0", l1, Owner::This)), 1, "hash matches");
    let mut other = pod("p", "node-0", l1, Owner::This);
    other.labels.insert(REVISION_HASH_LABEL.to_string(), "another".to_string());
    assert_eq!(updated_with(HASH, other), 0, "another hash");
    let mut bare = pod("p", "node-0", l1, Owner::This);
    bare.labels.remove(REVISION_HASH_LABEL);
    assert_eq!(updated_with(HASH, bare), 0, "no hash label");
    let mut empty = pod("p", "node-0", l1, Owner::This);
    empty.labels.insert(REVISION_HASH_LABEL.to_string(), String::new());
    assert_eq!(updated_with("", empty), 0, "an empty current hash never matches");
}
