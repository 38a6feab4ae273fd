use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

use super::*;
use crate::apiserver::test_support::*;

// --- TestValidateDaemonSet (pkg/apis/apps/validation/validation_test.go) --------------------------------

#[test]
fn upstream_success_cases() {
    let on_delete = ("spec/updateStrategy", json!({"type": "OnDelete"}));
    assert_eq!(errors(with(std::slice::from_ref(&on_delete))), Vec::<String>::new());
    assert_eq!(errors(with(&[on_delete.clone(), ("metadata/name", json!("abc-123"))])), Vec::<String>::new());
    let hostnet = with(&[
        on_delete,
        ("metadata/name", json!("hostnet")),
        ("spec/template/spec/hostNetwork", json!(true)),
        ("spec/template/spec/containers/0/ports", json!([{"containerPort": 12345, "protocol": "TCP"}])),
    ]);
    assert_eq!(errors(hostnet), Vec::<String>::new());
    // The default RollingUpdate strategy is valid too.
    assert_eq!(errors(base()), Vec::<String>::new());
}

#[test]
fn upstream_error_zero_length_name() {
    assert_eq!(
        errors(with(&[("metadata/name", json!(""))])),
        vec!["metadata.name: Required value: name or generateName is required"]
    );
}

#[test]
fn upstream_error_missing_namespace() {
    let mut v = base();
    remove(&mut v, "metadata/namespace");
    assert_eq!(errors(v), vec!["metadata.namespace: Required value"]);
}

#[test]
fn upstream_error_nil_and_empty_selector() {
    let expected = vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"];
    let mut nil = base();
    remove(&mut nil, "spec/selector");
    assert_eq!(errors(nil), expected);
    assert_eq!(errors(with(&[("spec/selector", json!({}))])), expected);
    assert_eq!(
        errors(with(&[("spec/selector", json!({"matchLabels": {}}))])),
        vec!["spec.selector: Invalid value: {\"matchLabels\":{}}: empty selector is invalid for daemonset"]
    );
}

#[test]
fn upstream_error_selector_does_not_match() {
    assert_eq!(
        errors(with(&[("spec/selector", json!({"matchLabels": {"foo": "bar"}}))])),
        vec![
            "spec.template.metadata.labels: Invalid value: {\"a\":\"b\"}: `selector` does not match template `labels`"
        ]
    );
}

#[test]
fn upstream_error_invalid_template() {
    let mut v = base();
    remove(&mut v, "spec/template");
    assert_eq!(
        errors(v),
        vec![
            "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`",
            "spec.template.spec.containers: Required value",
        ]
    );
}

