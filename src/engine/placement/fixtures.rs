//! Test fixtures for placement: templates and nodes from compact descriptions, and a decision helper that
//! cross-checks every way of evaluating a node.

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, Taint};
use serde_json::{Value, json};

use super::{Placement, PlacementPolicy, node_should_run_daemon_pod};
use crate::engine::model::Node;

/// newDaemonSet's labels in `pkg/controller/daemon/daemon_controller_test.go`.
pub(crate) const SIMPLE_DAEMON_SET_LABEL: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "production")];

pub(crate) const RUN: Placement = Placement::RUN;
pub(crate) const DO_NOT_RUN: Placement = Placement::DO_NOT_RUN;
pub(crate) const KEEP_EXISTING: Placement = Placement::KEEP_EXISTING;

pub(crate) fn labels_json(labels: &[(&str, &str)]) -> Value {
    Value::Object(labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
}

/// A PodSpec from JSON; a container is added when missing because the API requires one.
pub(crate) fn spec(v: Value) -> PodSpec {
    let mut v = v;
    v.as_object_mut()
        .expect("spec must be a JSON object")
        .entry("containers")
        .or_insert(json!([{"name": "c", "image": "foo/bar"}]));
    serde_json::from_value(v).expect("valid PodSpec")
}

/// A DaemonSet template (labelled like upstream's newDaemonSet) with the given spec.
pub(crate) fn template(spec_json: Value) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(
            serde_json::from_value(json!({"labels": labels_json(SIMPLE_DAEMON_SET_LABEL)})).expect("valid metadata"),
        ),
        spec: Some(spec(spec_json)),
    }
}

/// A template whose only constraint is one required term.
pub(crate) fn required_terms(terms: Value) -> PodTemplateSpec {
    template(json!({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
}

pub(crate) fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    Node { name: name.into(), labels: labels.iter().copied().collect(), ..Node::default() }
}

pub(crate) fn tainted(mut n: Node, taints: Vec<Taint>) -> Node {
    n.taints = taints.into();
    n
}

pub(crate) fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: (!value.is_empty()).then(|| value.to_owned()),
        effect: effect.to_owned(),
        time_added: None,
    }
}

/// The decision, cross-checked: explain agrees with evaluate, reasons are empty exactly when should_run,
/// and the one-shot helper agrees too.
pub(crate) fn decide(template: &PodTemplateSpec, node: &Node) -> Placement {
    let policy = PlacementPolicy::new(template);
    let placement = policy.evaluate(node);
    let (explained, reasons) = policy.explain(node);
    assert_eq!(placement, explained, "explain disagrees with evaluate on {}", node.name);
    assert_eq!(reasons.is_empty(), placement.should_run, "reasons {reasons:?} vs {placement:?}");
    assert_eq!(placement, node_should_run_daemon_pod(template, node));
    placement
}
