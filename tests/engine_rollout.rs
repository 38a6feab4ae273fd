//! The rolling-update planner (`engine::rolling_update`): ports of upstream's rolling-update scenarios (reference
//! `k8s-daemonset-semantics.md`, section 7: 59-74), tests of daemonplane's rollout extensions, and property tests.
//!
//! A round is one upstream sync: `manage` (a fresh planner), then `rolling_update` in the same round with
//! manage's actions in the context as in flight (`creating_nodes`, `deleting_pods`); then both take effect on
//! the view (creates become bound, Running, not Ready pods of the current revision; deletes remove the pod).
//! Upstream's fake pod control observes its own writes at once, so its rollingUpdate runs on a store where
//! manage's actions are done: every round therefore also checks that `rolling_update` on the view *after*
//! manage's actions gives exactly the same round. "c/d" is a round's creates/deletes, manage's and the rolling
//! update's together, as upstream's expectSyncDaemonSets counts them.
//!
//! Upstream walks a Go map, so which nodes go first is unspecified there; only counts are upstream's. Where a
//! test names nodes, it relies on daemonplane's documented order (slot order = node-name order here).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use daemonplane::apiserver::defaults::set_defaults;
use daemonplane::engine::backoff::FailedPodBackoff;
use daemonplane::engine::daemonset::CompiledDaemonSet;
use daemonplane::engine::manage::{DEFAULT_BURST, ManageContext, is_available, manage};
use daemonplane::engine::model::{Labels, Node, OWNER_UID_LABEL, Pod, PodPhase, REVISION_HASH_LABEL};
use daemonplane::engine::revision::{canonical_template, compute_hash};
use daemonplane::engine::rolling_update::{
    RollingParams, RolloutOptions, RolloutReason, RolloutRound, UnavailableNumbers, rolling_update, unavailable_numbers,
};
use daemonplane::engine::view::{Applied, ClusterView};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------------------
// Fixtures (daemon_controller_test.go, update_test.go)
// ---------------------------------------------------------------------------------------------------------

const NS: &str = "default";
const DS_UID: &str = "uid-foo";
const SIMPLE_DAEMON_SET_LABEL: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "production")];

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn t0() -> DateTime<Utc> {
    at(1_800_000_000)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn label_json(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect())
}

fn on_delete() -> Value {
    json!({"type": "OnDelete"})
}

/// upstream newUpdateUnavailable / `RollingUpdate{MaxUnavailable: v}`.
fn max_unavailable(v: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": v}})
}

/// upstream newUpdateSurge: maxUnavailable 0, maxSurge `v`.
fn max_surge(v: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": v}})
}

/// The parts of upstream's newDaemonSet("foo") the scenarios change.
#[derive(Clone, Debug)]
struct DsSpec {
    image: String,
    strategy: Value,
    min_ready_seconds: i32,
    tolerations: Value,
}

impl DsSpec {
    /// upstream newDaemonSet: OnDelete, image foo/bar.
    fn new() -> DsSpec {
        DsSpec { image: "foo/bar".to_string(), strategy: on_delete(), min_ready_seconds: 0, tolerations: Value::Null }
    }

    fn image(mut self, image: &str) -> DsSpec {
        self.image = image.to_string();
        self
    }

    fn strategy(mut self, strategy: Value) -> DsSpec {
        self.strategy = strategy;
        self
    }

    fn min_ready_seconds(mut self, seconds: i32) -> DsSpec {
        self.min_ready_seconds = seconds;
        self
    }

    fn tolerations(mut self, tolerations: Value) -> DsSpec {
        self.tolerations = tolerations;
        self
    }

    /// Defaults (not validated: upstream's tests set maxUnavailable 0 without surge, which validation rejects)
    /// and compiles; the hash is the engine's hash of the defaulted template.
    fn compile(&self) -> (Arc<CompiledDaemonSet>, RolloutOptions) {
        let mut template_spec = json!({"containers": [{"name": "foo", "image": self.image}]});
        if !self.tolerations.is_null() {
            template_spec["tolerations"] = self.tolerations.clone();
        }
        let manifest = json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "foo", "namespace": NS, "uid": DS_UID, "generation": 1},
            "spec": {
                "selector": {"matchLabels": label_json(SIMPLE_DAEMON_SET_LABEL)},
                "updateStrategy": self.strategy,
                "minReadySeconds": self.min_ready_seconds,
                "template": {"metadata": {"labels": label_json(SIMPLE_DAEMON_SET_LABEL)}, "spec": template_spec}
            }
        });
        let mut ds: DaemonSet = serde_json::from_value(manifest).expect("a DaemonSet manifest");
        set_defaults(&mut ds);
        let hash = compute_hash(&canonical_template(&ds.spec.template), None);
        let compiled = CompiledDaemonSet::new(DS_UID, NS, "foo", 1, &ds.spec, &hash);
        (Arc::new(compiled), RolloutOptions::from_spec(&ds.spec))
    }
}

/// upstream newNode: Ready, no taints.
fn node(name: &str, node_labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
    Node {
        name: name.into(),
        resource_version: "1".to_string(),
        labels: labels(node_labels).into(),
        taints: taints.into(),
        conditions: [("Ready".to_string(), "True".to_string())].into(),
        ..Node::default()
    }
}

/// upstream addNodes(0, count): `node-<i>`.
fn nodes(count: usize) -> Vec<Node> {
    (0..count).map(|i| node(&format!("node-{i}"), &[], vec![])).collect()
}

fn taint(key: &str, value: &str) -> Taint {
    Taint { key: key.to_string(), value: Some(value.to_string()), effect: "NoSchedule".to_string(), time_added: None }
}

/// A bound, Running, not Ready pod of the DaemonSet; `hash` None = no revision label (an old pod).
fn pod(name: &str, node: &str, hash: Option<&str>) -> Pod {
    let mut l = labels(SIMPLE_DAEMON_SET_LABEL);
    l.insert(OWNER_UID_LABEL.to_string(), DS_UID.to_string());
    if let Some(hash) = hash {
        l.insert(REVISION_HASH_LABEL.to_string(), hash.to_string());
    }
    Pod {
        namespace: NS.into(),
        name: name.to_string(),
        uid: format!("uid-{name}"),
        resource_version: "1".to_string(),
        node_name: node.into(),
        target_node: node.into(),
        labels: l.into(),
        phase: PodPhase::Running,
        ..Pod::default()
    }
}

fn ready(mut p: Pod, since: DateTime<Utc>) -> Pod {
    p.ready = true;
    p.ready_since = Some(since);
    p
}

/// Applies creates (bound, Running, not Ready pods of `ds`'s revision, created `now`) and deletes (by uid).
fn apply(
    view: &mut ClusterView,
    ds: &CompiledDaemonSet,
    creates: &[String],
    deletes: &[String],
    now: DateTime<Utc>,
    counter: &mut u64,
) {
    for node in creates {
        *counter += 1;
        let mut p = pod(&format!("{node}-r{counter}"), node, Some(&ds.hash));
        p.resource_version = counter.to_string();
        p.created_at = Some(now);
        assert!(matches!(view.upsert_pod(p), Applied::Changed(_)), "create on {node}");
    }
    for uid in deletes {
        *counter += 1;
        assert!(matches!(view.delete_pod(uid, &counter.to_string()), Applied::Changed(_)), "delete of {uid}");
    }
}

/// One sync's actions.
#[derive(Clone, Debug, Default)]
struct Sync {
    creates: usize,
    deletes: usize,
    round: RolloutRound,
}

