//! Upstream-exact DaemonSet placement: `NodeShouldRunDaemonPod(node, ds) -> (shouldRun, shouldContinueRunning)`
//! and its predicates, as in `pkg/controller/daemon/daemon_controller.go`.
//!
//! A [`PlacementPolicy`] compiles a pod template once (selectors parsed, Gt/Lt values parsed, value lists sorted,
//! default tolerations merged) so that [`PlacementPolicy::evaluate`] runs over thousands of nodes without
//! allocating. Node labels and taints and the policy's keys and values are interned ([`Atom`]), so every
//! comparison is a pointer compare; per node the label keys it needs are resolved in one pass. Only labels,
//! name and taints of a node are read: node conditions, `spec.unschedulable`, resources and host ports are
//! left to the scheduler, exactly as upstream does since v1.12.
//!
//! Each concern has its file: `label_view` (a node's labels resolved for a policy), `node_affinity` (required
//! node affinity), `tolerations` (`Toleration.ToleratesTaint`) and `reasons` (why a node does not qualify).

mod label_view;
mod node_affinity;
mod reasons;
mod tolerations;

#[cfg(test)]
pub(super) mod fixtures;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};

pub use node_affinity::{
    NODE_SELECTOR_OP_DOES_NOT_EXIST, NODE_SELECTOR_OP_EXISTS, NODE_SELECTOR_OP_GT, NODE_SELECTOR_OP_IN,
    NODE_SELECTOR_OP_LT, NODE_SELECTOR_OP_NOT_IN, OBJECT_NAME_FIELD,
};
pub use reasons::Reason;

use label_view::LabelView;
use node_affinity::RequiredNodeAffinity;
use reasons::render_term;
use tolerations::{TaintEffect, TolerationTable};

use crate::engine::atom::Atom;
use crate::engine::atom_set::AtomSet;
use crate::engine::daemonset_util::{add_or_update_toleration, default_tolerations};
use crate::engine::label_set::LabelSet;
use crate::engine::model::Node;
use crate::engine::taint::{NO_EXECUTE, NO_SCHEDULE, NodeTaint};

/// Upstream NodeShouldRunDaemonPod result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Create a daemon pod here if none exists.
    pub should_run: bool,
    /// Keep an existing daemon pod here.
    pub should_continue_running: bool,
}

impl Placement {
    /// Everything fits: (true, true).
    pub const RUN: Placement = Placement { should_run: true, should_continue_running: true };
    /// nodeName, nodeSelector or affinity mismatch, or an untolerated NoExecute taint: (false, false).
    pub const DO_NOT_RUN: Placement = Placement { should_run: false, should_continue_running: false };
    /// Only NoSchedule taints are untolerated: no new pod, but an existing one stays (false, true).
    pub const KEEP_EXISTING: Placement = Placement { should_run: false, should_continue_running: true };
}

/// A DaemonSet pod template compiled once, evaluated against many nodes quickly.
#[derive(Clone, Debug)]
pub struct PlacementPolicy {
    /// `template.spec.nodeName` when non-empty.
    node_name: Option<Atom>,
    /// `template.spec.nodeSelector` as (slot, key, value): every key must exist with an equal value
    /// (not validated upstream).
    node_selector: Vec<(usize, Atom, Atom)>,
    required_affinity: RequiredNodeAffinity,
    /// Every required term as written, for [`Reason::NodeAffinityMismatch`].
    rendered_terms: Vec<String>,
    /// Every label key read by the selector and the terms; a requirement's slot indexes this list.
    label_keys: AtomSet,
    /// User tolerations plus the defaults, grouped by key.
    tolerations: TolerationTable,
    /// The NoSchedule and NoExecute effects, held here so that a taint's effect is two pointer compares.
    no_schedule: Atom,
    no_execute: Atom,
}

