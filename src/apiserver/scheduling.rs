//! Scheduling fields of a pod spec: node affinity with its node selector terms, and tolerations
//! (`validateNodeAffinity`, `ValidateNodeSelectorTerm`, `validateTolerations` in
//! `pkg/apis/core/validation/validation.go`).

use k8s_openapi::api::core::v1::{NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Toleration};

use super::field::{FieldError, Path, go_quote, invalid, not_supported, required};
use super::metadata::{validate_label_name, validate_requirement_labels, validate_set_based_values};
use super::names::{is_dns1123_subdomain, is_valid_label_value};
use super::or_empty;

/// `validateNodeAffinity`: the required terms and the weighted preferred ones.
pub(super) fn validate_node_affinity(na: &NodeAffinity, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(required_sel) = &na.required_during_scheduling_ignored_during_execution {
        let terms_path = path.child("requiredDuringSchedulingIgnoredDuringExecution").child("nodeSelectorTerms");
        if required_sel.node_selector_terms.is_empty() {
            errs.push(required(&terms_path, "must have at least one node selector term"));
        }
        for (i, term) in required_sel.node_selector_terms.iter().enumerate() {
            validate_node_selector_term(term, &terms_path.index(i), errs);
        }
    }
    let pref_path = path.child("preferredDuringSchedulingIgnoredDuringExecution");
    for (i, term) in na.preferred_during_scheduling_ignored_during_execution.iter().flatten().enumerate() {
        if term.weight <= 0 || term.weight > 100 {
            errs.push(invalid(
                &pref_path.index(i).child("weight"),
                term.weight.to_string(),
                "must be in the range 1-100",
            ));
        }
        validate_node_selector_term(&term.preference, &pref_path.index(i).child("preference"), errs);
    }
}

fn validate_node_selector_term(term: &NodeSelectorTerm, path: &Path, errs: &mut Vec<FieldError>) {
    for (j, req) in term.match_expressions.iter().flatten().enumerate() {
        validate_node_selector_requirement(req, &path.child("matchExpressions").index(j), errs);
    }
    for (j, req) in term.match_fields.iter().flatten().enumerate() {
        let p = path.child("matchFields").index(j);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.len() != 1 {
                    errs.push(required(
                        &p.child("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    ));
                }
            }
            op => errs.push(invalid(&p.child("operator"), go_quote(op), "not a valid selector operator")),
        }
        if req.key != "metadata.name" {
            errs.push(invalid(&p.child("key"), go_quote(&req.key), "not a valid field selector key"));
        } else {
            for (i, v) in values.iter().enumerate() {
                for msg in is_dns1123_subdomain(v) {
                    errs.push(invalid(&p.child("values").index(i), go_quote(v), msg));
                }
            }
        }
    }
}

fn validate_node_selector_requirement(req: &NodeSelectorRequirement, path: &Path, errs: &mut Vec<FieldError>) {
    let values = req.values.as_deref().unwrap_or_default();
    let values_path = path.child("values");
    let known = match req.operator.as_str() {
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(required(&values_path, "must be specified single value when `operator` is 'Lt' or 'Gt'"));
            }
            true
        }
        op => validate_set_based_values(op, values, &values_path, errs),
    };
    if !known {
        errs.push(invalid(&path.child("operator"), go_quote(&req.operator), "not a valid selector operator"));
    }
    validate_requirement_labels(&req.key, values, path, errs);
}

pub(super) fn validate_toleration(t: &Toleration, path: &Path, errs: &mut Vec<FieldError>) {
    let key = or_empty(&t.key);
    let operator = or_empty(&t.operator);
    let effect = or_empty(&t.effect);
    let value = or_empty(&t.value);
    if !key.is_empty() {
        validate_label_name(key, &path.child("key"), errs);
    }
    // An empty key with operator Exists means "match every taint".
    if key.is_empty() && operator != "Exists" {
        errs.push(invalid(
            &path.child("operator"),
            go_quote(operator),
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        errs.push(invalid(
            &path.child("effect"),
            go_quote(effect),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    match operator {
        "Equal" | "" => {
            let msgs = is_valid_label_value(value);
            if !msgs.is_empty() {
                errs.push(invalid(&path.child("operator"), go_quote(value), msgs.join(";")));
            }
        }
        "Exists" => {
            if !value.is_empty() {
                errs.push(invalid(
                    &path.child("operator"),
                    go_quote(value),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errs.push(not_supported(&path.child("operator"), go_quote(other), &["Equal", "Exists"])),
    }
    if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        errs.push(not_supported(
            &path.child("effect"),
            go_quote(effect),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn tolerations() {
        let tol = |t: Value| errors(with(&[("spec/template/spec/tolerations", json!([t]))]));
        let p = "spec.template.spec.tolerations[0]";
        assert_eq!(tol(json!({"operator": "Exists"})), Vec::<String>::new());
        assert_eq!(
            tol(json!({"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5})),
            Vec::<String>::new()
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Foo"})),
            vec![format!("{p}.operator: Unsupported value: \"Foo\": supported values: \"Equal\", \"Exists\"")]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "value": "v"})),
            vec![format!("{p}.operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'")]
        );
        assert_eq!(
            tol(json!({"operator": "Equal", "value": "v"})),
            vec![format!(
                "{p}.operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
            )]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 10})),
            vec![format!(
                "{p}.effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
            )]
        );
        assert_eq!(
            tol(json!({"key": "k", "operator": "Exists", "effect": "Sometimes"})),
            vec![format!(
                "{p}.effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
            )]
        );
    }

    #[test]
    fn node_affinity_and_node_selector() {
        let affinity = |na: Value| errors(with(&[("spec/template/spec/affinity", json!({"nodeAffinity": na}))]));
        let req =
            "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
        let term = |e: Value| json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [e]}]}});
        assert_eq!(affinity(term(json!({"key": "zone", "operator": "In", "values": ["a"]}))), Vec::<String>::new());
        assert_eq!(
            affinity(term(json!({"key": "zone", "operator": "In"}))),
            vec![format!(
                "{req}[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            )]
        );
        assert_eq!(
            affinity(term(json!({"key": "cpus", "operator": "Gt", "values": ["1", "2"]}))),
            vec![format!(
                "{req}[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            )]
        );
        assert_eq!(
            affinity(json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}})),
            vec![format!("{req}: Required value: must have at least one node selector term")]
        );
        assert_eq!(
            affinity(json!({"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {}}]})),
            vec![
                "spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"
            ]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/nodeSelector", json!({"disk": "s s d"}))])),
            vec![format!("spec.template.spec.nodeSelector: Invalid value: \"s s d\": {LABEL_VALUE_MSG}")]
        );
    }
}