/// One DaemonSet's controller over one cluster whose pods follow the plans.
struct Sim {
    view: ClusterView,
    counter: u64,
    now: DateTime<Utc>,
    live: HashSet<String>,
    backoff: FailedPodBackoff,
    ds: Arc<CompiledDaemonSet>,
    options: RolloutOptions,
    burst: usize,
    /// Most live pods of the DaemonSet at once, after any round.
    peak_pods: usize,
}

impl Sim {
    fn new(nodes: Vec<Node>, pods: Vec<Pod>, spec: &DsSpec) -> Sim {
        let (ds, options) = spec.compile();
        Sim {
            view: ClusterView::from_snapshot(nodes, pods),
            counter: 1000,
            now: t0(),
            live: [DS_UID.to_string()].into(),
            backoff: FailedPodBackoff::default(),
            ds,
            options,
            burst: DEFAULT_BURST,
            peak_pods: 0,
        }
    }

    /// `manager.dsStore.Update(ds)`: a new spec; the extensions set on the options stay.
    fn update(&mut self, spec: &DsSpec) {
        let (ds, options) = spec.compile();
        self.ds = ds;
        self.options = RolloutOptions { rolling_update: options.rolling_update, ..self.options.clone() };
    }

    fn ctx<'a>(&'a self, creating: &'a HashSet<String>, deleting: &'a HashSet<String>) -> ManageContext<'a> {
        ManageContext {
            now: self.now,
            live_owner_uids: &self.live,
            creating_nodes: creating,
            deleting_pods: deleting,
            observed_generation: 1,
            burst: self.burst,
        }
    }

    /// One sync: manage, then the rolling update with manage's actions in flight; checks that it equals the
    /// rolling update on the view after manage's actions; applies both.
    fn sync(&mut self) -> Sync {
        let none = HashSet::new();
        let ctx = ManageContext {
            now: self.now,
            live_owner_uids: &self.live,
            creating_nodes: &none,
            deleting_pods: &none,
            observed_generation: 1,
            burst: self.burst,
        };
        let plan = manage(&self.ds, &self.view, &ctx, &mut self.backoff);
        let creating: HashSet<String> = plan.creates.iter().cloned().collect();
        let deleting: HashSet<String> = plan.deletes.iter().map(|d| d.uid.clone()).collect();
        let manage_deletes: Vec<String> = plan.deletes.iter().map(|d| d.uid.clone()).collect();
        let round = rolling_update(&self.ds, &self.view, &self.ctx(&creating, &deleting), &self.options);

        let mut observed = self.view.clone();
        let mut counter = self.counter;
        apply(&mut observed, &self.ds, &plan.creates, &manage_deletes, self.now, &mut counter);
        let after = rolling_update(&self.ds, &observed, &self.ctx(&none, &none), &self.options);
        assert_eq!(round, after, "actions in flight count as done");

        for d in &round.deletes {
            assert!(!deleting.contains(&d.deletion.uid), "no delete repeats one in flight: {}", d.deletion.name);
        }
        for n in &round.creates {
            assert!(!creating.contains(n), "no create repeats one in flight: {n}");
        }
        let round_deletes: Vec<String> = round.deletes.iter().map(|d| d.deletion.uid.clone()).collect();
        apply(&mut self.view, &self.ds, &plan.creates, &manage_deletes, self.now, &mut self.counter);
        apply(&mut self.view, &self.ds, &round.creates, &round_deletes, self.now, &mut self.counter);
        self.peak_pods = self.peak_pods.max(self.pods().len());
        Sync {
            creates: plan.creates.len() + round.creates.len(),
            deletes: plan.deletes.len() + round.deletes.len(),
            round,
        }
    }

    /// expectSyncDaemonSets(creates, deletes).
    fn expect(&mut self, creates: usize, deletes: usize, what: &str) -> Sync {
        let sync = self.sync();
        assert_eq!((sync.creates, sync.deletes), (creates, deletes), "{what}: c/d (round {:?})", sync.round);
        sync
    }

    /// A sequence of expectSyncDaemonSets.
    fn expect_all(&mut self, steps: &[(usize, usize)], what: &str) {
        for (i, (c, d)) in steps.iter().enumerate() {
            self.expect(*c, *d, &format!("{what}, sync {}", i + 1));
        }
    }

    /// The DaemonSet's live pods, in view order.
    fn pods(&self) -> Vec<&Pod> {
        self.view.pods().filter(|p| p.owner_uid() == Some(DS_UID) && !p.is_terminating()).collect()
    }

    fn current(&self) -> usize {
        self.pods().iter().filter(|p| p.revision_hash() == Some(self.ds.hash.as_str())).count()
    }

    fn ready_names(&self) -> BTreeSet<String> {
        self.pods().iter().filter(|p| p.ready).map(|p| p.name.clone()).collect()
    }

    /// upstream setPodReadiness: up to `count` live pods not yet at `ready` and matching `filter`, in view order,
    /// get it, with the transition at the clock's now. Returns how many changed.
    fn set_readiness(&mut self, ready: bool, count: usize, filter: impl Fn(&Pod) -> bool) -> usize {
        let targets: Vec<Pod> =
            self.pods().into_iter().filter(|p| p.ready != ready && filter(p)).take(count).cloned().collect();
        let n = targets.len();
        for mut p in targets {
            p.ready = ready;
            p.ready_since = Some(self.now);
            self.counter += 1;
            p.resource_version = self.counter.to_string();
            assert!(matches!(self.view.upsert_pod(p), Applied::Changed(_)));
        }
        n
    }

    /// upstream markPodsReady.
    fn mark_ready(&mut self) {
        self.set_readiness(true, usize::MAX, |_| true);
    }

    /// Replaces a pod's labels.
    fn relabel(&mut self, uid: &str, f: impl FnOnce(&mut Pod)) {
        let mut p = self.view.pod(uid).unwrap().clone();
        f(&mut p);
        self.counter += 1;
        p.resource_version = self.counter.to_string();
        assert!(matches!(self.view.upsert_pod(p), Applied::Changed(_)));
    }

    /// Nodes of the view without an available pod of the DaemonSet.
    fn unavailable_nodes(&self) -> usize {
        self.view
            .nodes()
            .filter(|n| {
                !self.pods().iter().any(|p| {
                    p.target_node_name() == Some(n.name.as_str())
                        && is_available(p, self.ds.min_ready_seconds, self.now)
                })
            })
            .count()
    }

    /// Live pods beyond one per node.
    fn extra_pods(&self) -> usize {
        let nodes: BTreeSet<&str> = self.pods().iter().filter_map(|p| p.target_node_name()).collect();
        self.pods().len() - nodes.len()
    }
}

// ---------------------------------------------------------------------------------------------------------
// update_test.go: scenarios 59-68, 73
// ---------------------------------------------------------------------------------------------------------

/// 5 nodes with a ready pod each, created under OnDelete as upstream's tests do.
fn five_ready(spec: &DsSpec) -> Sim {
    let mut sim = Sim::new(nodes(5), vec![], spec);
    sim.expect(5, 0, "initial");
    sim.mark_ready();
    sim
}

/// Scenario 59, upstream TestDaemonSetUpdatesPods (reference 3.5): maxUnavailable=2 → 0/2, 2/0, 0/2, 2/0, 0/1, 1/0,
/// 0/0.
#[test]
fn s59_daemon_set_updates_pods() {
    let spec = DsSpec::new();
    let mut sim = five_ready(&spec);
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(2))));
    sim.expect_all(&[(0, 2), (2, 0)], "first batch");
    sim.mark_ready();
    sim.expect_all(&[(0, 2), (2, 0)], "second batch");
    sim.mark_ready();
    sim.expect_all(&[(0, 1), (1, 0)], "last node");
    sim.mark_ready();
    sim.expect(0, 0, "done");
    assert_eq!(sim.current(), 5);
}

