//! Upstream `pkg/controller/daemon/util/daemonset_util.go`: the tolerations every daemon pod gets
//! (AddOrUpdateDaemonPodTolerations), the node pinning of a created pod (ReplaceDaemonSetPodNodeNameNodeAffinity)
//! and reading it back (GetTargetNodeName).

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Toleration,
};

use super::placement::{NODE_SELECTOR_OP_IN, OBJECT_NAME_FIELD};

/// `v1.TaintNodeNotReady`.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `v1.TaintNodeUnreachable`.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `v1.TaintNodeDiskPressure`.
pub const TAINT_NODE_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `v1.TaintNodeMemoryPressure`.
pub const TAINT_NODE_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `v1.TaintNodePIDPressure`.
pub const TAINT_NODE_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `v1.TaintNodeUnschedulable`.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `v1.TaintNodeNetworkUnavailable`.
pub const TAINT_NODE_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// `v1.TaintEffectNoSchedule`.
pub const TAINT_EFFECT_NO_SCHEDULE: &str = "NoSchedule";
/// `v1.TaintEffectNoExecute`.
pub const TAINT_EFFECT_NO_EXECUTE: &str = "NoExecute";

/// `v1.TolerationOpExists`.
pub const TOLERATION_OP_EXISTS: &str = "Exists";
/// `v1.TolerationOpEqual` (an empty operator means the same).
pub const TOLERATION_OP_EQUAL: &str = "Equal";

/// The default tolerations the controller adds, in upstream order; network-unavailable only when
/// `host_network`. None has tolerationSeconds, i.e. they tolerate forever.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let exists = |key: &str, effect: &str| Toleration {
        key: Some(key.to_owned()),
        operator: Some(TOLERATION_OP_EXISTS.to_owned()),
        effect: Some(effect.to_owned()),
        value: None,
        toleration_seconds: None,
    };
    let mut tolerations = vec![
        exists(TAINT_NODE_NOT_READY, TAINT_EFFECT_NO_EXECUTE),
        exists(TAINT_NODE_UNREACHABLE, TAINT_EFFECT_NO_EXECUTE),
        exists(TAINT_NODE_DISK_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_MEMORY_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_PID_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_UNSCHEDULABLE, TAINT_EFFECT_NO_SCHEDULE),
    ];
    if host_network {
        tolerations.push(exists(TAINT_NODE_NETWORK_UNAVAILABLE, TAINT_EFFECT_NO_SCHEDULE));
    }
    tolerations
}

/// `AddOrUpdateDaemonPodTolerations`: apply every default toleration (hostNetwork taken from `spec`) with
/// `AddOrUpdateTolerationInPodSpec` semantics.
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let mut tolerations = spec.tolerations.take().unwrap_or_default();
    for default in default_tolerations(spec.host_network.unwrap_or(false)) {
        add_or_update_toleration(&mut tolerations, &default);
    }
    spec.tolerations = Some(tolerations);
}

/// `Toleration.MatchToleration`: same key, effect, operator and value (absent and empty are the same).
fn match_toleration(a: &Toleration, b: &Toleration) -> bool {
    fn s(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    s(&a.key) == s(&b.key)
        && s(&a.effect) == s(&b.effect)
        && s(&a.operator) == s(&b.operator)
        && s(&a.value) == s(&b.value)
}

/// `AddOrUpdateTolerationInPodSpec`: if some matching toleration is already semantically equal, nothing
/// changes; otherwise every matching one is replaced by `toleration` (dropping its tolerationSeconds), and
/// `toleration` is appended when none matched. Returns whether the list changed.
pub(crate) fn add_or_update_toleration(tolerations: &mut Vec<Toleration>, toleration: &Toleration) -> bool {
    // Given a tuple match, Semantic.DeepEqual only differs on tolerationSeconds.
    let identical =
        |t: &Toleration| match_toleration(t, toleration) && t.toleration_seconds == toleration.toleration_seconds;
    if tolerations.iter().any(identical) {
        return false;
    }
    let mut updated = false;
    for existing in tolerations.iter_mut() {
        if match_toleration(existing, toleration) {
            *existing = toleration.clone();
            updated = true;
        }
    }
    if !updated {
        tolerations.push(toleration.clone());
    }
    true
}

/// The single required term every created daemon pod gets: `matchFields metadata.name In [node]`.
fn node_name_term(node_name: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: OBJECT_NAME_FIELD.to_owned(),
            operator: NODE_SELECTOR_OP_IN.to_owned(),
            values: Some(vec![node_name.to_owned()]),
        }]),
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required terms are replaced by the single term
/// `matchFields metadata.name In [node]`; preferred terms and pod (anti-)affinity are kept.
pub fn replace_node_name_node_affinity(affinity: Option<Affinity>, node_name: &str) -> Affinity {
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity.node_affinity.get_or_insert_with(Default::default);
    // NodeSelector has no field besides the terms, so replacing the terms equals replacing the selector.
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![node_name_term(node_name)] });
    affinity
}