impl PlacementPolicy {
    /// Compile `template` as upstream's `NewPod(ds, node)` would see it (default tolerations added).
    pub fn new(template: &PodTemplateSpec) -> Self {
        let empty = PodSpec::default();
        let spec = template.spec.as_ref().unwrap_or(&empty);
        let mut keys = AtomSet::default();

        let node_name = spec.node_name.as_deref().filter(|n| !n.is_empty()).map(Atom::new);
        // nodeSelector keys get the first slots: they are read for every node that passes nodeName.
        let node_selector =
            spec.node_selector.iter().flatten().map(|(k, v)| (keys.intern(k), Atom::new(k), Atom::new(v))).collect();

        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
        let required_affinity = RequiredNodeAffinity::new(required, &mut keys);
        let rendered_terms =
            required.map(|ns| ns.node_selector_terms.iter().map(render_term).collect()).unwrap_or_default();

        // The evaluated pod carries the user's tolerations plus the controller defaults (upstream NewPod).
        let mut all = spec.tolerations.clone().unwrap_or_default();
        for default in default_tolerations(spec.host_network.unwrap_or(false)) {
            add_or_update_toleration(&mut all, &default);
        }

        PlacementPolicy {
            node_name,
            node_selector,
            required_affinity,
            rendered_terms,
            label_keys: keys,
            tolerations: TolerationTable::new(&all),
            no_schedule: NO_SCHEDULE.clone(),
            no_execute: NO_EXECUTE.clone(),
        }
    }

    /// Hot path: no heap allocation per call. To evaluate many nodes, prefer [`Self::evaluator`].
    pub fn evaluate(&self, node: &Node) -> Placement {
        self.decide(node, LabelView::new(&self.label_keys, &node.labels))
    }

    /// An evaluator for many nodes in a row: it remembers where this policy's label keys sat on the last node
    /// and reuses that when the next node carries the same label keys (nodes of a pool usually do).
    pub fn evaluator<'n>(&self) -> PlacementEvaluator<'_, 'n> {
        PlacementEvaluator { policy: self, last: None }
    }

    /// shouldRun / shouldContinueRunning from the node and its resolved label view.
    #[inline(always)]
    fn decide(&self, node: &Node, labels: LabelView<'_>) -> Placement {
        if let Some(want) = &self.node_name
            && !want.is(&node.name)
        {
            return Placement::DO_NOT_RUN;
        }
        if !self.fits_node_selector(&labels) || !self.required_affinity.matches(&node.name, &labels) {
            return Placement::DO_NOT_RUN;
        }
        let mut untolerated_no_schedule = false;
        for taint in &node.taints {
            let Some(effect) = self.effect(&taint.effect) else {
                continue;
            };
            if self.tolerates(taint, effect) {
                continue;
            }
            if effect == TaintEffect::NoExecute {
                // An untolerated NoExecute taint also evicts existing pods; nothing later can change that.
                return Placement::DO_NOT_RUN;
            }
            untolerated_no_schedule = true;
        }
        if untolerated_no_schedule { Placement::KEEP_EXISTING } else { Placement::RUN }
    }

    /// Same decision plus every reason (empty when should_run).
    ///
    /// Unlike upstream, which stops at the first failing check, this reports every failed check so that an
    /// operator sees all fixes needed at once; the decision is identical to [`Self::evaluate`].
    pub fn explain(&self, node: &Node) -> (Placement, Vec<Reason>) {
        let mut reasons = Vec::new();
        let mut should_continue_running = true;

        if let Some(want) = &self.node_name
            && !want.is(&node.name)
        {
            reasons.push(Reason::NodeNameMismatch { want: want.to_string() });
            should_continue_running = false;
        }
        let labels = LabelView::new(&self.label_keys, &node.labels);
        for (slot, key, want) in &self.node_selector {
            let got = labels.get(*slot, key);
            if !got.is_some_and(|got| got.is(want)) {
                reasons.push(Reason::NodeSelectorMismatch {
                    key: key.to_string(),
                    want: want.to_string(),
                    got: got.map(Atom::to_string),
                });
                should_continue_running = false;
            }
        }
        if !self.required_affinity.matches(&node.name, &labels) {
            reasons.push(Reason::NodeAffinityMismatch { terms: self.rendered_terms.clone() });
            should_continue_running = false;
        }
        for taint in &node.taints {
            if let Some(effect) = self.effect(&taint.effect)
                && !self.tolerates(taint, effect)
            {
                reasons.push(Reason::UntoleratedTaint { taint: taint.to_k8s() });
                if effect == TaintEffect::NoExecute {
                    should_continue_running = false;
                }
            }
        }

        let placement = Placement { should_run: reasons.is_empty(), should_continue_running };
        debug_assert_eq!(placement, self.evaluate(node), "explain and evaluate disagree on node {}", node.name);
        (placement, reasons)
    }

    /// The effect of a taint if placement considers it; PreferNoSchedule and unknown effects are skipped.
    #[inline]
    fn effect(&self, effect: &Atom) -> Option<TaintEffect> {
        if effect.is(&self.no_schedule) {
            Some(TaintEffect::NoSchedule)
        } else if effect.is(&self.no_execute) {
            Some(TaintEffect::NoExecute)
        } else {
            None
        }
    }

    /// `labels.SelectorFromSet(spec.nodeSelector)`: every key present with an equal value.
    fn fits_node_selector(&self, labels: &LabelView<'_>) -> bool {
        self.node_selector.iter().all(|(slot, key, want)| labels.get(*slot, key).is_some_and(|got| got.is(want)))
    }

    /// `TolerationsTolerateTaint` over the pod's tolerations (defaults included).
    fn tolerates(&self, taint: &NodeTaint, effect: TaintEffect) -> bool {
        self.tolerations.tolerates(taint, effect)
    }
}