/// Scenario 60, upstream TestDaemonSetUpdatesPodsWithMaxSurge (reference 3.6): maxSurge=2 → 2/0, 0/0, 2/2, 0/0, 1/2,
/// 0/0, 0/1, 0/0.
#[test]
fn s60_daemon_set_updates_pods_with_max_surge() {
    let spec = DsSpec::new();
    let mut sim = five_ready(&spec);
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_surge(json!(2))));
    sim.expect_all(&[(2, 0), (0, 0)], "surge 2");
    assert_eq!(sim.peak_pods, 7, "never more than maxSurge extra pods");
    sim.mark_ready();
    sim.expect_all(&[(2, 2), (0, 0)], "retire 2, surge 2");
    sim.mark_ready();
    sim.expect_all(&[(1, 2), (0, 0)], "retire 2, surge the last");
    sim.mark_ready();
    sim.expect_all(&[(0, 1), (0, 0)], "retire the last");
    assert_eq!((sim.current(), sim.pods().len()), (5, 5));
}

/// Scenario 61, upstream TestDaemonSetUpdatesWhenNewPodIsNotReady: maxUnavailable=3 → 0/3, 3/0, then 0/0 while the new
/// pods stay unready.
#[test]
fn s61_daemon_set_updates_when_new_pod_is_not_ready() {
    let spec = DsSpec::new();
    let mut sim = five_ready(&spec);
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(3))));
    sim.expect_all(&[(0, 3), (3, 0), (0, 0)], "new pods never ready");
}

/// Scenario 62, upstream TestDaemonSetUpdatesAllOldPodsNotReady: 5 unready pods, maxUnavailable=3 → 0/5, 5/0, 0/0.
#[test]
fn s62_daemon_set_updates_all_old_pods_not_ready() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(5), vec![], &spec);
    sim.expect(5, 0, "initial");
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(3))));
    let sync = sim.expect(0, 5, "unavailable old pods ignore the budget");
    assert!(sync.round.deletes.iter().all(|d| d.why == RolloutReason::OutdatedUnavailable));
    sim.expect_all(&[(5, 0), (0, 0)], "recreated");
}

/// Scenario 63, upstream TestDaemonSetUpdatesSomeOldPodsNotReady: maxUnavailable=2. Update 1 → 0/2, 2/0, 0/0 (the new
/// pods stay unready); update 2 → exactly those 2 are replaced, the 3 ready pods are untouched.
#[test]
fn s63_daemon_set_updates_some_old_pods_not_ready() {
    let spec = DsSpec::new();
    let mut sim = five_ready(&spec);
    let spec = spec.image("foo2/bar2").strategy(max_unavailable(json!(2)));
    sim.update(&spec);
    sim.expect_all(&[(0, 2), (2, 0), (0, 0)], "update 1");
    let ready_before = sim.ready_names();
    sim.update(&spec.clone().image("foo2/bar3"));
    sim.expect_all(&[(0, 2), (2, 0), (0, 0)], "update 2");
    assert_eq!(sim.ready_names(), ready_before, "the ready pods are untouched");
    assert_eq!(sim.ready_names().len(), 5 - 2);
}

/// Scenario 64, upstream TestDaemonSetUpdatesSaveOldHealthyPods: 20 nodes, maxUnavailable=10 leaves 10 old ready and 10
/// new unready pods; then 10 new templates with maxUnavailable in [0, 9] each replace exactly the 10 unready pods;
/// finally maxUnavailable=11 → 0/11, 11/0, leaving 9 ready pods. (Upstream draws maxUnavailable with rand.Intn(10);
/// here every value 0-9 is used once.)
#[test]
fn s64_daemon_set_updates_save_old_healthy_pods() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(20), vec![], &spec);
    sim.expect(20, 0, "initial");
    sim.mark_ready();
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(10))));
    sim.expect_all(&[(0, 10), (10, 0), (0, 0)], "first update");
    let old_ready = sim.ready_names();
    assert_eq!(old_ready.len(), 10);
    for (i, mu) in [3, 0, 9, 5, 1, 7, 2, 8, 4, 6].into_iter().enumerate() {
        sim.update(&spec.clone().image(&format!("foo2/bar3-{i}")).strategy(max_unavailable(json!(mu))));
        sim.expect_all(&[(0, 10), (10, 0), (0, 0)], &format!("iteration {i}, maxUnavailable={mu}"));
        assert!(sim.ready_names().is_superset(&old_ready), "iteration {i}: the ready pods are never touched");
    }
    sim.update(&spec.clone().image("foo2/bar4").strategy(max_unavailable(json!(11))));
    sim.expect_all(&[(0, 11), (11, 0), (0, 0)], "maxUnavailable=11");
    assert_eq!(sim.ready_names().len(), 9);
}

/// Scenario 65, upstream TestDaemonSetUpdatesAllOldNotReadyPodsAndNewNotReadyPods: 100 nodes rolled with
/// maxUnavailable=10; then 10 old available, 2 old unavailable and 88 new unavailable pods → 0/2 (only the 2 old
/// unavailable), 2/0, 0/0.
#[test]
fn s65_daemon_set_updates_all_old_not_ready_pods_and_new_not_ready_pods() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(100), vec![], &spec);
    sim.expect(100, 0, "initial");
    sim.mark_ready();
    let hash1 = sim.ds.hash.clone();
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(10))));
    for i in 0..10 {
        sim.expect_all(&[(0, 10), (10, 0)], &format!("batch {i}"));
        sim.mark_ready();
    }
    sim.expect(0, 0, "rolled");
    assert_eq!(sim.current(), 100);

    let uids: Vec<String> = sim.pods().iter().map(|p| p.uid.clone()).collect();
    let mut old_unavailable = BTreeSet::new();
    for (i, uid) in uids.iter().enumerate() {
        let hash1 = hash1.clone();
        sim.relabel(uid, |p| {
            if i >= 10 {
                p.ready = false;
            }
            if i < 12 {
                p.labels.insert(REVISION_HASH_LABEL.to_string(), hash1);
            }
        });
        if (10..12).contains(&i) {
            old_unavailable.insert(uid.clone());
        }
    }
    let sync = sim.expect(0, 2, "only the 2 old unavailable pods");
    let deleted: BTreeSet<String> = sync.round.deletes.iter().map(|d| d.deletion.uid.clone()).collect();
    assert_eq!(deleted, old_unavailable);
    sim.expect_all(&[(2, 0), (0, 0)], "recreated");
    assert!(sim.pods().iter().all(|p| !old_unavailable.contains(&p.uid)));
}

