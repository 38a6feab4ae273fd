//! Object metadata, labels, annotations and label selectors: `ValidateObjectMeta` and
//! `ValidateObjectMetaUpdate` (`apimachinery/pkg/api/validation/objectmeta.go`, with core's finalizer rule),
//! `ValidateLabels` and `ValidateLabelSelector` (`apimachinery/pkg/apis/meta/v1/validation/validation.go`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::core::{Selector, SelectorExt};

use super::field::{FieldError, FieldErrorType, Path, err, forbidden, go_quote, invalid, json, nonnegative, required};
use super::names::{is_dns1123_label, is_qualified_name, is_valid_label_value, name_is_dns_subdomain};
use super::or_empty;

/// apimachinery's `FieldImmutableErrorMsg`.
pub(super) const FIELD_IMMUTABLE: &str = "field is immutable";
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * (1 << 10);

pub(super) fn validate_object_meta(meta: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let generate_name = or_empty(&meta.generate_name);
    if !generate_name.is_empty() {
        for msg in name_is_dns_subdomain(generate_name, true) {
            errs.push(invalid(&path.child("generateName"), go_quote(generate_name), msg));
        }
    }
    let name = or_empty(&meta.name);
    if name.is_empty() {
        errs.push(required(&path.child("name"), "name or generateName is required"));
    } else {
        for msg in name_is_dns_subdomain(name, false) {
            errs.push(invalid(&path.child("name"), go_quote(name), msg));
        }
    }
    // The service fills "default" before validating; an empty namespace here is the caller's bug.
    let namespace = or_empty(&meta.namespace);
    if namespace.is_empty() {
        errs.push(required(&path.child("namespace"), ""));
    } else {
        for msg in is_dns1123_label(namespace) {
            errs.push(invalid(&path.child("namespace"), go_quote(namespace), msg));
        }
    }
    nonnegative(meta.generation.unwrap_or(0), &path.child("generation"), errs);
    validate_labels(meta.labels.as_ref(), &path.child("labels"), errs);
    validate_annotations(meta.annotations.as_ref(), &path.child("annotations"), errs);
    validate_owner_references(meta, &path.child("ownerReferences"), errs);

    let finalizers = meta.finalizers.as_deref().unwrap_or_default();
    let fin_path = path.child("finalizers");
    for f in finalizers {
        for msg in is_qualified_name(f) {
            errs.push(invalid(&fin_path, go_quote(f), msg));
        }
    }
    let orphan = finalizers.iter().any(|f| f == "orphan");
    let foreground = finalizers.iter().any(|f| f == "foregroundDeletion");
    if orphan && foreground {
        errs.push(invalid(&fin_path, json(&finalizers), "finalizer orphan and foregroundDeletion cannot be both set"));
    }
    // core's validateKubeFinalizerName runs after the apimachinery checks, per index.
    for (i, f) in finalizers.iter().enumerate() {
        let idx = fin_path.index(i);
        let msgs = is_qualified_name(f);
        if !msgs.is_empty() {
            for msg in msgs {
                errs.push(invalid(&idx, go_quote(f), msg));
            }
        } else if !f.contains('/') && !matches!(f.as_str(), "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(invalid(
                &idx,
                go_quote(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

fn validate_owner_references(meta: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let refs = meta.owner_references.as_deref().unwrap_or_default();
    let mut first_controller: Option<String> = None;
    for r in refs {
        // schema.FromAPIVersionAndKind: "group/version", "version", or unparseable (more than one '/').
        let (group, version) = match r.api_version.matches('/').count() {
            0 => ("", r.api_version.as_str()),
            1 => r.api_version.split_once('/').unwrap_or(("", "")),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.push(invalid(&path.child("apiVersion"), go_quote(&r.api_version), "version must not be empty"));
        }
        if r.kind.is_empty() {
            errs.push(invalid(&path.child("kind"), go_quote(&r.kind), "must not be empty"));
        }
        if r.name.is_empty() {
            errs.push(invalid(&path.child("name"), go_quote(&r.name), "must not be empty"));
        }
        if r.uid.is_empty() {
            errs.push(invalid(&path.child("uid"), go_quote(&r.uid), "must not be empty"));
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.push(invalid(path, json(r), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if r.controller == Some(true) {
            let current = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(invalid(
                    path,
                    json(&refs),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

pub(super) fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta, path: &Path, errs: &mut Vec<FieldError>) {
    let new_generation = new.generation.unwrap_or(0);
    if new_generation < old.generation.unwrap_or(0) {
        errs.push(invalid(&path.child("generation"), new_generation.to_string(), "must not be decremented"));
    }
    for (field, new_v, old_v) in
        [("name", &new.name, &old.name), ("namespace", &new.namespace, &old.namespace), ("uid", &new.uid, &old.uid)]
    {
        if or_empty(new_v) != or_empty(old_v) {
            errs.push(invalid(&path.child(field), go_quote(or_empty(new_v)), FIELD_IMMUTABLE));
        }
    }
}

pub(super) fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path, errs: &mut Vec<FieldError>) {
    for (k, v) in labels.into_iter().flatten() {
        validate_label_entry(k, v, path, errs);
    }
}

/// One label as `ValidateLabels` checks it: the key, then the value, both reported on the map's path.
fn validate_label_entry(key: &str, value: &str, path: &Path, errs: &mut Vec<FieldError>) {
    validate_label_name(key, path, errs);
    for msg in is_valid_label_value(value) {
        errs.push(invalid(path, go_quote(value), msg));
    }
}

/// Labels checked like `ValidateLabels`, for a caller outside this module, reported on `path`.
pub fn validate_labels_at(labels: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_labels(Some(labels), &Path::root(path), &mut errs);
    errs
}

pub(super) fn validate_label_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in is_qualified_name(name) {
        errs.push(invalid(path, go_quote(name), msg));
    }
}

pub(super) fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(annotations) = annotations else {
        return;
    };
    for k in annotations.keys() {
        // Annotation keys are qualified names, but case does not matter.
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, go_quote(k), msg));
        }
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(err(
            path,
            FieldErrorType::TooLong,
            None,
            format!("may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
        ));
    }
}

pub(super) fn validate_label_selector(sel: &LabelSelector, path: &Path, errs: &mut Vec<FieldError>) {
    validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"), errs);
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = expr.values.as_deref().unwrap_or_default();
        if !validate_set_based_values(&expr.operator, values, &p.child("values"), errs) {
            errs.push(invalid(&p.child("operator"), go_quote(&expr.operator), "not a valid selector operator"));
        }
        validate_requirement_labels(&expr.key, values, &p, errs);
    }
}

/// The values rule of the set-based operators, which label and node selector requirements share: In and NotIn
/// need values, Exists and DoesNotExist take none. False for any other operator, which the caller judges.
pub(super) fn validate_set_based_values(
    operator: &str,
    values: &[String],
    path: &Path,
    errs: &mut Vec<FieldError>,
) -> bool {
    match operator {
        "In" | "NotIn" if values.is_empty() => {
            errs.push(required(path, "must be specified when `operator` is 'In' or 'NotIn'"));
        }
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            errs.push(forbidden(path, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
        _ => return false,
    }
    true
}

/// A selector requirement's key and values, as label syntax.
pub(super) fn validate_requirement_labels(key: &str, values: &[String], path: &Path, errs: &mut Vec<FieldError>) {
    validate_label_name(key, &path.child("key"), errs);
    for (i, v) in values.iter().enumerate() {
        for msg in is_valid_label_value(v) {
            errs.push(invalid(&path.child("values").index(i), go_quote(v), msg));
        }
    }
}

/// `LabelSelectorAsSelector(sel).Matches(labels)`: `None` when the selector does not convert, `Some(true)` for
/// the empty selector (it selects everything). The conversion fails exactly where `ValidateLabelSelector`
/// reports an error (key and value syntax, operator, values per operator); kube's looser conversion then only
/// builds the selector that matches.
pub(super) fn selector_matches(sel: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> Option<bool> {
    let mut errs = Vec::new();
    validate_label_selector(sel, &Path::root(""), &mut errs);
    if !errs.is_empty() {
        return None;
    }
    let selector = Selector::try_from(sel.clone()).ok()?;
    let no_labels = BTreeMap::new();
    Some(selector.matches(labels.unwrap_or(&no_labels)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn metadata_name_is_a_dns_subdomain() {
        assert_eq!(
            errors(with(&[("metadata/name", json!("Abc"))])),
            vec![format!("metadata.name: Invalid value: \"Abc\": {SUBDOMAIN_MSG}")]
        );
        assert_eq!(errors(with(&[("metadata/name", json!("abc.def"))])), Vec::<String>::new());
        let long = "a".repeat(254);
        assert_eq!(
            errors(with(&[("metadata/name", json!(long))])),
            vec![format!("metadata.name: Invalid value: \"{long}\": must be no more than 253 characters")]
        );
        assert_eq!(
            errors(with(&[("metadata/name", json!("-abc"))])),
            vec![format!("metadata.name: Invalid value: \"-abc\": {SUBDOMAIN_MSG}")]
        );
    }

    #[test]
    fn generate_name_may_end_in_a_dash() {
        let mut v = with(&[("metadata/generateName", json!("abc-"))]);
        remove(&mut v, "metadata/name");
        assert_eq!(errors(v), vec!["metadata.name: Required value: name or generateName is required"]);
        assert_eq!(
            errors(with(&[("metadata/generateName", json!("Abc-"))])),
            vec![format!("metadata.generateName: Invalid value: \"Abc-\": {SUBDOMAIN_MSG}")]
        );
    }

    #[test]
    fn metadata_namespace_is_a_dns_label() {
        assert_eq!(
            errors(with(&[("metadata/namespace", json!("Default"))])),
            vec![format!("metadata.namespace: Invalid value: \"Default\": {DNS_LABEL_MSG}")]
        );
        assert_eq!(
            errors(with(&[("metadata/namespace", json!("kube.system"))])),
            vec!["metadata.namespace: Invalid value: \"kube.system\": must not contain dots"]
        );
    }

    #[test]
    fn label_keys_and_values() {
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"ok": "-bad"}))])),
            vec![format!("metadata.labels: Invalid value: \"-bad\": {LABEL_VALUE_MSG}")]
        );
        let long = "v".repeat(64);
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"ok": long}))])),
            vec![format!("metadata.labels: Invalid value: \"{long}\": must be no more than 63 bytes")]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"Example.com/x": "v"}))])),
            vec![format!("metadata.labels: Invalid value: \"Example.com/x\": prefix part {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"/x": "v"}))])),
            vec!["metadata.labels: Invalid value: \"/x\": prefix part must be non-empty"]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"a/b/c": "v"}))])),
            vec![
                "metadata.labels: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ]
        );
        assert_eq!(
            errors(with(&[("metadata/labels", json!({"example.com/": "v"}))])),
            vec![
                "metadata.labels: Invalid value: \"example.com/\": name part must be non-empty".to_string(),
                format!("metadata.labels: Invalid value: \"example.com/\": {NAME_PART_MSG}"),
            ]
        );
        // Good keys and values, including an empty value.
        let good = json!({"app.kubernetes.io/name": "x", "A_b.c-D": "", "k": "My_Value.1"});
        assert_eq!(errors(with(&[("metadata/labels", good)])), Vec::<String>::new());
    }

    #[test]
    fn annotation_keys_ignore_case_and_size_is_limited() {
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({"Example.COM/Some-Key": "x"}))])),
            Vec::<String>::new()
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        assert_eq!(
            errors(with(&[("metadata/annotations", json!({"k": big}))])),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn finalizers_and_owner_references() {
        assert_eq!(
            errors(with(&[("metadata/finalizers", json!(["kubernetes", "example.com/cleanup", "cleanup"]))])),
            vec![
                "metadata.finalizers[2]: Invalid value: \"cleanup\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
        let refs = json!([
            {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u1", "controller": true},
            {"apiVersion": "", "kind": "Node", "name": "n2", "uid": "", "controller": true}
        ]);
        let out = errors(with(&[("metadata/ownerReferences", refs)]));
        assert_eq!(out[0], "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty");
        assert_eq!(out[1], "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty");
        assert!(out[2].ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references for Node/n1 and Node/n2"
        ));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn selector_match_labels_syntax() {
        // A selector that does not parse is not matched against the template.
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {BAD_KEY: "b"}}))])),
            vec![format!("spec.selector.matchLabels: Invalid value: \"{BAD_KEY}\": {NAME_PART_MSG}")]
        );
        assert_eq!(
            errors(with(&[("spec/selector", json!({"matchLabels": {"a": "b c"}}))])),
            vec![format!("spec.selector.matchLabels: Invalid value: \"b c\": {LABEL_VALUE_MSG}")]
        );
    }

    #[test]
    fn selector_match_expressions_syntax() {
        let expr = |e: Value| errors(with(&[("spec/selector", json!({"matchExpressions": [e]}))]));
        assert_eq!(
            expr(json!({"key": "a", "operator": "In"})),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "NotIn", "values": []})),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "Exists", "values": ["b"]})),
            vec![
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "zz", "operator": "DoesNotExist", "values": ["b"]})),
            vec![
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "Foo", "values": ["b"]})),
            vec!["spec.selector.matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator"]
        );
        assert_eq!(
            expr(json!({"key": "a", "operator": "In", "values": ["b", "-x"]})),
            vec![format!("spec.selector.matchExpressions[0].values[1]: Invalid value: \"-x\": {LABEL_VALUE_MSG}")]
        );
        assert_eq!(
            expr(json!({"key": "a b", "operator": "Exists"})),
            vec![format!("spec.selector.matchExpressions[0].key: Invalid value: \"a b\": {NAME_PART_MSG}")]
        );
    }

    #[test]
    fn selector_expressions_are_matched_like_upstream() {
        let labels = ("spec/template/metadata/labels", json!({"a": "b", "tier": "node"}));
        let ok = |exprs: Value| errors(with(&[labels.clone(), ("spec/selector", json!({"matchExpressions": exprs}))]));
        let valid = json!([
            {"key": "a", "operator": "In", "values": ["x", "b"]},
            {"key": "tier", "operator": "NotIn", "values": ["web"]},
            {"key": "absent", "operator": "NotIn", "values": ["x"]},
            {"key": "tier", "operator": "Exists"},
            {"key": "absent", "operator": "DoesNotExist"}
        ]);
        assert_eq!(ok(valid), Vec::<String>::new());
        let mismatch = "spec.template.metadata.labels: Invalid value: {\"a\":\"b\",\"tier\":\"node\"}: `selector` does not match template `labels`";
        assert_eq!(ok(json!([{"key": "tier", "operator": "NotIn", "values": ["node"]}])), vec![mismatch]);
        assert_eq!(ok(json!([{"key": "absent", "operator": "Exists"}])), vec![mismatch]);
        assert_eq!(ok(json!([{"key": "a", "operator": "DoesNotExist"}])), vec![mismatch]);
        // matchLabels and matchExpressions are ANDed.
        let both = json!({"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]});
        assert_eq!(errors(with(&[labels.clone(), ("spec/selector", both)])), vec![mismatch]);
    }

    #[test]
    fn labels_outside_a_manifest() {
        let ok: BTreeMap<String, String> = [("app.kubernetes.io/name".to_string(), String::new())].into();
        assert!(validate_labels_at(&ok, "labels").is_empty());
        let bad: BTreeMap<String, String> = [("a b".to_string(), "-x".to_string())].into();
        let messages: Vec<String> = validate_labels_at(&bad, "labels").iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                format!("labels: Invalid value: \"a b\": {NAME_PART_MSG}"),
                format!("labels: Invalid value: \"-x\": {LABEL_VALUE_MSG}")
            ]
        );
    }
}