/// `GetTargetNodeName`: `spec.nodeName`, else the first `matchFields metadata.name In` requirement of
/// the required terms, which must have exactly one value. `None` where upstream returns an error (the
/// controller then ignores the pod).
pub fn target_node_name(spec: &PodSpec) -> Option<String> {
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    for term in terms {
        for req in term.match_fields.iter().flatten() {
            if req.key == OBJECT_NAME_FIELD && req.operator == NODE_SELECTOR_OP_IN {
                // The first such requirement decides, even when later ones would be unique.
                return match req.values.as_deref().unwrap_or_default() {
                    [only] => Some(only.clone()),
                    _ => None,
                };
            }
        }
    }
    None
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Affinity, PodSpec, Toleration};
    use serde_json::{Value, json};

    use super::super::placement::fixtures::spec;
    use super::*;

    fn toleration(v: Value) -> Toleration {
        serde_json::from_value(v).expect("valid Toleration")
    }

    fn affinity(v: Value) -> Affinity {
        serde_json::from_value(v).expect("valid Affinity")
    }

    fn pinned(node: &str) -> Value {
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}})
    }

    #[test]
    fn upstream_ut_replace_daemon_set_pod_node_name_node_affinity() {
        let expected = affinity(json!({"nodeAffinity": pinned("host_1")}));
        let hostname_in =
            json!({"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host_1"]}]});
        let preferred = json!([{"weight": 1, "preference": hostname_in.clone()}]);
        let rows: Vec<(&str, Option<Affinity>, Affinity)> = vec![
            ("nil affinity", None, expected.clone()),
            (
                "required hostname expression is replaced",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [hostname_in.clone()]}}}))),
                expected.clone(),
            ),
            (
                "preferred-only: preferred kept, required added",
                Some(affinity(
                    json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred.clone()}}),
                )),
                affinity(json!({"nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": preferred,
                    "requiredDuringSchedulingIgnoredDuringExecution": pinned("host_1")["requiredDuringSchedulingIgnoredDuringExecution"].clone(),
                }})),
            ),
            (
                "matchFields In [host_1, host_2] narrowed",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_1", "host_2"]}]}]}}}))),
                expected.clone(),
            ),
            ("nil affinity (repeated upstream row)", None, expected.clone()),
            (
                "two terms (expression / field host_2) become one",
                Some(affinity(
                    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "hostname", "operator": "In", "values": ["host_1"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_2"]}]},
                    ]}}}),
                )),
                expected.clone(),
            ),
            (
                "NotIn host_2 becomes In host_1",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["host_2"]}]}]}}}))),
                expected.clone(),
            ),
            (
                "unknown field key metadata.foo is replaced",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.foo", "operator": "In", "values": ["bar"]}]}]}}}))),
                expected,
            ),
        ];
        for (name, input, want) in rows {
            assert_eq!(replace_node_name_node_affinity(input, "host_1"), want, "{name}");
        }
    }

    #[test]
    fn replace_node_name_node_affinity_keeps_pod_affinity() {
        let input = affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}]}}));
        let got = replace_node_name_node_affinity(Some(input.clone()), "n1");
        assert_eq!(got.pod_anti_affinity, input.pod_anti_affinity);
        assert_eq!(target_node_name(&spec(json!({"affinity": got}))), Some("n1".to_owned()));
    }

    #[test]
    fn upstream_ut_get_target_node_name() {
        let rows: Vec<(&str, PodSpec, Option<&str>)> = vec![
            ("pod1: spec.nodeName", spec(json!({"nodeName": "node-1"})), Some("node-1")),
            (
                "pod2: matchFields In [node-1]",
                spec(json!({"affinity": {"nodeAffinity": pinned("node-1")}})),
                Some("node-1"),
            ),
            (
                "pod3: matchFields In [node-1, node-2] is an error",
                spec(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1", "node-2"]}]}]}}}})),
                None,
            ),
            ("pod4: empty spec is an error", spec(json!({})), None),
        ];
        for (name, spec, want) in rows {
            assert_eq!(target_node_name(&spec).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn target_node_name_edge_cases() {
        // nodeName wins over affinity.
        let both = spec(json!({"nodeName": "a", "affinity": {"nodeAffinity": pinned("b")}}));
        assert_eq!(target_node_name(&both).as_deref(), Some("a"));
        // An empty nodeName falls through to the affinity.
        let empty_name = spec(json!({"nodeName": "", "affinity": {"nodeAffinity": pinned("b")}}));
        assert_eq!(target_node_name(&empty_name).as_deref(), Some("b"));
        // NotIn and other keys are skipped; a later term may still provide the name.
        let later = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]},
                                 {"key": "metadata.foo", "operator": "In", "values": ["y"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["z"]}]},
            ]}}}}),
        );
        assert_eq!(target_node_name(&later).as_deref(), Some("z"));
        // The first In requirement decides: a non-unique one errors even if a later one is unique.
        let first_bad = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": []}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["z"]}]},
            ]}}}}),
        );
        assert_eq!(target_node_name(&first_bad), None);
        // Required selector with no terms, and a matchExpressions-only pin, are errors.
        let no_terms = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}}),
        );
        assert_eq!(target_node_name(&no_terms), None);
        let by_label = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["z"]}]}]}}}}),
        );
        assert_eq!(target_node_name(&by_label), None);
    }

    #[test]
    fn default_tolerations_table() {
        let expected = |host_network: bool| {
            let mut v = vec![
                (TAINT_NODE_NOT_READY, "NoExecute"),
                (TAINT_NODE_UNREACHABLE, "NoExecute"),
                (TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
                (TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
                (TAINT_NODE_PID_PRESSURE, "NoSchedule"),
                (TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
            ];
            if host_network {
                v.push((TAINT_NODE_NETWORK_UNAVAILABLE, "NoSchedule"));
            }
            v
        };
        for host_network in [false, true] {
            let got = default_tolerations(host_network);
            let summary: Vec<(&str, &str)> =
                got.iter().map(|t| (t.key.as_deref().unwrap(), t.effect.as_deref().unwrap())).collect();
            assert_eq!(summary, expected(host_network));
            for t in &got {
                assert_eq!(t.operator.as_deref(), Some("Exists"));
                assert_eq!(t.value, None);
                assert_eq!(t.toleration_seconds, None, "defaults tolerate forever");
            }
        }
    }

    #[test]
    fn add_default_tolerations_semantics() {
        // Empty spec: the six defaults; hostNetwork adds network-unavailable last.
        let mut s = spec(json!({}));
        add_default_tolerations(&mut s);
        assert_eq!(s.tolerations, Some(default_tolerations(false)));
        let mut s = spec(json!({"hostNetwork": true}));
        add_default_tolerations(&mut s);
        assert_eq!(s.tolerations, Some(default_tolerations(true)));

        // A user toleration identical by (key, operator, value, effect) is replaced in place, dropping its
        // tolerationSeconds; unrelated user tolerations stay in order.
        let custom = toleration(json!({"key": "dedicated", "operator": "Exists"}));
        let mut s = spec(json!({"tolerations": [
            {"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
            {"key": "dedicated", "operator": "Exists"},
            {"key": TAINT_NODE_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "value": "", "tolerationSeconds": 30},
        ]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.clone().unwrap();
        let defaults = default_tolerations(false);
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], defaults[0], "not-ready replaced in place, tolerationSeconds dropped");
        assert_eq!(got[1], custom);
        assert_eq!(got[2], defaults[1], "unreachable replaced (absent value equals empty value)");
        assert_eq!(&got[3..], &defaults[2..]);
        assert!(got.iter().all(|t| t.toleration_seconds.is_none()));

        // Already identical: nothing duplicated, order kept; the helper is idempotent.
        let mut again = s.clone();
        add_default_tolerations(&mut again);
        assert_eq!(again, s);

        // Same key but another operator is not the same toleration: the default is appended, the user's kept.
        let mut s = spec(json!({"tolerations": [
            {"key": TAINT_NODE_NOT_READY, "operator": "Equal", "value": "", "effect": "NoExecute", "tolerationSeconds": 60}]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0].toleration_seconds, Some(60));
        assert_eq!(got[1], defaults[0]);

        // hostNetwork: a user network-unavailable toleration with seconds is replaced too.
        let mut s = spec(json!({"hostNetwork": true, "tolerations": [
            {"key": TAINT_NODE_NETWORK_UNAVAILABLE, "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], default_tolerations(true)[6]);
    }

    #[test]
    fn add_or_update_toleration_with_duplicates() {
        let default = default_tolerations(false).remove(0);
        let with_seconds = |s: i64| {
            let mut t = default.clone();
            t.toleration_seconds = Some(s);
            t
        };
        // Every matching entry is replaced when none is identical.
        let mut list = vec![with_seconds(1), with_seconds(2)];
        assert!(add_or_update_toleration(&mut list, &default));
        assert_eq!(list, vec![default.clone(), default.clone()]);
        // An identical entry anywhere means no change at all (upstream returns before committing).
        let mut list = vec![with_seconds(1), default.clone()];
        assert!(!add_or_update_toleration(&mut list, &default));
        assert_eq!(list, vec![with_seconds(1), default.clone()]);
    }
}