/// [`PlacementPolicy::evaluate`] over many nodes, reusing the label lookups of the previous node when the
/// next one has the same label keys (nodes of a pool usually do). Finding the policy's keys among a node's
/// labels is a probe per label; checking that the keys are the previous node's is a compare per label. The
/// previous node's labels are borrowed, not copied, so the check costs no allocation, and the borrow keeps
/// their keys alive (an address seen cannot come back as another key).
pub struct PlacementEvaluator<'p, 'n> {
    policy: &'p PlacementPolicy,
    /// The previous node's labels and their [`LabelView`] positions.
    last: Option<(&'n LabelSet, u64)>,
}

impl<'n> PlacementEvaluator<'_, 'n> {
    /// The same decision as [`PlacementPolicy::evaluate`].
    pub fn evaluate(&mut self, node: &'n Node) -> Placement {
        let labels = &node.labels;
        let view = match self.last {
            Some((last, at)) if same_keys(last, labels) => LabelView { labels, at },
            _ => {
                let view = LabelView::new(&self.policy.label_keys, labels);
                self.last = Some((labels, view.at));
                view
            }
        };
        self.policy.decide(node, view)
    }
}

/// Both label sets have the same keys in the same order (values aside).
#[inline(always)]
fn same_keys(a: &LabelSet, b: &LabelSet) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).fold(0, |diff, ((x, _), (y, _))| diff | (x.addr() ^ y.addr())) == 0
}