/// Scenario 66, upstream TestDaemonSetUpdatesAllOldPodsNotReadyMaxSurge: 5 unready pods, maxSurge=3, new template → 5/0
/// (every node surges at once: the old pods are unavailable), then 0/5 (manage removes the unready old pods). Then,
/// with minReadySeconds=15 and another template: 3/0 at t=300; two new pods Ready at 300 and one old pod unready → 1/0
/// at t=310 (the new pods are not available yet); 1/3 at t=320; all new pods Ready at 320 → 0/2 at t=340; 0/0 at t=350.
#[test]
fn s66_daemon_set_updates_all_old_pods_not_ready_max_surge() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(5), vec![], &spec);
    sim.expect(5, 0, "initial");
    let spec = spec.image("foo2/bar2").strategy(max_surge(json!(3)));
    sim.update(&spec);
    sim.now = at(100);
    let sync = sim.expect(5, 0, "all old pods unavailable: surge everywhere");
    assert_eq!(sync.round.max_surge, 3);
    sim.now = at(200);
    sim.expect(0, 5, "the unready old pods go");

    sim.set_readiness(true, 5, |_| true);
    sim.update(&spec.clone().min_ready_seconds(15).image("foo3/bar3"));
    sim.now = at(300);
    sim.expect(3, 0, "surge 3");
    let hash = sim.ds.hash.clone();
    let surged: BTreeSet<String> = sim
        .pods()
        .iter()
        .filter(|p| p.revision_hash() == Some(hash.as_str()))
        .map(|p| p.target_node_name().unwrap().to_string())
        .collect();
    assert_eq!(sim.set_readiness(true, 2, |p| p.revision_hash() == Some(hash.as_str())), 2);
    let unready = sim.set_readiness(false, 1, |p| {
        p.revision_hash() != Some(hash.as_str()) && !surged.contains(p.target_node_name().unwrap())
    });
    assert_eq!(unready, 1);
    sim.now = at(310);
    sim.expect(1, 0, "the new pods wait for minReadySeconds; the unready old pod is surged at once");
    sim.now = at(320);
    sim.expect(1, 3, "available new pods retire old ones");
    assert_eq!(sim.set_readiness(true, 3, |p| p.revision_hash() == Some(hash.as_str())), 3);
    sim.now = at(340);
    sim.expect(0, 2, "the last old pods go");
    sim.now = at(350);
    sim.expect(0, 0, "done");
    assert_eq!((sim.current(), sim.pods().len()), (5, 5));
}

/// Scenario 67, upstream TestDaemonSetUpdatesNoTemplateChanged: OnDelete → RollingUpdate(3), same template → 0/0.
#[test]
fn s67_daemon_set_updates_no_template_changed() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(5), vec![], &spec);
    sim.expect(5, 0, "initial");
    let hash = sim.ds.hash.clone();
    sim.update(&spec.strategy(max_unavailable(json!(3))));
    assert_eq!(sim.ds.hash, hash, "the strategy is not part of the template");
    sim.expect(0, 0, "nothing to update");
}

/// Scenario 68, upstream TestDaemonSetUpdatesPodsNotMatchTainstWithMaxSurge: node-0 tainted control-plane:NoSchedule
/// and tolerated → 5 ready pods. Remove the toleration, maxSurge=1 (desired 4) → 1/1 (surge one node, and delete the
/// node-0 pod because 5 available > 4 desired), then 1/1, 1/1, 1/1, 0/1, each followed by 0/0.
#[test]
fn s68_daemon_set_updates_pods_not_match_taints_with_max_surge() {
    let control_plane = Taint {
        key: "node-role.kubernetes.io/control-plane".to_string(),
        value: None,
        effect: "NoSchedule".to_string(),
        time_added: None,
    };
    let mut all = nodes(5);
    all[0].taints = vec![control_plane].into();
    let spec = DsSpec::new()
        .strategy(max_surge(json!(1)))
        .tolerations(json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]));
    let mut sim = Sim::new(all, vec![], &spec);
    sim.expect(5, 0, "tolerated everywhere");
    sim.mark_ready();
    sim.update(&spec.clone().tolerations(Value::Null));
    let sync = sim.expect(1, 1, "surge one node, retire node-0");
    assert_eq!(sync.round.desired, 4);
    assert_eq!(sync.round.deletes[0].deletion.node, "node-0");
    assert_eq!(sync.round.deletes[0].why, RolloutReason::SurplusOnRetiredNode);
    sim.expect(0, 0, "waiting");
    for i in 0..3 {
        sim.mark_ready();
        sim.expect_all(&[(1, 1), (0, 0)], &format!("step {i}"));
    }
    sim.mark_ready();
    sim.expect_all(&[(0, 1), (0, 0)], "last");
    assert_eq!((sim.current(), sim.pods().len()), (4, 4));
}

