//! Shared by the apiserver tests: upstream's valid DaemonSet, JSON edits of it, and its validation rendered.

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

use super::daemonset::{validate_daemon_set, validate_daemon_set_update};
use super::defaults::set_defaults;
use super::field::FieldError;

pub(crate) const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
pub(crate) const DNS_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
pub(crate) const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
pub(crate) const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
pub(crate) const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
pub(crate) const BAD_KEY: &str = "NoUppercaseOrSpecialCharsLike=Equals";

/// Upstream's validSelector / validPodTemplate DaemonSet.
pub(crate) fn base() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "abc", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "abc", "image": "image"}]}
            }
        }
    })
}

/// Sets `path` ("a/b/0/c") in a JSON tree, creating objects on the way.
pub(crate) fn set(v: &mut Value, path: &str, new: Value) {
    let parts: Vec<&str> = path.split('/').collect();
    let mut cur = v;
    for part in &parts[..parts.len() - 1] {
        cur = match cur {
            Value::Array(items) => &mut items[part.parse::<usize>().expect("array index")],
            other => {
                other.as_object_mut().expect("object on the path").entry(part.to_string()).or_insert_with(|| json!({}))
            }
        };
    }
    let last = parts[parts.len() - 1];
    match cur {
        Value::Array(items) => items[last.parse::<usize>().expect("array index")] = new,
        other => {
            other.as_object_mut().expect("object at the end").insert(last.to_string(), new);
        }
    }
}

pub(crate) fn remove(v: &mut Value, path: &str) {
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    let target = if parent.is_empty() { v } else { v.pointer_mut(&format!("/{parent}")).expect("parent exists") };
    target.as_object_mut().expect("object").remove(last);
}

pub(crate) fn with(pairs: &[(&str, Value)]) -> Value {
    let mut v = base();
    for (path, value) in pairs {
        set(&mut v, path, value.clone());
    }
    v
}

pub(crate) fn parse(v: Value) -> DaemonSet {
    serde_json::from_value(v).expect("manifest parses")
}

pub(crate) fn defaulted(v: Value) -> DaemonSet {
    let mut ds = parse(v);
    set_defaults(&mut ds);
    ds
}

pub(crate) fn render(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

pub(crate) fn errors(v: Value) -> Vec<String> {
    render(&validate_daemon_set(&defaulted(v)))
}

pub(crate) fn update_errors(new: Value, old: Value) -> Vec<String> {
    render(&validate_daemon_set_update(&defaulted(new), &defaulted(old)))
}

pub(crate) fn container_path(rest: &str) -> String {
    format!("spec.template.spec.containers[0].{rest}")
}

pub(crate) fn rolling(ru: Value) -> Vec<String> {
    errors(with(&[("spec/updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": ru}))]))
}

pub(crate) const MU: &str = "spec.updateStrategy.rollingUpdate.maxUnavailable";
pub(crate) const MS: &str = "spec.updateStrategy.rollingUpdate.maxSurge";