#[test]
fn upstream_error_invalid_labels() {
    assert_eq!(
        errors(with(&[("metadata/labels", json!({BAD_KEY: "bar"}))])),
        vec![format!("metadata.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
    );
    // "invalid_label 2": bad metadata labels, no selector, bad template labels.
    let mut v =
        with(&[("metadata/labels", json!({BAD_KEY: "bar"})), ("spec/template/metadata/labels", json!({BAD_KEY: "b"}))]);
    remove(&mut v, "spec/selector");
    assert_eq!(
        errors(v),
        vec![
            format!("metadata.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
            "spec.selector: Invalid value: {}: empty selector is invalid for daemonset".to_string(),
            format!("spec.template.labels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
        ]
    );
}

#[test]
fn upstream_error_invalid_annotation() {
    assert_eq!(
        errors(with(&[("metadata/annotations", json!({BAD_KEY: "bar"}))])),
        vec![format!("metadata.annotations: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
    );
}

#[test]
fn upstream_error_restart_policy() {
    for policy in ["OnFailure", "Never"] {
        assert_eq!(
            errors(with(&[("spec/template/spec/restartPolicy", json!(policy))])),
            vec![format!(
                "spec.template.spec.restartPolicy: Unsupported value: \"{policy}\": supported values: \"Always\""
            )]
        );
    }
    // An unknown policy fails the pod check and the DaemonSet check.
    assert_eq!(
        errors(with(&[("spec/template/spec/restartPolicy", json!("Foo"))])),
        vec![
            "spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "spec.template.spec.restartPolicy: Unsupported value: \"Foo\": supported values: \"Always\"",
        ]
    );
}

#[test]
fn upstream_error_ephemeral_containers() {
    let v = with(&[
        ("spec/updateStrategy", json!({"type": "OnDelete"})),
        ("spec/template/spec/ephemeralContainers", json!([{"name": "debug", "image": "image"}])),
    ]);
    assert_eq!(
        errors(v),
        vec!["spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"]
    );
}

#[test]
fn active_deadline_seconds_is_forbidden() {
    assert_eq!(
        errors(with(&[("spec/template/spec/activeDeadlineSeconds", json!(60))])),
        vec![
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported"
        ]
    );
    assert_eq!(
        errors(with(&[("spec/template/spec/activeDeadlineSeconds", json!(0))])),
        vec![
            "spec.template.spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
        ]
    );
}

#[test]
fn template_generation_annotation() {
    assert_eq!(
        errors(with(&[("metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: "-1"}))])),
        vec!["spec.templateGeneration: Invalid value: -1: must be greater than or equal to 0"]
    );
    assert_eq!(
        errors(with(&[("metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: "x"}))])),
        vec![
            "metadata.annotations[deprecated.daemonset.template.generation]: Invalid value: \"x\": strconv.ParseInt: parsing \"x\": invalid syntax"
        ]
    );
}

// --- spec numbers and update strategy -------------------------------------------------------------------

#[test]
fn min_ready_seconds_and_revision_history_limit() {
    assert_eq!(
        errors(with(&[("spec/minReadySeconds", json!(-1))])),
        vec!["spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"]
    );
    assert_eq!(
        errors(with(&[("spec/revisionHistoryLimit", json!(-1))])),
        vec!["spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0"]
    );
    assert_eq!(
        errors(with(&[("spec/revisionHistoryLimit", json!(0)), ("spec/minReadySeconds", json!(30))])),
        Vec::<String>::new()
    );
}

#[test]
fn update_strategy_type() {
    assert_eq!(
        errors(with(&[("spec/updateStrategy", json!({"type": "Foo"}))])),
        vec![
            "spec.updateStrategy: Unsupported value: {\"type\":\"Foo\"}: supported values: \"RollingUpdate\", \"OnDelete\""
        ]
    );
    // rollingUpdate under OnDelete is accepted and ignored, however odd.
    let on_delete = json!({"type": "OnDelete", "rollingUpdate": {"maxUnavailable": "abc", "maxSurge": -3}});
    assert_eq!(errors(with(&[("spec/updateStrategy", on_delete)])), Vec::<String>::new());
}

#[test]
fn rolling_update_without_rolling_update_is_required() {
    // Defaulting always fills it, so bypass it the way a stored object could.
    let mut ds = defaulted(base());
    ds.spec.update_strategy.as_mut().unwrap().rolling_update = None;
    assert_eq!(render(&validate_daemon_set(&ds)), vec!["spec.updateStrategy.rollingUpdate: Required value"]);
}

#[test]
fn rolling_update_valid_values() {
    for ru in [
        json!({}),
        json!({"maxUnavailable": 1, "maxSurge": 0}),
        json!({"maxUnavailable": 0, "maxSurge": 1}),
        json!({"maxUnavailable": 0, "maxSurge": "10%"}),
        json!({"maxUnavailable": "100%"}),
        json!({"maxUnavailable": 200}),
    ] {
        assert_eq!(rolling(ru.clone()), Vec::<String>::new(), "{ru}");
    }
}

#[test]
fn rolling_update_both_non_zero() {
    assert_eq!(
        rolling(json!({"maxUnavailable": 1, "maxSurge": 1})),
        vec![format!("{MS}: Invalid value: 1: may not be set when maxUnavailable is non-zero")]
    );
    assert_eq!(
        rolling(json!({"maxUnavailable": "50%", "maxSurge": "10%"})),
        vec![format!("{MS}: Invalid value: 10%: may not be set when maxUnavailable is non-zero")]
    );
}

#[test]
fn rolling_update_both_zero() {
    let expected = vec![format!("{MU}: Required value: cannot be 0 when maxSurge is 0")];
    assert_eq!(rolling(json!({"maxUnavailable": 0, "maxSurge": 0})), expected);
    assert_eq!(rolling(json!({"maxUnavailable": "0%", "maxSurge": 0})), expected);
    assert_eq!(rolling(json!({"maxUnavailable": 0})), expected, "maxSurge defaults to 0");
}

#[test]
fn rolling_update_percent_limits() {
    assert_eq!(
        rolling(json!({"maxUnavailable": "110%"})),
        vec![format!("{MU}: Invalid value: 110%: must not be greater than 100%")]
    );
    assert_eq!(
        rolling(json!({"maxUnavailable": 0, "maxSurge": "110%"})),
        vec![format!("{MS}: Invalid value: 110%: must not be greater than 100%")]
    );
}

#[test]
fn rolling_update_malformed_values() {
    // A malformed percent counts as Atoi of the string: 0 here, so the both-zero rule fires as well.
    assert_eq!(
        rolling(json!({"maxUnavailable": "20Percent"})),
        vec![
            format!("{MU}: Invalid value: 20Percent: {PERCENT_MSG}"),
            format!("{MU}: Required value: cannot be 0 when maxSurge is 0"),
        ]
    );
    assert_eq!(
        rolling(json!({"maxUnavailable": "abc%"})),
        vec![
            format!("{MU}: Invalid value: abc%: {PERCENT_MSG}"),
            format!("{MU}: Required value: cannot be 0 when maxSurge is 0"),
        ]
    );
    // ...but a bare number string counts as that number (upstream quirk), so only the format error.
    assert_eq!(rolling(json!({"maxUnavailable": "5"})), vec![format!("{MU}: Invalid value: 5: {PERCENT_MSG}")]);
    assert_eq!(
        rolling(json!({"maxUnavailable": -1})),
        vec![format!("{MU}: Invalid value: -1: must be greater than or equal to 0")]
    );
    assert_eq!(
        rolling(json!({"maxUnavailable": 1, "maxSurge": "1.5%"})),
        vec![format!("{MS}: Invalid value: 1.5%: {PERCENT_MSG}")]
    );
}

// --- TestValidateDaemonSetUpdate (pkg/apis/apps/validation/validation_test.go) --------------------------

fn on_delete(tg: Option<i64>) -> Value {
    let mut v = with(&[("spec/updateStrategy", json!({"type": "OnDelete"}))]);
    if let Some(tg) = tg {
        set(&mut v, "metadata/annotations", json!({TEMPLATE_GENERATION_ANNOTATION: tg.to_string()}));
    }
    v
}

fn tweak(mut v: Value, pairs: &[(&str, Value)]) -> Value {
    for (path, value) in pairs {
        set(&mut v, path, value.clone());
    }
    v
}

#[test]
fn update_success_cases() {
    assert_eq!(update_errors(on_delete(Some(1)), on_delete(Some(1))), Vec::<String>::new());
    // "change template": new node selector and node name, templateGeneration bumped.
    let changed = tweak(
        on_delete(Some(4)),
        &[("spec/template/spec/nodeSelector", json!({"a": "b"})), ("spec/template/spec/nodeName", json!("xyz"))],
    );
    assert_eq!(update_errors(changed, on_delete(Some(3))), Vec::<String>::new());
    // "change update strategy".
    let rolling = tweak(
        on_delete(Some(4)),
        &[("spec/updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}))],
    );
    assert_eq!(update_errors(rolling, on_delete(Some(4))), Vec::<String>::new());
    // "unchanged templateGeneration upon semantically equal template update": [] equals absent.
    let equal = tweak(on_delete(Some(4)), &[("spec/template/spec/imagePullSecrets", json!([]))]);
    assert_eq!(update_errors(equal, on_delete(Some(4))), Vec::<String>::new());
    // Without the annotation the server manages templateGeneration, so a template change is fine.
    let image = tweak(on_delete(None), &[("spec/template/spec/containers/0/image", json!("image:2"))]);
    assert_eq!(update_errors(image, on_delete(Some(7))), Vec::<String>::new());
}

#[test]
fn update_selector_is_immutable() {
    let new = tweak(
        on_delete(Some(3)),
        &[("spec/selector", json!({"matchLabels": {"c": "d"}})), ("spec/template/metadata/labels", json!({"c": "d"}))],
    );
    assert_eq!(
        update_errors(new, on_delete(Some(2))),
        vec!["spec.selector: Invalid value: {\"matchLabels\":{\"c\":\"d\"}}: field is immutable"]
    );
    // Semantically equal selectors are not a change.
    let same =
        tweak(on_delete(Some(1)), &[("spec/selector", json!({"matchLabels": {"a": "b"}, "matchExpressions": []}))]);
    assert_eq!(update_errors(same, on_delete(Some(1))), Vec::<String>::new());
}

#[test]
fn update_error_cases() {
    // "change daemon name".
    let old = tweak(on_delete(Some(1)), &[("metadata/name", json!(""))]);
    assert_eq!(
        update_errors(on_delete(Some(1)), old),
        vec!["metadata.name: Invalid value: \"abc\": field is immutable"]
    );
    // "invalid selector": the syntax error, plus the apps/v1 immutability rule.
    let bad = tweak(on_delete(Some(1)), &[("spec/selector", json!({"matchLabels": {BAD_KEY: "b"}}))]);
    assert_eq!(
        update_errors(bad, on_delete(Some(1))),
        vec![
            format!("spec.selector.matchLabels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}"),
            format!("spec.selector: Invalid value: {{\"matchLabels\":{{\"{BAD_KEY}\":\"b\"}}}}: field is immutable"),
        ]
    );
    // "invalid pod".
    let no_containers = tweak(on_delete(Some(2)), &[("spec/template/spec/containers", json!([]))]);
    assert_eq!(update_errors(no_containers, on_delete(Some(1))), vec!["spec.template.spec.containers: Required value"]);
    // "invalid update strategy".
    let random = tweak(on_delete(Some(1)), &[("spec/updateStrategy", json!({"type": "Random"}))]);
    assert_eq!(
        update_errors(random, on_delete(Some(1))),
        vec![
            "spec.updateStrategy: Unsupported value: {\"type\":\"Random\"}: supported values: \"RollingUpdate\", \"OnDelete\""
        ]
    );
    // "negative templateGeneration".
    assert_eq!(
        update_errors(on_delete(Some(-1)), on_delete(Some(-1))),
        vec!["spec.templateGeneration: Invalid value: -1: must be greater than or equal to 0"]
    );
    // "decreased templateGeneration".
    assert_eq!(
        update_errors(on_delete(Some(1)), on_delete(Some(2))),
        vec!["spec.templateGeneration: Invalid value: 1: must not be decremented"]
    );
    // "unchanged templateGeneration upon template update".
    let image = tweak(on_delete(Some(2)), &[("spec/template/spec/containers/0/image", json!("image:2"))]);
    assert_eq!(
        update_errors(image, on_delete(Some(2))),
        vec!["spec.templateGeneration: Invalid value: 2: must be incremented upon template update"]
    );
    // Incremented without a template change.
    assert_eq!(
        update_errors(on_delete(Some(2)), on_delete(Some(1))),
        vec!["spec.templateGeneration: Invalid value: 2: must not be incremented without template update"]
    );
    // Generation and namespace.
    let new = tweak(on_delete(Some(1)), &[("metadata/generation", json!(1)), ("metadata/namespace", json!("other"))]);
    let old = tweak(on_delete(Some(1)), &[("metadata/generation", json!(2))]);
    assert_eq!(
        update_errors(new, old),
        vec![
            "metadata.generation: Invalid value: 1: must not be decremented",
            "metadata.namespace: Invalid value: \"other\": field is immutable",
        ]
    );
}

#[test]
fn update_runs_the_rolling_update_rules() {
    let new = tweak(
        on_delete(Some(1)),
        &[(
            "spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
        )],
    );
    assert_eq!(
        update_errors(new, on_delete(Some(1))),
        vec![format!("{MS}: Invalid value: 1: may not be set when maxUnavailable is non-zero")]
    );
}

fn with_status(status: Value) -> DaemonSet {
    parse(tweak(base(), &[("status", status)]))
}

#[test]
fn status_update() {
    let good = json!({"currentNumberScheduled": 1, "numberMisscheduled": 2, "desiredNumberScheduled": 3,
                      "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1, "numberUnavailable": 2});
    assert_eq!(validate_daemon_set_status_update(&with_status(good.clone()), &with_status(good.clone())), vec![]);
    let negative = json!({"currentNumberScheduled": -1, "numberMisscheduled": -1, "desiredNumberScheduled": -3,
                          "numberReady": -1, "observedGeneration": -3, "updatedNumberScheduled": -1,
                          "numberAvailable": -1, "numberUnavailable": -2, "collisionCount": -1});
    assert_eq!(
        render(&validate_daemon_set_status_update(&with_status(negative), &with_status(good.clone()))),
        vec![
            "status.currentNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
            "status.numberMisscheduled: Invalid value: -1: must be greater than or equal to 0",
            "status.desiredNumberScheduled: Invalid value: -3: must be greater than or equal to 0",
            "status.numberReady: Invalid value: -1: must be greater than or equal to 0",
            "status.observedGeneration: Invalid value: -3: must be greater than or equal to 0",
            "status.updatedNumberScheduled: Invalid value: -1: must be greater than or equal to 0",
            "status.numberAvailable: Invalid value: -1: must be greater than or equal to 0",
            "status.numberUnavailable: Invalid value: -2: must be greater than or equal to 0",
            "status.collisionCount: Invalid value: -1: must be greater than or equal to 0",
        ]
    );
    let cc = |n: Option<i32>| {
        let mut st = good.clone();
        if let Some(n) = n {
            st["collisionCount"] = json!(n);
        }
        with_status(st)
    };
    assert_eq!(
        render(&validate_daemon_set_status_update(&cc(Some(1)), &cc(Some(2)))),
        vec!["status.collisionCount: Invalid value: 1: cannot be decremented"]
    );
    assert_eq!(
        render(&validate_daemon_set_status_update(&cc(None), &cc(Some(2)))),
        vec!["status.collisionCount: Invalid value: 0: cannot be decremented"]
    );
    assert_eq!(validate_daemon_set_status_update(&cc(Some(3)), &cc(Some(2))), vec![]);
    assert_eq!(validate_daemon_set_status_update(&cc(Some(0)), &cc(None)), vec![]);
}