/// Scenario 73, upstream TestGetUnavailableNumbers: (maxSurge, maxUnavailable, desiredNumberScheduled, empty nodes).
#[test]
fn s73_get_unavailable_numbers() {
    struct Case {
        name: &'static str,
        nodes: usize,
        strategy: Value,
        /// Pods (ready) by node index; `true` = terminating.
        pods: Vec<(usize, bool)>,
        want: UnavailableNumbers,
    }
    let n = |max_surge, max_unavailable, desired, empty_slots| UnavailableNumbers {
        max_surge,
        max_unavailable,
        desired,
        empty_slots,
    };
    let cases = [
        Case { name: "No nodes", nodes: 0, strategy: max_unavailable(json!(0)), pods: vec![], want: n(0, 0, 0, 0) },
        Case {
            name: "Two nodes with ready pods",
            nodes: 2,
            strategy: max_unavailable(json!(1)),
            pods: vec![(0, false), (1, false)],
            want: n(0, 1, 2, 0),
        },
        Case {
            name: "Two nodes, one node without pods",
            nodes: 2,
            strategy: max_unavailable(json!(0)),
            pods: vec![(0, false)],
            want: n(0, 1, 2, 1),
        },
        Case {
            name: "Two nodes, one node without pods, surge",
            nodes: 2,
            strategy: max_surge(json!(0)),
            pods: vec![(0, false)],
            want: n(0, 1, 2, 1),
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents",
            nodes: 2,
            strategy: max_unavailable(json!("50%")),
            pods: vec![(0, false), (1, false)],
            want: n(0, 1, 2, 0),
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents, surge",
            nodes: 2,
            strategy: max_surge(json!("50%")),
            pods: vec![(0, false), (1, false)],
            want: n(1, 0, 2, 0),
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable is 100%, surge",
            nodes: 2,
            strategy: max_surge(json!("100%")),
            pods: vec![(0, false), (1, false)],
            want: n(2, 0, 2, 0),
        },
        Case {
            name: "Two nodes with pods, MaxUnavailable in percents, pod terminating",
            nodes: 3,
            strategy: max_unavailable(json!("50%")),
            pods: vec![(0, false), (1, true)],
            want: n(0, 2, 3, 1),
        },
    ];
    for case in cases {
        let spec = DsSpec::new().strategy(case.strategy);
        let (ds, options) = spec.compile();
        let pods = case
            .pods
            .iter()
            .map(|&(i, terminating)| {
                let mut p = ready(pod(&format!("pod-{i}"), &format!("node-{i}"), Some(&ds.hash)), t0());
                p.deletion_timestamp = terminating.then(t0);
                p
            })
            .collect();
        let view = ClusterView::from_snapshot(nodes(case.nodes), pods);
        let (live, none) = ([DS_UID.to_string()].into(), HashSet::new());
        let ctx = ManageContext {
            now: t0(),
            live_owner_uids: &live,
            creating_nodes: &none,
            deleting_pods: &none,
            observed_generation: 1,
            burst: DEFAULT_BURST,
        };
        assert_eq!(unavailable_numbers(&ds, &view, &ctx, &options), Ok(case.want), "{}", case.name);
        let round = rolling_update(&ds, &view, &ctx, &options);
        assert_eq!(
            (round.max_surge, round.max_unavailable, round.desired),
            (case.want.max_surge, case.want.max_unavailable, case.want.desired),
            "{}: the round resolves the same numbers",
            case.name
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// daemon_controller_test.go: surge scenarios 69-72 (manage's surge branch), through whole syncs
// ---------------------------------------------------------------------------------------------------------

/// The common setup of 69-72: maxSurge=1, 5 nodes; node-1 has a pod of the current revision (created t=100,
/// Ready since `new_ready_since` if given), an old pod created t=50 (Ready unless `oldest_unready`) and an old
/// Ready pod created t=60; node-2 has a pod of the current revision.
fn surge_node1(min_ready_seconds: i32, new_ready_since: Option<i64>, oldest_unready: bool, now: i64) -> (Sim, String) {
    let spec = DsSpec::new().strategy(max_surge(json!(1))).min_ready_seconds(min_ready_seconds);
    let (ds, _) = spec.compile();
    let mut current = pod("node-1-current", "node-1", Some(&ds.hash));
    current.created_at = Some(at(100));
    if let Some(since) = new_ready_since {
        current = ready(current, at(since));
    }
    let mut oldest = pod("node-1-old", "node-1", None);
    oldest.created_at = Some(at(50));
    oldest.ready = !oldest_unready;
    let mut excess = pod("node-1-delete", "node-1", None);
    excess.created_at = Some(at(60));
    excess.ready = true;
    let node2 = pod("node-2-current", "node-2", Some(&ds.hash));
    let mut sim = Sim::new(nodes(5), vec![current, oldest, excess, node2], &spec);
    sim.now = at(now);
    (sim, ds.hash.to_string())
}

fn deleted_names(sim: &Sim, before: &BTreeSet<String>) -> BTreeSet<String> {
    let after: BTreeSet<String> = sim.pods().iter().map(|p| p.name.clone()).collect();
    before.difference(&after).cloned().collect()
}

fn names_of(sim: &Sim) -> BTreeSet<String> {
    sim.pods().iter().map(|p| p.name.clone()).collect()
}

/// Scenario 69, upstream TestSurgePreservesReadyOldPods → 3/1, deleting the t=60 pod.
#[test]
fn s69_surge_preserves_ready_old_pods() {
    let (mut sim, _) = surge_node1(0, None, false, 1_000);
    let before = names_of(&sim);
    sim.expect(3, 1, "3 creates, the newer old pod deleted");
    assert_eq!(deleted_names(&sim, &before), ["node-1-delete".to_string()].into());
}

/// Scenario 70, upstream TestSurgeDeletesUnreadyOldPods → 3/2 (both old pods deleted).
#[test]
fn s70_surge_deletes_unready_old_pods() {
    let (mut sim, _) = surge_node1(0, None, true, 1_000);
    let before = names_of(&sim);
    sim.expect(3, 2, "the unready oldest old pod goes too");
    assert_eq!(deleted_names(&sim, &before), ["node-1-delete".to_string(), "node-1-old".to_string()].into());
}

/// Scenario 71, upstream TestSurgePreservesOldReadyWithUnsatisfiedMinReady: minReadySeconds=15, the new pod Ready since
/// t=50, clock t=60 → 3/1 (the oldest old pod is kept).
#[test]
fn s71_surge_preserves_old_ready_with_unsatisfied_min_ready() {
    let (mut sim, _) = surge_node1(15, Some(50), false, 60);
    let before = names_of(&sim);
    let sync = sim.expect(3, 1, "the new pod is not available yet");
    assert_eq!(deleted_names(&sim, &before), ["node-1-delete".to_string()].into());
    assert_eq!(sync.round.num_surge, 1, "node-1 uses the surge slot");
}

/// Scenario 72, upstream TestSurgeDeletesOldReadyWithUnsatisfiedMinReady: same with the clock at t=70 → 3/2.
#[test]
fn s72_surge_deletes_old_ready_with_satisfied_min_ready() {
    let (mut sim, _) = surge_node1(15, Some(50), false, 70);
    let before = names_of(&sim);
    sim.expect(3, 2, "the new pod is available");
    assert_eq!(deleted_names(&sim, &before), ["node-1-delete".to_string(), "node-1-old".to_string()].into());
}

// ---------------------------------------------------------------------------------------------------------
// Integration: scenario 74
// ---------------------------------------------------------------------------------------------------------

/// Syncs, marking every pod Ready after each, until a sync does nothing (at most `limit`).
fn converge(sim: &mut Sim, limit: usize) -> usize {
    for i in 0..limit {
        let sync = sim.sync();
        sim.mark_ready();
        if sync.creates == 0 && sync.deletes == 0 {
            return i;
        }
    }
    panic!("no convergence in {limit} syncs");
}

/// Scenario 74, upstream (integration) TestDaemonSetRollingUpdateWithTolerations: 6 nodes tainted zone y, z and common
/// (2 each, NoSchedule), maxSurge=1. Tolerate y and common → 4 pods; switch to z and common → 7 live pods at the peak,
/// then 4 ready, all updated; tolerate all three → 6; no tolerations → 0 pods, desired 0.
#[test]
fn s74_daemon_set_rolling_update_with_tolerations() {
    let mut all = Vec::new();
    for zone in ["y", "z", "common"] {
        for i in 0..2 {
            all.push(node(&format!("node-{zone}-{i}"), &[], vec![taint("zone", zone)]));
        }
    }
    let tolerate = |zones: &[&str]| {
        Value::Array(
            zones
                .iter()
                .map(|z| json!({"key": "zone", "operator": "Equal", "value": z, "effect": "NoSchedule"}))
                .collect(),
        )
    };
    let spec = DsSpec::new().strategy(max_surge(json!(1))).tolerations(tolerate(&["y", "common"]));
    let mut sim = Sim::new(all, vec![], &spec);
    converge(&mut sim, 10);
    assert_eq!(sim.pods().len(), 4);

    sim.update(&spec.clone().tolerations(tolerate(&["z", "common"])));
    sim.peak_pods = 0;
    converge(&mut sim, 20);
    assert_eq!(sim.peak_pods, 7, "4 old + 2 new on z + 1 surge on common");
    assert_eq!((sim.pods().len(), sim.current()), (4, 4));
    assert!(sim.pods().iter().all(|p| p.ready));

    sim.update(&spec.clone().tolerations(tolerate(&["y", "z", "common"])));
    converge(&mut sim, 20);
    assert_eq!((sim.pods().len(), sim.current()), (6, 6));

    sim.update(&spec.clone().tolerations(Value::Null));
    let sync = sim.sync();
    assert_eq!(sync.round.desired, 0);
    assert_eq!(sync.deletes, 6, "every pod is on a node that no longer qualifies, and 6 available > 0 desired");
    assert!(sync.round.deletes.iter().all(|d| d.why == RolloutReason::SurplusOnRetiredNode));
    converge(&mut sim, 5);
    assert_eq!(sim.pods().len(), 0);
}

// ---------------------------------------------------------------------------------------------------------
// Contract details: in-flight actions, order, burst, OnDelete, errors, missing nodes
// ---------------------------------------------------------------------------------------------------------

/// Five nodes, each with a Ready old pod; the DaemonSet at a new revision with `strategy`.
fn five_old(strategy: Value) -> (Arc<CompiledDaemonSet>, RolloutOptions, ClusterView) {
    let (ds, options) = DsSpec::new().image("foo2/bar2").strategy(strategy).compile();
    let pods = (0..5).map(|i| ready(pod(&format!("old-{i}"), &format!("node-{i}"), Some("old")), t0())).collect();
    (ds, options, ClusterView::from_snapshot(nodes(5), pods))
}

fn ctx<'a>(
    live: &'a HashSet<String>,
    creating: &'a HashSet<String>,
    deleting: &'a HashSet<String>,
) -> ManageContext<'a> {
    ManageContext {
        now: t0() + Duration::hours(1),
        live_owner_uids: live,
        creating_nodes: creating,
        deleting_pods: deleting,
        observed_generation: 1,
        burst: DEFAULT_BURST,
    }
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn candidates_go_in_slot_order() {
    let (ds, options, view) = five_old(max_unavailable(json!(2)));
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let round = rolling_update(&ds, &view, &ctx(&live, &none, &none), &options);
    let nodes: Vec<&str> = round.deletes.iter().map(|d| d.deletion.node.as_str()).collect();
    assert_eq!(nodes, ["node-0", "node-1"]);
    assert!(round.deletes.iter().all(|d| d.why == RolloutReason::Outdated));
    assert_eq!((round.max_unavailable, round.desired, round.num_unavailable), (2, 5, 0));
}

#[test]
fn a_delete_in_flight_counts_as_an_unavailable_node() {
    let (ds, options, view) = five_old(max_unavailable(json!(2)));
    let live = set(&[DS_UID]);
    let (none, deleting) = (HashSet::new(), set(&["uid-old-0"]));
    let round = rolling_update(&ds, &view, &ctx(&live, &none, &deleting), &options);
    let names: Vec<&str> = round.deletes.iter().map(|d| d.deletion.name.as_str()).collect();
    assert_eq!(names, ["old-1"], "one more within maxUnavailable=2, never the pod already being deleted");
    assert_eq!(round.num_unavailable, 1);
}

#[test]
fn a_create_in_flight_counts_as_a_new_unavailable_pod() {
    // Without surge: an empty node with a create in flight is as unavailable as an empty node.
    let (ds, options, mut view) = five_old(max_unavailable(json!(2)));
    view.delete_pod("uid-old-4", "9");
    let live = set(&[DS_UID]);
    let (none, creating) = (HashSet::new(), set(&["node-4"]));
    let empty = rolling_update(&ds, &view, &ctx(&live, &none, &none), &options);
    let in_flight = rolling_update(&ds, &view, &ctx(&live, &creating, &none), &options);
    assert_eq!(empty.deletes.len(), 1);
    assert_eq!(in_flight, empty);
    // With surge: a create in flight beside an old pod uses the surge slot.
    let (ds, options, view) = five_old(max_surge(json!(2)));
    let creating = set(&["node-0"]);
    let round = rolling_update(&ds, &view, &ctx(&live, &creating, &none), &options);
    assert_eq!(round.creates, ["node-1"], "one slot left, and never node-0 again");
    assert_eq!(round.num_surge, 1);
}

#[test]
fn burst_caps_deletes_and_creates() {
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let (ds, options, view) = five_old(max_unavailable(json!(5)));
    let mut c = ctx(&live, &none, &none);
    c.burst = 3;
    assert_eq!(rolling_update(&ds, &view, &c, &options).deletes.len(), 3);
    let (ds, options, view) = five_old(max_surge(json!(5)));
    assert_eq!(rolling_update(&ds, &view, &c, &options).creates.len(), 3);
}

#[test]
fn on_delete_never_rolls() {
    let (ds, options, view) = five_old(on_delete());
    assert_eq!(options.rolling_update, None);
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let round = rolling_update(&ds, &view, &ctx(&live, &none, &none), &options);
    assert!(round.is_empty());
    assert_eq!(round.desired, 5);
}

#[test]
fn a_malformed_budget_is_an_error_without_actions() {
    let (ds, _, view) = five_old(max_unavailable(json!(1)));
    let options = RolloutOptions {
        rolling_update: Some(RollingParams {
            max_unavailable: IntOrString::String("x%".to_string()),
            max_surge: IntOrString::Int(0),
        }),
        ..RolloutOptions::default()
    };
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let round = rolling_update(&ds, &view, &ctx(&live, &none, &none), &options);
    assert!(round.is_empty());
    assert!(round.error.as_deref().unwrap().starts_with("invalid value for MaxUnavailable"), "{:?}", round.error);
    assert!(unavailable_numbers(&ds, &view, &ctx(&live, &none, &none), &options).is_err());
}

/// Deviation: upstream's surge branch fails the whole sync on an old pod whose node is gone; here that node is
/// skipped and the others roll.
#[test]
fn surge_skips_an_old_pod_on_a_missing_node() {
    let (ds, options, mut view) = five_old(max_surge(json!(2)));
    view.upsert_pod(ready(pod("old-gone", "gone", Some("old")), t0()));
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let round = rolling_update(&ds, &view, &ctx(&live, &none, &none), &options);
    assert_eq!(round.creates, ["node-0", "node-1"]);
    assert!(round.deletes.is_empty());
    assert_eq!(round.desired, 5);
}

#[test]
fn with_min_ready_seconds_the_round_says_when_to_look_again() {
    let (ds, options) = DsSpec::new().strategy(max_surge(json!(1))).min_ready_seconds(30).compile();
    let now = t0();
    let old = ready(pod("old-0", "node-0", Some("old")), now - Duration::hours(1));
    let new = ready(pod("new-0", "node-0", Some(&ds.hash)), now - Duration::seconds(10));
    let view = ClusterView::from_snapshot(nodes(1), vec![old, new]);
    let live = set(&[DS_UID]);
    let none = HashSet::new();
    let mut c = ctx(&live, &none, &none);
    c.now = now;
    let round = rolling_update(&ds, &view, &c, &options);
    assert!(round.is_empty(), "the new pod is not available yet");
    assert_eq!(round.wake_at, Some(now + Duration::seconds(20)));
    c.now = now + Duration::seconds(21);
    let round = rolling_update(&ds, &view, &c, &options);
    assert_eq!(round.deletes.len(), 1);
    assert_eq!(round.deletes[0].why, RolloutReason::Superseded);
}

// ---------------------------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------------------------

/// Five ready pods at the first revision, then a new template with `strategy` and the given extensions.
fn five_ready_then(strategy: Value, ext: impl FnOnce(&mut RolloutOptions)) -> Sim {
    let spec = DsSpec::new();
    let mut sim = five_ready(&spec);
    ext(&mut sim.options);
    sim.update(&spec.image("foo2/bar2").strategy(strategy));
    sim
}

fn nodes_running_current(sim: &Sim) -> Vec<String> {
    sim.pods()
        .iter()
        .filter(|p| p.revision_hash() == Some(sim.ds.hash.as_str()))
        .map(|p| p.target_node_name().unwrap().to_string())
        .collect()
}

#[test]
fn partition_int_keeps_the_last_nodes_on_the_old_revision() {
    let mut sim = five_ready_then(max_unavailable(json!(2)), |o| o.partition = Some(IntOrString::Int(2)));
    let sync = sim.expect(0, 2, "2 of the 3 updatable nodes");
    assert_eq!(sync.round.held_back, ["node-3", "node-4"]);
    sim.expect(2, 0, "recreated");
    sim.mark_ready();
    sim.expect(0, 1, "the third");
    sim.expect(1, 0, "recreated");
    sim.mark_ready();
    let sync = sim.expect(0, 0, "the partition holds");
    assert_eq!(sync.round.held_back, ["node-3", "node-4"]);
    assert_eq!(nodes_running_current(&sim), ["node-0", "node-1", "node-2"]);
    // Lowering the partition releases the next node.
    sim.options.partition = Some(IntOrString::Int(1));
    sim.expect_all(&[(0, 1), (1, 0)], "partition 1");
    sim.mark_ready();
    sim.options.partition = None;
    sim.expect_all(&[(0, 1), (1, 0)], "no partition");
    assert_eq!(sim.current(), 5);
}

#[test]
fn partition_percent_rounds_down() {
    // 50% of 5 = 2.5 → keep 2; 30% of 5 = 1.5 → keep 1.
    for (pct, kept) in [("50%", 2), ("30%", 1), ("100%", 5), ("0%", 0)] {
        let mut sim = five_ready_then(max_unavailable(json!(5)), |o| {
            o.partition = Some(IntOrString::String(pct.to_string()));
        });
        converge(&mut sim, 10);
        assert_eq!(sim.current(), 5 - kept, "partition {pct}");
        assert_eq!(sim.pods().len(), 5);
    }
}

#[test]
fn partition_with_surge() {
    let mut sim = five_ready_then(max_surge(json!(1)), |o| o.partition = Some(IntOrString::Int(3)));
    converge(&mut sim, 20);
    assert_eq!(nodes_running_current(&sim), ["node-0", "node-1"]);
    assert_eq!(sim.peak_pods, 6, "never more than maxSurge extra pods");
}

#[test]
fn partition_counts_nodes_already_updated_first() {
    // node-4 lost its pod: manage gives it the new revision, which takes one of the 3 updatable places.
    let mut sim = five_ready_then(max_unavailable(json!(5)), |o| o.partition = Some(IntOrString::Int(2)));
    let uid = sim.pods().iter().find(|p| p.target_node_name() == Some("node-4")).unwrap().uid.clone();
    sim.counter += 1;
    sim.view.delete_pod(&uid, &sim.counter.to_string());
    converge(&mut sim, 10);
    assert_eq!(nodes_running_current(&sim), ["node-0", "node-1", "node-4"]);
}

#[test]
fn paused_rolls_nothing_but_manage_still_runs() {
    let mut sim = five_ready_then(max_unavailable(json!(5)), |o| o.paused = true);
    let sync = sim.expect(0, 0, "paused");
    assert_eq!((sync.round.desired, sync.round.max_unavailable), (5, 5), "the numbers are still there");
    // A node that loses its pod still gets one, of the current revision (manage knows only that one).
    let uid = sim.pods()[0].uid.clone();
    sim.counter += 1;
    sim.view.delete_pod(&uid, &sim.counter.to_string());
    sim.expect(1, 0, "manage recreates");
    sim.expect(0, 0, "still paused");
    assert_eq!(sim.current(), 1);
    sim.options.paused = false;
    sim.expect_all(&[(0, 4), (4, 0)], "resumed");
}

#[test]
fn node_selector_canary_updates_only_matching_nodes() {
    let mut all = nodes(6);
    for n in &mut all[1..3] {
        n.labels.insert("canary", "true");
    }
    let spec = DsSpec::new();
    let mut sim = Sim::new(all, vec![], &spec);
    sim.expect(6, 0, "initial");
    sim.mark_ready();
    sim.options.node_selector = [("canary".to_string(), "true".to_string())].into();
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_unavailable(json!(6))));
    let sync = sim.expect(0, 2, "only the canaries");
    assert_eq!(sync.round.held_back, ["node-0", "node-3", "node-4", "node-5"]);
    converge(&mut sim, 10);
    assert_eq!(nodes_running_current(&sim), ["node-1", "node-2"]);
    sim.options.node_selector.clear();
    converge(&mut sim, 10);
    assert_eq!(sim.current(), 6);
}