/// One-shot `NodeShouldRunDaemonPod`; prefer a reused [`PlacementPolicy`] when evaluating many nodes.
pub fn node_should_run_daemon_pod(template: &PodTemplateSpec, node: &Node) -> Placement {
    PlacementPolicy::new(template).evaluate(node)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use serde_json::{Value, json};

    use super::fixtures::{
        DO_NOT_RUN, KEEP_EXISTING, RUN, SIMPLE_DAEMON_SET_LABEL, decide, labels_json, node, required_terms, taint,
        tainted, template,
    };
    use super::*;
    use crate::engine::daemonset_util::{
        TAINT_NODE_DISK_PRESSURE, TAINT_NODE_MEMORY_PRESSURE, TAINT_NODE_NETWORK_UNAVAILABLE, TAINT_NODE_NOT_READY,
        TAINT_NODE_PID_PRESSURE, TAINT_NODE_UNREACHABLE, TAINT_NODE_UNSCHEDULABLE,
    };
    use crate::engine::model::{HostPort, OtherPods, Resources};

    // Upstream fixtures of pkg/controller/daemon/daemon_controller_test.go.
    const SIMPLE_DAEMON_SET_LABEL2: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "test")];
    const SIMPLE_NODE_LABEL: &[(&str, &str)] = &[("color", "blue"), ("speed", "fast")];
    const SIMPLE_NODE_LABEL2: &[(&str, &str)] = &[("color", "red"), ("speed", "fast")];

    fn with_conditions(mut n: Node, conditions: &[(&str, &str)]) -> Node {
        n.conditions = conditions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        n
    }

    /// `addNodes`: node-<start>..node-<start+count-1> with the given labels.
    fn add_nodes(start: usize, count: usize, labels: &[(&str, &str)]) -> Vec<Node> {
        (start..start + count).map(|i| node(&format!("node-{i}"), labels)).collect()
    }

    /// Names of the nodes that should run a daemon pod, i.e. where one sync would create pods.
    fn should_run_on(template: &PodTemplateSpec, nodes: &[Node]) -> Vec<String> {
        nodes.iter().filter(|n| decide(template, n).should_run).map(|n| n.name.to_string()).collect()
    }

    // ----------------------------------------------------------------------------------------------------
    // Upstream cases, one node each: DC = pkg/controller/daemon/daemon_controller_test.go,
    // IT = test/integration/daemonset/daemonset_test.go
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn upstream_single_node_scenarios() {
        let requests_75 = json!({"containers": [{"name": "c", "image": "foo/bar",
            "resources": {"requests": {"memory": "75M", "cpu": "75m"}}}], "nodeName": "too-much-mem"});
        let mut small_node = node("too-much-mem", &[]);
        small_node.allocatable = Resources { cpu_millis: 200, memory_bytes: 100_000_000, pods: 100 };
        small_node.other_pods = OtherPods {
            requested: Resources { cpu_millis: 75, memory_bytes: 75_000_000, pods: 1 },
            pod_count: 1,
            host_ports: vec![],
        };
        let port_666 = json!({"nodeName": "port-conflict",
            "containers": [{"name": "c", "image": "foo/bar", "ports": [{"containerPort": 666, "hostPort": 666}]}]});
        let mut port_node = node("port-conflict", &[]);
        port_node.other_pods.host_ports =
            vec![HostPort { port: 666, protocol: "TCP".into(), host_ip: Default::default() }];
        let port_6662 = json!({"containers": [{"name": "c", "image": "foo/bar",
            "ports": [{"containerPort": 6662, "hostPort": 6662}]}]});
        let mut port_6661_node = node("no-port-conflict", &[]);
        port_6661_node.other_pods.host_ports =
            vec![HostPort { port: 6661, protocol: "TCP".into(), host_ip: Default::default() }];
        let dedicated_toleration =
            json!({"tolerations": [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]});

        let rows: Vec<(&str, PodTemplateSpec, Node, Placement)> = vec![
            (
                "DC TestNotReadyNodeDaemonDoesLaunchPod: Ready=False without taint",
                template(json!({})),
                with_conditions(node("not-ready", &[]), &[("Ready", "False")]),
                RUN,
            ),
            (
                "DC TestNetworkUnavailableNodeDaemonLaunchesPod: NetworkUnavailable=True without taint",
                template(json!({})),
                with_conditions(node("network-unavailable", &[]), &[("NetworkUnavailable", "True")]),
                RUN,
            ),
            (
                "DC TestInsufficientCapacityNodeDaemonDoesNotUnscheduleRunningPod: resources ignored",
                template(requests_75),
                small_node,
                RUN,
            ),
            ("DC TestPortConflictWithSameDaemonPodDoesNotDeletePod: ports ignored", template(port_666), port_node, RUN),
            ("DC TestNoPortConflictNodeDaemonLaunchesPod", template(port_6662), port_6661_node, RUN),
            (
                "DC TestTaintedNodeDaemonDoesNotLaunchIntolerantPod",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                KEEP_EXISTING,
            ),
            (
                "DC TestTaintedNodeDaemonLaunchesToleratePod: empty operator means Equal",
                template(dedicated_toleration.clone()),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                RUN,
            ),
            (
                "DC TestNodeDaemonLaunchesToleratePod: untainted node",
                template(dedicated_toleration),
                node("untainted", &[]),
                RUN,
            ),
            (
                "DC TestNotReadyNodeDaemonLaunchesPod: default not-ready toleration",
                template(json!({})),
                with_conditions(
                    tainted(node("not-ready", &[]), vec![taint(TAINT_NODE_NOT_READY, "", "NoExecute")]),
                    &[("Ready", "False")],
                ),
                RUN,
            ),
            (
                "DC TestUnreachableNodeDaemonLaunchesPod: default unreachable toleration",
                template(json!({})),
                with_conditions(
                    tainted(node("unreachable", &[]), vec![taint(TAINT_NODE_UNREACHABLE, "", "NoExecute")]),
                    &[("Ready", "Unknown")],
                ),
                RUN,
            ),
            (
                "DC TestTaintPressureNodeDaemonLaunchesPod: pressure taints tolerated by default",
                template(json!({"priority": 2_000_000_000, "priorityClassName": "system-node-critical"})),
                with_conditions(
                    tainted(
                        node("resources-pressure", &[]),
                        vec![
                            taint(TAINT_NODE_DISK_PRESSURE, "", "NoSchedule"),
                            taint(TAINT_NODE_MEMORY_PRESSURE, "", "NoSchedule"),
                            taint(TAINT_NODE_PID_PRESSURE, "", "NoSchedule"),
                        ],
                    ),
                    &[("DiskPressure", "True"), ("MemoryPressure", "True"), ("PIDPressure", "True")],
                ),
                RUN,
            ),
            (
                "DC TestNoScheduleTaintedDoesntEvicitRunningIntolerantPod: existing pod stays",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                KEEP_EXISTING,
            ),
            (
                "DC TestNoExecuteTaintedDoesEvicitRunningIntolerantPod: existing pod deleted",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoExecute")]),
                DO_NOT_RUN,
            ),
        ];
        for (name, template, node, want) in rows {
            assert_eq!(decide(&template, &node), want, "{name}");
        }
    }

    #[test]
    fn upstream_it_unschedulable_node_daemon_does_launch_pod_host_network() {
        // IT TestUnschedulableNodeDaemonDoesLaunchPod.
        let mut cordoned = tainted(node("node-a", &[]), vec![taint(TAINT_NODE_UNSCHEDULABLE, "", "NoSchedule")]);
        cordoned.unschedulable = true;
        let network_down = with_conditions(
            tainted(node("node-b", &[]), vec![taint(TAINT_NODE_NETWORK_UNAVAILABLE, "", "NoSchedule")]),
            &[("Ready", "False")],
        );
        let host_network = template(json!({"hostNetwork": true}));
        assert_eq!(decide(&host_network, &cordoned), RUN);
        assert_eq!(decide(&host_network, &network_down), RUN);
        assert_eq!(should_run_on(&host_network, &[cordoned.clone(), network_down.clone()]).len(), 2);
        // Without hostNetwork the network-unavailable toleration is not added.
        let pod_network = template(json!({}));
        assert_eq!(decide(&pod_network, &cordoned), RUN);
        assert_eq!(decide(&pod_network, &network_down), KEEP_EXISTING);
        let explicit_false = template(json!({"hostNetwork": false}));
        assert_eq!(decide(&explicit_false, &network_down), KEEP_EXISTING);
    }

    #[test]
    fn upstream_dc_test_node_should_run_daemon_pod() {
        // DC TestNodeShouldRunDaemonPod: node "test-node" labelled with the DS labels, 100M / 1 CPU allocatable.
        let resource_pod_spec = |node_name: &str, memory: &str, cpu: &str| {
            json!({"nodeName": node_name, "containers": [{"name": "c", "image": "foo/bar",
                "resources": {"requests": {"memory": memory, "cpu": cpu}}}]})
        };
        let base = {
            let mut n = node("test-node", SIMPLE_DAEMON_SET_LABEL);
            n.allocatable = Resources { cpu_millis: 1000, memory_bytes: 100_000_000, pods: 100 };
            n
        };
        let with_port_666 = {
            let mut n = base.clone();
            n.other_pods.host_ports = vec![HostPort { port: 666, protocol: "TCP".into(), host_ip: Default::default() }];
            n.other_pods.pod_count = 1;
            n
        };
        let with_port_and_50m = {
            let mut n = with_port_666.clone();
            n.other_pods.requested = Resources { cpu_millis: 500, memory_bytes: 50_000_000, pods: 1 };
            n
        };
        let unschedulable = {
            let mut n = base.clone();
            n.unschedulable = true;
            n
        };
        let affinity_type = |value: &str| {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "type", "operator": "In", "values": [value]}]}]}}}})
        };
        let rows: Vec<(&str, Value, &Node, Placement)> = vec![
            ("ShouldRunDaemonPod", resource_pod_spec("", "50M", "0.5"), &base, RUN),
            ("InsufficientResourceError (200M)", resource_pod_spec("", "200M", "0.5"), &base, RUN),
            ("ErrPodNotMatchHostName", resource_pod_spec("other-node", "50M", "0.5"), &base, DO_NOT_RUN),
            (
                "ErrPodNotFitsHostPorts",
                json!({"containers": [{"name": "c", "image": "foo/bar", "ports": [{"containerPort": 666, "hostPort": 666}]}]}),
                &with_port_666,
                RUN,
            ),
            ("InsufficientResourceError (port + 100M)", resource_pod_spec("", "100M", "0.5"), &with_port_and_50m, RUN),
            ("ShouldRunDaemonPod (port + 50M)", resource_pod_spec("", "50M", "0.5"), &with_port_and_50m, RUN),
            (
                "ErrNodeSelectorNotMatch",
                json!({"nodeSelector": labels_json(SIMPLE_DAEMON_SET_LABEL2)}),
                &base,
                DO_NOT_RUN,
            ),
            (
                "ShouldRunDaemonPod (nodeSelector)",
                json!({"nodeSelector": labels_json(SIMPLE_DAEMON_SET_LABEL)}),
                &base,
                RUN,
            ),
            ("ErrPodAffinityNotMatch", affinity_type("test"), &base, DO_NOT_RUN),
            ("ShouldRunDaemonPod (affinity)", affinity_type("production"), &base, RUN),
            ("ShouldRunDaemonPodOnUnschedulableNode", resource_pod_spec("", "50M", "0.5"), &unschedulable, RUN),
        ];
        for (predicate_name, spec_json, node, want) in rows {
            assert_eq!(decide(&template(spec_json), node), want, "TestNodeShouldRunDaemonPod/{predicate_name}");
        }
    }

    // ----------------------------------------------------------------------------------------------------
    // Upstream cases over several nodes: where one sync creates pods
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn upstream_fleet_scenarios() {
        let mixed = || {
            let mut nodes = add_nodes(0, 4, &[]);
            nodes.extend(add_nodes(4, 3, SIMPLE_NODE_LABEL));
            nodes
        };
        let capacity_nodes = {
            let mut small = node("too-much-mem", &[]);
            small.allocatable.memory_bytes = 10_000_000;
            let mut big = node("enough-mem", SIMPLE_NODE_LABEL);
            big.allocatable.memory_bytes = 100_000_000;
            vec![small, big]
        };
        let selector = labels_json(SIMPLE_NODE_LABEL);
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let rows: Vec<(&str, PodTemplateSpec, Vec<Node>, Vec<String>)> = vec![
            (
                "DC TestSimpleDaemonSetLaunchesPods",
                template(json!({})),
                add_nodes(0, 5, &[]),
                names(&["node-0", "node-1", "node-2", "node-3", "node-4"]),
            ),
            ("DC TestNoNodesDoesNothing", template(json!({})), vec![], vec![]),
            ("DC TestOneNodeDaemonLaunchesPod", template(json!({})), add_nodes(0, 1, &[]), names(&["node-0"])),
            (
                "DC TestInsufficientCapacityNodeSufficientCapacityWithNodeLabelDaemonLaunchPod",
                template(json!({"nodeSelector": selector.clone(),
                    "containers": [{"name": "c", "image": "foo/bar", "resources": {"requests": {"memory": "75M"}}}]})),
                capacity_nodes,
                names(&["enough-mem"]),
            ),
            (
                "DC TestSelectorDaemonLaunchesPods",
                template(json!({"nodeSelector": selector.clone()})),
                mixed(),
                names(&["node-4", "node-5", "node-6"]),
            ),
            (
                "DC TestBadSelectorDaemonDoesNothing",
                template(json!({"nodeSelector": labels_json(SIMPLE_NODE_LABEL2)})),
                mixed(),
                vec![],
            ),
            (
                "DC TestNameDaemonSetLaunchesPods",
                template(json!({"nodeName": "node-0"})),
                add_nodes(0, 5, &[]),
                names(&["node-0"]),
            ),
            (
                "DC TestBadNameDaemonSetDoesNothing",
                template(json!({"nodeName": "node-10"})),
                add_nodes(0, 5, &[]),
                vec![],
            ),
            (
                "DC TestNameAndSelectorDaemonSetLaunchesPods",
                template(json!({"nodeSelector": selector.clone(), "nodeName": "node-6"})),
                mixed(),
                names(&["node-6"]),
            ),
            (
                "DC TestInconsistentNameSelectorDaemonSetDoesNothing",
                template(json!({"nodeSelector": selector, "nodeName": "node-0"})),
                mixed(),
                vec![],
            ),
            (
                "DC TestNodeAffinityDaemonLaunchesPods",
                required_terms(json!([{"matchExpressions": [{"key": "color", "operator": "In", "values": ["blue"]}]}])),
                mixed(),
                names(&["node-4", "node-5", "node-6"]),
            ),
            (
                "IT TestDaemonSetWithNodeSelectorLaunchesPods: terms are ORed",
                required_terms(json!([
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["test"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
                ])),
                {
                    let mut nodes = add_nodes(0, 2, &[]);
                    nodes.extend(add_nodes(2, 2, &[("zone", "test")]));
                    nodes.extend(add_nodes(4, 2, &[]));
                    nodes
                },
                names(&["node-1", "node-2", "node-3"]),
            ),
        ];
        for (name, template, nodes, want) in rows {
            assert_eq!(should_run_on(&template, &nodes), want, "{name}");
        }
    }

    #[test]
    fn upstream_it_tainted_node() {
        // IT TestTaintedNode: one pod while the taint exists, two once it is removed.
        let ds = template(json!({}));
        let with_taint = tainted(node("node-with-taint", &[]), vec![taint("key1", "val1", "NoSchedule")]);
        let without_taint = node("node-without-taint", &[]);
        assert_eq!(should_run_on(&ds, &[with_taint.clone(), without_taint.clone()]), vec!["node-without-taint"]);
        let untainted = tainted(with_taint, vec![]);
        assert_eq!(should_run_on(&ds, &[untainted, without_taint]).len(), 2);
    }

    // ----------------------------------------------------------------------------------------------------
    // The checks together, and one compiled policy over many nodes
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn node_selector_and_required_affinity_are_anded() {
        let n = node("node-1", &[("zone", "a"), ("disktype", "ssd")]);
        let with = |selector: Value, zone: &str| {
            template(
                json!({"nodeSelector": selector, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]}}}}),
            )
        };
        assert_eq!(decide(&with(json!({"disktype": "ssd"}), "a"), &n), RUN);
        assert_eq!(decide(&with(json!({"disktype": "hdd"}), "a"), &n), DO_NOT_RUN, "selector fails, affinity holds");
        assert_eq!(decide(&with(json!({"disktype": "ssd"}), "b"), &n), DO_NOT_RUN, "selector holds, affinity fails");
        assert_eq!(decide(&with(json!({"missing": "x"}), "a"), &n), DO_NOT_RUN, "selector key absent");
        // An empty nodeSelector value needs the label present with an empty value.
        let empty_value = template(json!({"nodeSelector": {"flag": ""}}));
        assert_eq!(decide(&empty_value, &node("n", &[("flag", "")])), RUN);
        assert_eq!(decide(&empty_value, &node("n", &[])), DO_NOT_RUN);
        assert_eq!(decide(&template(json!({"nodeSelector": {}})), &n), RUN);
    }

    #[test]
    fn node_conditions_and_unschedulable_are_never_read() {
        let mut n = with_conditions(
            node("sick", &[]),
            &[("Ready", "False"), ("NetworkUnavailable", "True"), ("MemoryPressure", "True"), ("DiskPressure", "True")],
        );
        n.unschedulable = true;
        n.allocatable = Resources::default();
        assert_eq!(decide(&template(json!({})), &n), RUN);
    }

    #[test]
    fn one_policy_over_a_fleet() {
        // A compiled policy is reusable: the same decisions as fresh evaluations, node after node.
        let ds = template(json!({
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}, {"key": "gen", "operator": "Gt", "values": ["3"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["c"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]},
            ]}}},
        }));
        let policy = PlacementPolicy::new(&ds);
        let zones = ["a", "b", "c", "d"];
        let nodes: Vec<Node> = (0..40)
            .map(|i| {
                let gen_label = (i % 6).to_string();
                let mut labels = vec![("zone", zones[i % 4]), ("gen", gen_label.as_str())];
                if !i.is_multiple_of(3) {
                    labels.push(("pool", "gpu"));
                }
                let mut n = node(&format!("node-{i}"), &labels);
                if i.is_multiple_of(5) {
                    n.taints.push(taint("nvidia.com/gpu", "present", "NoSchedule"));
                }
                if i.is_multiple_of(7) {
                    n.taints.push(taint("maintenance", "", "NoExecute"));
                }
                n
            })
            .collect();
        let mut runs = 0;
        for n in &nodes {
            let placement = policy.evaluate(n);
            assert_eq!(placement, decide(&ds, n), "{}", n.name);
            let i: usize = n.name["node-".len()..].parse().unwrap();
            let gen_ok = i % 6 > 3;
            let affinity_ok = ((zones[i % 4] == "a" || zones[i % 4] == "b") && gen_ok) || zones[i % 4] == "c" || i == 7;
            let expected = if i.is_multiple_of(3) || !affinity_ok || i.is_multiple_of(7) { DO_NOT_RUN } else { RUN };
            assert_eq!(placement, expected, "{}", n.name);
            runs += usize::from(placement.should_run);
        }
        assert!(runs > 0, "the fleet case must exercise should_run");
        // The evaluator (what the planner uses) decides the same, node after node.
        let mut evaluator = policy.evaluator();
        for n in &nodes {
            assert_eq!(evaluator.evaluate(n), policy.evaluate(n), "{}", n.name);
        }
    }

    #[test]
    fn the_evaluator_reuses_label_lookups_only_for_the_same_keys() {
        let policy = PlacementPolicy::new(&template(json!({
            "nodeSelector": {"pool": "web"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "rack", "operator": "DoesNotExist"}]},
            ]}}},
        })));
        // Consecutive nodes whose keys differ in one key at the same position, in number, or not at all (values
        // differ): a reused lookup would read the wrong label or a missing one.
        let shapes: Vec<Vec<(&str, &str)>> = vec![
            vec![("pool", "web"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "b")],
            vec![("pool", "web"), ("zonf", "a")],
            vec![("pool", "web"), ("rack", "r1"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "a")],
            vec![("pool", "db"), ("zone", "a")],
            vec![("pool", "web")],
            vec![],
            vec![("a", "1"), ("pool", "web"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "a")],
        ];
        let nodes: Vec<Node> = shapes.iter().enumerate().map(|(i, l)| node(&format!("n{i}"), l)).collect();
        let mut evaluator = policy.evaluator();
        let decided: Vec<bool> = nodes.iter().map(|n| evaluator.evaluate(n).should_run).collect();
        let fresh: Vec<bool> = nodes.iter().map(|n| policy.evaluate(n).should_run).collect();
        assert_eq!(decided, fresh);
        assert_eq!(decided, [true, false, false, false, true, false, false, false, true, true]);
    }
}
