//! Parsing of apps/v1 DaemonSet manifests as users keep them: YAML or JSON text, one document.

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::Value;

/// Why a manifest could not be read; rendered like the API server's decoding errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is empty")]
    Empty,
    #[error("manifest is not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("manifest must be a single document; found {0}")]
    MultipleDocuments(usize),
    #[error("manifest must be a mapping (an object), not {0}")]
    NotAnObject(&'static str),
    #[error("{field}: Unsupported value: {got:?}: supported values: {want:?}")]
    WrongType { field: &'static str, got: String, want: &'static str },
    #[error("{path}: {message}")]
    Field { path: String, message: String },
}

impl ManifestError {
    /// The field the error is about: the manifest's own field when one is named, `manifest` otherwise.
    pub fn field(&self) -> &str {
        match self {
            ManifestError::WrongType { field, .. } => field,
            ManifestError::Field { path, .. } => path,
            _ => "manifest",
        }
    }
}

/// Parses one apps/v1 DaemonSet from YAML or JSON. Field-level type errors name the Kubernetes field path.
pub fn parse_daemon_set(text: &str) -> Result<DaemonSet, ManifestError> {
    if text.trim().is_empty() {
        return Err(ManifestError::Empty);
    }
    // JSON is YAML, but parsing JSON first gives JSON users JSON's error messages.
    let value: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?
    } else {
        let mut docs: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        docs.retain(|d| !d.is_null());
        match docs.len() {
            0 => return Err(ManifestError::Empty),
            1 => docs.remove(0),
            n => return Err(ManifestError::MultipleDocuments(n)),
        }
    };
    let kind_of = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let Value::Object(object) = &value else {
        return Err(ManifestError::NotAnObject(kind_of(&value)));
    };
    let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    if field("apiVersion") != "apps/v1" {
        return Err(ManifestError::WrongType { field: "apiVersion", got: field("apiVersion"), want: "apps/v1" });
    }
    if field("kind") != "DaemonSet" {
        return Err(ManifestError::WrongType { field: "kind", got: field("kind"), want: "DaemonSet" });
    }
    // k8s-openapi fills absent required fields with defaults; an absent selector is the API server's
    // "Required value", not the "empty selector" a `{}` is.
    for (path, present) in [
        ("spec", object.get("spec").is_some()),
        ("spec.selector", value.pointer("/spec/selector").is_some()),
        ("spec.template", value.pointer("/spec/template").is_some()),
    ] {
        if !present {
            return Err(ManifestError::Field { path: path.to_string(), message: "Required value".to_string() });
        }
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| ManifestError::Field { path: e.path().to_string(), message: e.inner().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FLUENTD: &str = include_str!("../../deploy/examples/fluentd-elasticsearch.yaml");

    #[test]
    fn fluentd_example_parses_verbatim() {
        let ds = parse_daemon_set(FLUENTD).unwrap();
        assert_eq!(ds.metadata.name.as_deref(), Some("fluentd-elasticsearch"));
        assert_eq!(ds.metadata.namespace.as_deref(), Some("kube-system"));
        let pod = ds.spec.template.spec.unwrap();
        assert_eq!(pod.containers[0].image.as_deref(), Some("quay.io/fluentd_elasticsearch/fluentd:v5.0.1"));
        assert_eq!(pod.tolerations.unwrap().len(), 2);
    }

    #[test]
    fn json_manifest_parses() {
        let json = serde_json::to_string(&parse_daemon_set(FLUENTD).unwrap()).unwrap();
        assert_eq!(parse_daemon_set(&json).unwrap(), parse_daemon_set(FLUENTD).unwrap());
    }

    #[test]
    fn bad_manifests_say_why() {
        assert_eq!(parse_daemon_set("  "), Err(ManifestError::Empty));
        assert!(matches!(parse_daemon_set("a: [1, 2"), Err(ManifestError::Syntax(_))));
        assert!(matches!(parse_daemon_set("{\"a\": "), Err(ManifestError::Syntax(_))));
        assert_eq!(parse_daemon_set("- 1"), Err(ManifestError::NotAnObject("a list")));
        let two = format!("{FLUENTD}\n---\n{FLUENTD}");
        assert_eq!(parse_daemon_set(&two), Err(ManifestError::MultipleDocuments(2)));
        let deploy = FLUENTD.replace("kind: DaemonSet", "kind: Deployment");
        assert_eq!(
            parse_daemon_set(&deploy).unwrap_err().to_string(),
            "kind: Unsupported value: \"Deployment\": supported values: \"DaemonSet\""
        );
        let bad_type = FLUENTD.replace("terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: soon");
        let err = parse_daemon_set(&bad_type).unwrap_err().to_string();
        assert!(err.starts_with("spec.template.spec.terminationGracePeriodSeconds: "), "{err}");
        let no_selector = FLUENTD.replace("  selector:\n    matchLabels:\n      name: fluentd-elasticsearch\n", "");
        assert_eq!(parse_daemon_set(&no_selector).unwrap_err().to_string(), "spec.selector: Required value");
    }
}