#[test]
fn node_selector_canary_with_surge_and_partition() {
    let mut all = nodes(6);
    for n in &mut all {
        n.labels.insert("canary", "true");
    }
    all[0].labels.clear();
    let spec = DsSpec::new();
    let mut sim = Sim::new(all, vec![], &spec);
    sim.expect(6, 0, "initial");
    sim.mark_ready();
    sim.options.node_selector = [("canary".to_string(), "true".to_string())].into();
    // 6 desired, partition 3: 3 updatable places, all among the canaries (node-1..5), first in slot order.
    sim.options.partition = Some(IntOrString::Int(3));
    sim.update(&spec.clone().image("foo2/bar2").strategy(max_surge(json!(2))));
    converge(&mut sim, 20);
    assert_eq!(nodes_running_current(&sim), ["node-1", "node-2", "node-3"]);
}

#[test]
fn strict_budget_limits_replacing_unavailable_old_pods() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(5), vec![], &spec);
    sim.expect(5, 0, "initial (never ready)");
    sim.options.strict_budget = true;
    sim.update(&spec.image("foo2/bar2").strategy(max_unavailable(json!(3))));
    let sync = sim.expect(0, 3, "only maxUnavailable of the unavailable old pods");
    assert!(sync.round.deletes.iter().all(|d| d.why == RolloutReason::OutdatedUnavailable));
    sim.expect_all(&[(3, 0), (0, 0)], "recreated, waiting for them");
    let hash = sim.ds.hash.clone();
    assert_eq!(sim.set_readiness(true, 3, |p| p.revision_hash() == Some(hash.as_str())), 3);
    sim.expect_all(&[(0, 2), (2, 0), (0, 0)], "the other two");
    assert_eq!(sim.current(), 5);
}

