//! DaemonSet validation: `ValidateDaemonSet`, `ValidateDaemonSetUpdate`, `ValidateDaemonSetStatusUpdate`, the
//! spec, its update strategy and rolling update (`pkg/apis/apps/validation/validation.go`), plus the apps/v1
//! immutable selector of `pkg/registry/apps/daemonset/strategy.go`. Run them on a defaulted object.
//!
//! Known difference from upstream: k8s-openapi cannot tell a missing `spec.selector` from `{}`, so both get the
//! `{}` error ("empty selector is invalid for daemonset"); upstream reports a nil selector as a template-labels
//! mismatch.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
// Through k8s-openapi's re-export, so this module needs no serde dependency of its own.
use k8s_openapi::serde::Serialize;

use super::field::{
    FieldError, Path, forbidden, go_quote, invalid, json, json_map, nonnegative, not_supported, required,
};
use super::intstr::{
    int_or_percent_value, int_or_string_raw, is_not_more_than_100_percent, validate_positive_int_or_percent,
};
use super::metadata::{
    FIELD_IMMUTABLE, selector_matches, validate_label_selector, validate_object_meta, validate_object_meta_update,
};
use super::or_empty;
use super::pod_spec::validate_pod_template_spec;

/// Annotation that carries the internal `spec.templateGeneration` in apps/v1.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// `ValidateDaemonSet` (create). Run it on a defaulted object.
pub fn validate_daemon_set(ds: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let template_generation = template_generation(&ds.metadata, &mut errs).unwrap_or(0);
    validate_object_meta(&ds.metadata, &Path::root("metadata"), &mut errs);
    validate_daemon_set_spec(&ds.spec, template_generation, &Path::root("spec"), &mut errs);
    errs
}

/// `ValidateDaemonSetUpdate` plus the registry's update rules: the create checks on `new`, metadata that may not
/// change, the templateGeneration rules and, as for apps/v1, an immutable selector.
///
/// The templateGeneration rules run only when `new` carries the annotation: the API server overwrites that value on
/// update, so a caller that does not manage it has nothing to check.
pub fn validate_daemon_set_update(new: &DaemonSet, old: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let new_tg = template_generation(&new.metadata, &mut errs);
    let old_tg = template_generation(&old.metadata, &mut Vec::new()).unwrap_or(0);
    validate_object_meta(&new.metadata, &Path::root("metadata"), &mut errs);
    validate_object_meta_update(&new.metadata, &old.metadata, &Path::root("metadata"), &mut errs);

    let spec_path = Path::root("spec");
    if let Some(new_tg) = new_tg {
        let tg_path = spec_path.child("templateGeneration");
        if new_tg < old_tg {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must not be decremented"));
        }
        let template_updated = !semantic_eq(&new.spec.template, &old.spec.template);
        if new_tg == old_tg && template_updated {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must be incremented upon template update"));
        } else if new_tg > old_tg && !template_updated {
            errs.push(invalid(&tg_path, new_tg.to_string(), "must not be incremented without template update"));
        }
    }

    validate_daemon_set_spec(&new.spec, new_tg.unwrap_or(old_tg), &spec_path, &mut errs);

    if !semantic_eq(&new.spec.selector, &old.spec.selector) {
        errs.push(invalid(&spec_path.child("selector"), json(&new.spec.selector), FIELD_IMMUTABLE));
    }
    errs
}