#[test]
fn strict_budget_limits_surging_beside_unavailable_old_pods() {
    let spec = DsSpec::new();
    let mut sim = Sim::new(nodes(5), vec![], &spec);
    sim.expect(5, 0, "initial (never ready)");
    sim.options.strict_budget = true;
    sim.update(&spec.image("foo2/bar2").strategy(max_surge(json!(3))));
    sim.expect(3, 0, "only maxSurge new pods beside unavailable old ones (upstream: 5/0)");
    assert_eq!(sim.extra_pods(), 3);
    sim.expect(2, 3, "manage removes the unready old pods beside the new ones, which frees the surge slots");
    assert_eq!(sim.extra_pods(), 2);
    sim.expect_all(&[(0, 2), (0, 0)], "the last unready old pods go");
    assert_eq!(sim.current(), 5);
}

// ---------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// A node's state when the rollout starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    ReadyOld,
    UnreadyOld,
    Empty,
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![6 => Just(Start::ReadyOld), 2 => Just(Start::UnreadyOld), 1 => Just(Start::Empty)]
}

#[derive(Clone, Debug)]
struct Rollout {
    starts: Vec<Start>,
    surge: bool,
    /// The budget: maxUnavailable, or maxSurge with surge.
    budget: i32,
    percent: bool,
    strict: bool,
    min_ready_seconds: i32,
    partition: Option<i32>,
    /// Random readiness: at each round, each unready pod turns Ready when its coin says so.
    coins: Vec<bool>,
}

fn rollout() -> impl Strategy<Value = Rollout> {
    (
        prop::collection::vec(start(), 1..9),
        any::<bool>(),
        1i32..6,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0), Just(15)],
        prop::option::weighted(0.3, 0i32..9),
        prop::collection::vec(any::<bool>(), 16..64),
    )
        .prop_map(|(starts, surge, budget, percent, strict, min_ready_seconds, partition, coins)| Rollout {
            starts,
            surge,
            budget,
            percent,
            strict,
            min_ready_seconds,
            partition,
            coins,
        })
}

impl Rollout {
    /// The cluster at the old revision, and the simulation at the new one.
    fn sim(&self) -> Sim {
        let n = self.starts.len();
        let pods = self
            .starts
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let p = pod(&format!("old-{i}"), &format!("node-{i}"), Some("old"));
                match s {
                    Start::ReadyOld => Some(ready(p, t0() - Duration::hours(1))),
                    Start::UnreadyOld => Some(p),
                    Start::Empty => None,
                }
            })
            .collect();
        let budget = if self.percent { json!(format!("{}%", self.budget * 20)) } else { json!(self.budget) };
        let strategy = if self.surge { max_surge(budget) } else { max_unavailable(budget) };
        let spec = DsSpec::new().image("foo2/bar2").strategy(strategy).min_ready_seconds(self.min_ready_seconds);
        let mut sim = Sim::new(nodes(n), pods, &spec);
        sim.options.strict_budget = self.strict;
        sim.options.partition = self.partition.map(IntOrString::Int);
        sim
    }
}

proptest! {
    #![proptest_config(config())]

    /// During a rolling update with random Ready timing: without surge, nodes without an available pod never
    /// exceed max(maxUnavailable, those unavailable at the start); with surge, no node loses its available
    /// pod, and extra pods never exceed maxSurge (plus, without strict_budget, the nodes whose old pod was
    /// unavailable at the start, which surge at once). Once every pod turns Ready the rollout converges: one pod
    /// per node, all at the current revision except the partition's.
    #[test]
    fn rolling_update_respects_its_budgets_and_converges(r in rollout()) {
        let mut sim = r.sim();
        let n = r.starts.len();
        let unavailable_at_start = sim.unavailable_nodes();
        let unready_old = r.starts.iter().filter(|s| matches!(s, Start::UnreadyOld)).count();
        let mut coin = r.coins.iter().cycle();
        let mut budgets = None;
        for _ in 0..3 * n + 6 {
            let sync = sim.sync();
            let (max_surge, max_unavailable) =
                *budgets.get_or_insert((sync.round.max_surge as usize, sync.round.max_unavailable as usize));
            prop_assert_eq!((sync.round.max_surge as usize, sync.round.max_unavailable as usize),
                (max_surge, max_unavailable));
            if max_surge == 0 {
                prop_assert!(sim.unavailable_nodes() <= unavailable_at_start.max(max_unavailable),
                    "{} nodes unavailable, maxUnavailable {}, {} at the start",
                    sim.unavailable_nodes(), max_unavailable, unavailable_at_start);
            } else {
                prop_assert!(sim.unavailable_nodes() <= unavailable_at_start);
                let bound = if r.strict { max_surge } else { max_surge + unready_old };
                prop_assert!(sim.extra_pods() <= bound, "{} extra pods, bound {}", sim.extra_pods(), bound);
            }
            let unready: Vec<String> = sim.pods().iter().filter(|p| !p.ready).map(|p| p.uid.clone()).collect();
            for uid in unready {
                if *coin.next().unwrap() {
                    let now = sim.now;
                    sim.relabel(&uid, |p| {
                        p.ready = true;
                        p.ready_since = Some(now);
                    });
                }
            }
            sim.now += Duration::seconds(10);
        }
        // Everything turns Ready, and minReadySeconds passes between syncs.
        let mut quiet = 0;
        for _ in 0..4 * n + 10 {
            sim.mark_ready();
            sim.now += Duration::seconds(i64::from(r.min_ready_seconds) + 1);
            let sync = sim.sync();
            quiet = if sync.creates + sync.deletes == 0 { quiet + 1 } else { 0 };
            if quiet == 2 {
                break;
            }
        }
        prop_assert_eq!(quiet, 2, "converged");
        prop_assert_eq!(sim.pods().len(), n, "one pod per node");
        prop_assert_eq!(sim.extra_pods(), 0);
        let empty = r.starts.iter().filter(|s| matches!(s, Start::Empty)).count();
        let kept = r.partition.map_or(0, |p| (p.clamp(0, n as i32) as usize).min(n - empty));
        prop_assert_eq!(sim.current(), n - kept, "all updated except the partition's");
    }
}

proptest! {
    #![proptest_config(config())]

    /// Rollback A → B → A restarts nothing that ran A: going back to A's template reuses A's revision (its hash),
    /// so every pod still on A when the rollback starts is kept, however far the rollout to B had got and
    /// whether B's pods became Ready.
    #[test]
    fn rollback_restarts_nothing_that_ran_a(
        n in 2usize..10,
        budget in 1i64..4,
        surge in any::<bool>(),
        rounds_on_b in 0usize..6,
        b_becomes_ready in any::<bool>(),
    ) {
        let strategy = if surge { max_surge(json!(budget)) } else { max_unavailable(json!(budget)) };
        let a = DsSpec::new().strategy(strategy.clone());
        let mut sim = Sim::new(nodes(n), vec![], &a);
        converge(&mut sim, 50);
        let hash_a = sim.ds.hash.clone();
        sim.update(&DsSpec::new().image("foo/bar:b").strategy(strategy.clone()));
        prop_assert_ne!(&sim.ds.hash, &hash_a);
        for _ in 0..rounds_on_b {
            sim.sync();
            if b_becomes_ready {
                sim.mark_ready();
            }
        }
        let still_on_a: BTreeSet<String> =
            sim.pods().iter().filter(|p| p.revision_hash() == Some(hash_a.as_str())).map(|p| p.name.clone()).collect();
        sim.update(&DsSpec::new().strategy(strategy));
        prop_assert_eq!(&sim.ds.hash, &hash_a, "the same template gives the same hash");
        converge(&mut sim, 100);
        let kept = names_of(&sim);
        for name in &still_on_a {
            prop_assert!(kept.contains(name), "{} ran A and was restarted", name);
        }
        prop_assert_eq!(sim.current(), n, "every node back on A");
    }
}

/// The planner's round (manage, then the rolling update with settled nodes only counted) for the Sim's state.
fn planner_round(sim: &Sim) -> (Vec<String>, Vec<String>) {
    let mut ds = (*sim.ds).clone();
    ds.rollout = sim.options.clone();
    let none = HashSet::new();
    let ctx = sim.ctx(&none, &none);
    let planner = daemonplane::engine::manage::Planner::new(Arc::new(ds), &sim.view, &ctx);
    let plan = planner.plan_round(&sim.view, &ctx, &mut sim.backoff.clone());
    (plan.creates, plan.deletes.into_iter().map(|d| d.uid).collect())
}

/// What a round must decide: manage, then the full rolling update with manage's actions in flight.
fn expected_round(sim: &Sim) -> (Vec<String>, BTreeSet<String>) {
    let none = HashSet::new();
    let plan = manage(&sim.ds, &sim.view, &sim.ctx(&none, &none), &mut sim.backoff.clone());
    let creating: HashSet<String> = plan.creates.iter().cloned().collect();
    let deleting: HashSet<String> = plan.deletes.iter().map(|d| d.uid.clone()).collect();
    let round = rolling_update(&sim.ds, &sim.view, &sim.ctx(&creating, &deleting), &sim.options);
    let mut creates = plan.creates.clone();
    creates.extend(round.creates.iter().take(sim.burst.saturating_sub(plan.creates.len())).cloned());
    let deletes =
        plan.deletes.iter().map(|d| d.uid.clone()).chain(round.deletes.iter().map(|d| d.deletion.uid.clone()));
    (creates, deletes.take(sim.burst).collect())
}

proptest! {
    #![proptest_config(config())]

    /// The planner's round skips settled nodes (one available pod of the current revision) and reads shouldRun
    /// from its cache; it must decide exactly what manage followed by the full rolling update decides.
    #[test]
    fn planner_round_equals_manage_then_rolling_update(r in rollout(), ready_each_round in any::<bool>()) {
        let mut sim = r.sim();
        for _ in 0..12 {
            let (creates, deletes) = planner_round(&sim);
            let (want_creates, want_deletes) = expected_round(&sim);
            prop_assert_eq!(&creates, &want_creates, "creates");
            prop_assert_eq!(&deletes.into_iter().collect::<BTreeSet<_>>(), &want_deletes, "deletes");
            let sync = sim.sync();
            if ready_each_round || (sync.creates == 0 && sync.deletes == 0) {
                sim.mark_ready();
            }
        }
    }
}