/// `ValidateDaemonSetStatusUpdate`: status counters are non-negative and `collisionCount` never goes down.
pub fn validate_daemon_set_status_update(new: &DaemonSet, old: &DaemonSet) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_object_meta_update(&new.metadata, &old.metadata, &Path::root("metadata"), &mut errs);
    let st = new.status.clone().unwrap_or_default();
    let p = Path::root("status");
    nonnegative(i64::from(st.current_number_scheduled), &p.child("currentNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_misscheduled), &p.child("numberMisscheduled"), &mut errs);
    nonnegative(i64::from(st.desired_number_scheduled), &p.child("desiredNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_ready), &p.child("numberReady"), &mut errs);
    nonnegative(st.observed_generation.unwrap_or(0), &p.child("observedGeneration"), &mut errs);
    nonnegative(i64::from(st.updated_number_scheduled.unwrap_or(0)), &p.child("updatedNumberScheduled"), &mut errs);
    nonnegative(i64::from(st.number_available.unwrap_or(0)), &p.child("numberAvailable"), &mut errs);
    nonnegative(i64::from(st.number_unavailable.unwrap_or(0)), &p.child("numberUnavailable"), &mut errs);
    if let Some(cc) = st.collision_count {
        nonnegative(i64::from(cc), &p.child("collisionCount"), &mut errs);
    }
    let old_cc = old.status.as_ref().and_then(|s| s.collision_count);
    let decremented = match (st.collision_count, old_cc) {
        (None, Some(_)) => true,
        (Some(n), Some(o)) => n < o,
        _ => false,
    };
    if decremented {
        let value = st.collision_count.unwrap_or(0);
        errs.push(invalid(&p.child("collisionCount"), value.to_string(), "cannot be decremented"));
    }
    errs
}

/// The internal `spec.templateGeneration`, carried by an annotation in apps/v1. A value that is not an integer
/// fails upstream's conversion; it is reported here as a field error.
fn template_generation(meta: &ObjectMeta, errs: &mut Vec<FieldError>) -> Option<i64> {
    let raw = meta.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION)?;
    match raw.parse::<i64>() {
        Ok(v) => Some(v),
        Err(_) => {
            let path = Path::root("metadata").child("annotations").key(TEMPLATE_GENERATION_ANNOTATION);
            errs.push(invalid(
                &path,
                go_quote(raw),
                format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(raw)),
            ));
            None
        }
    }
}

fn validate_daemon_set_spec(spec: &DaemonSetSpec, template_generation: i64, path: &Path, errs: &mut Vec<FieldError>) {
    let selector_path = path.child("selector");
    validate_label_selector(&spec.selector, &selector_path, errs);

    let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    // Only a selector that parses is matched (LabelSelectorAsSelector must succeed first).
    if selector_matches(&spec.selector, template_labels) == Some(false) {
        errs.push(invalid(
            &path.child("template").child("metadata").child("labels"),
            json_map(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    // k8s-openapi has no nil selector: a missing one and `{}` both arrive here as the empty selector.
    if selector_is_empty(&spec.selector) {
        errs.push(invalid(&selector_path, json(&spec.selector), "empty selector is invalid for daemonset"));
    }

    let template_path = path.child("template");
    validate_pod_template_spec(&spec.template, &template_path, errs);

    let empty = PodSpec::default();
    let pod_spec = spec.template.spec.as_ref().unwrap_or(&empty);
    let restart_policy = or_empty(&pod_spec.restart_policy);
    if restart_policy != "Always" {
        errs.push(not_supported(
            &template_path.child("spec").child("restartPolicy"),
            go_quote(restart_policy),
            &["Always"],
        ));
    }
    if pod_spec.active_deadline_seconds.is_some() {
        errs.push(forbidden(
            &template_path.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    nonnegative(i64::from(spec.min_ready_seconds.unwrap_or(0)), &path.child("minReadySeconds"), errs);
    nonnegative(template_generation, &path.child("templateGeneration"), errs);

    let strategy = spec.update_strategy.clone().unwrap_or_default();
    validate_update_strategy(&strategy, &path.child("updateStrategy"), errs);
    if let Some(limit) = spec.revision_history_limit {
        // Zero is a valid revisionHistoryLimit.
        nonnegative(i64::from(limit), &path.child("revisionHistoryLimit"), errs);
    }
}

fn validate_update_strategy(strategy: &DaemonSetUpdateStrategy, path: &Path, errs: &mut Vec<FieldError>) {
    match or_empty(&strategy.type_) {
        "OnDelete" => {}
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(required(&path.child("rollingUpdate"), "")),
            Some(ru) => validate_rolling_update(ru, &path.child("rollingUpdate"), errs),
        },
        _ => errs.push(not_supported(path, json(strategy), &["RollingUpdate", "OnDelete"])),
    }
}

fn validate_rolling_update(ru: &RollingUpdateDaemonSet, path: &Path, errs: &mut Vec<FieldError>) {
    // The internal fields are not pointers: an unset value converts to integer 0.
    let max_unavailable = ru.max_unavailable.clone().unwrap_or(IntOrString::Int(0));
    let max_surge = ru.max_surge.clone().unwrap_or(IntOrString::Int(0));
    let mu_path = path.child("maxUnavailable");
    let ms_path = path.child("maxSurge");
    validate_positive_int_or_percent(&max_unavailable, &mu_path, errs);
    validate_positive_int_or_percent(&max_surge, &ms_path, errs);
    is_not_more_than_100_percent(&max_unavailable, &mu_path, errs);
    is_not_more_than_100_percent(&max_surge, &ms_path, errs);

    let has_unavailable = int_or_percent_value(&max_unavailable) != 0;
    let has_surge = int_or_percent_value(&max_surge) != 0;
    if has_unavailable && has_surge {
        errs.push(invalid(&ms_path, int_or_string_raw(&max_surge), "may not be set when maxUnavailable is non-zero"));
    } else if !has_unavailable && !has_surge {
        errs.push(required(&mu_path, "cannot be 0 when maxSurge is 0"));
    }
}

fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// `apiequality.Semantic.DeepEqual` on API objects: absent and empty collections are equal.
fn semantic_eq<T: Serialize>(a: &T, b: &T) -> bool {
    fn normalize(v: serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        match v {
            Value::Null => None,
            Value::Array(items) => {
                let items: Vec<Value> = items.into_iter().map(|i| normalize(i).unwrap_or(Value::Null)).collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            Value::Object(map) => {
                let map: serde_json::Map<String, Value> =
                    map.into_iter().filter_map(|(k, v)| normalize(v).map(|v| (k, v))).collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
            other => Some(other),
        }
    }
    let a = serde_json::to_value(a).ok().and_then(normalize);
    let b = serde_json::to_value(b).ok().and_then(normalize);
    a == b
}

#[cfg(test)]
mod tests;
