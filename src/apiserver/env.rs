//! Environment of a container: `ValidateEnv` with its `valueFrom` sources and `ValidateEnvFrom`
//! (`pkg/apis/core/validation/validation.go`).

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, ObjectFieldSelector};

use super::field::{FieldError, Path, go_quote, invalid, not_supported, required};
use super::names::{
    is_config_map_key, is_dns1123_subdomain, is_qualified_name, is_relaxed_env_var_name, name_is_dns_subdomain,
};
use super::or_empty;

pub(super) fn validate_env(vars: &[EnvVar], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in vars.iter().enumerate() {
        let idx = path.index(i);
        if ev.name.is_empty() {
            errs.push(required(&idx.child("name"), ""));
        } else {
            for msg in is_relaxed_env_var_name(&ev.name) {
                errs.push(invalid(&idx.child("name"), go_quote(&ev.name), msg));
            }
        }
        let Some(vf) = &ev.value_from else { continue };
        let vf_path = idx.child("valueFrom");
        let mut sources = 0;
        if let Some(fr) = &vf.field_ref {
            sources += 1;
            validate_env_field_ref(fr, &vf_path.child("fieldRef"), errs);
        }
        if let Some(rf) = &vf.resource_field_ref {
            sources += 1;
            let rp = vf_path.child("resourceFieldRef");
            const RESOURCES: [&str; 6] = [
                "limits.cpu",
                "limits.ephemeral-storage",
                "limits.memory",
                "requests.cpu",
                "requests.ephemeral-storage",
                "requests.memory",
            ];
            let hugepages =
                rf.resource.starts_with("limits.hugepages-") || rf.resource.starts_with("requests.hugepages-");
            if rf.resource.is_empty() {
                errs.push(required(&rp.child("resource"), ""));
            } else if !RESOURCES.contains(&rf.resource.as_str()) && !hugepages {
                errs.push(not_supported(&rp.child("resource"), go_quote(&rf.resource), &RESOURCES));
            }
        }
        if let Some(k) = &vf.config_map_key_ref {
            sources += 1;
            validate_key_selector(&k.name, &k.key, &vf_path.child("configMapKeyRef"), errs);
        }
        if let Some(k) = &vf.secret_key_ref {
            sources += 1;
            validate_key_selector(&k.name, &k.key, &vf_path.child("secretKeyRef"), errs);
        }
        if sources == 0 {
            errs.push(invalid(
                &vf_path,
                go_quote(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !or_empty(&ev.value).is_empty() {
            errs.push(invalid(&vf_path, go_quote(""), "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(invalid(&vf_path, go_quote(""), "may not have more than one field specified at a time"));
        }
    }
}

fn validate_env_field_ref(fr: &ObjectFieldSelector, path: &Path, errs: &mut Vec<FieldError>) {
    let api_version = or_empty(&fr.api_version);
    if api_version.is_empty() {
        errs.push(required(&path.child("apiVersion"), ""));
        return;
    }
    if fr.field_path.is_empty() {
        errs.push(required(&path.child("fieldPath"), ""));
        return;
    }
    // podshelper.ConvertDownwardAPIFieldLabel for v1.
    let subscripted =
        fr.field_path.strip_suffix("']").and_then(|rest| rest.split_once("['")).filter(|(p, _)| !p.is_empty());
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((p, _)) = subscripted {
        (!matches!(p, "metadata.annotations" | "metadata.labels"))
            .then(|| format!("field label does not support subscript: {}", fr.field_path))
    } else {
        const LABELS: [&str; 15] = [
            "metadata.annotations",
            "metadata.labels",
            "metadata.name",
            "metadata.namespace",
            "metadata.uid",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "spec.schedulerName",
            "status.phase",
            "status.hostIP",
            "status.hostIPs",
            "status.podIP",
            "status.podIPs",
            "spec.host",
        ];
        (!LABELS.contains(&fr.field_path.as_str())).then(|| format!("field label not supported: {}", fr.field_path))
    };
    if let Some(e) = conversion_error {
        errs.push(invalid(
            &path.child("fieldPath"),
            go_quote(&fr.field_path),
            format!("error converting fieldPath: {e}"),
        ));
        return;
    }
    if let Some((p, subscript)) = subscripted {
        let key = if p == "metadata.annotations" { subscript.to_lowercase() } else { subscript.to_string() };
        for msg in is_qualified_name(&key) {
            errs.push(invalid(path, go_quote(&key), msg));
        }
        return;
    }
    const ENV_PATHS: [&str; 9] = [
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    // The legacy "spec.host" converts to spec.nodeName.
    let internal = if fr.field_path == "spec.host" { "spec.nodeName" } else { fr.field_path.as_str() };
    if !ENV_PATHS.contains(&internal) {
        errs.push(not_supported(&path.child("fieldPath"), go_quote(internal), &ENV_PATHS));
    }
}

fn validate_key_selector(name: &str, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    for msg in is_dns1123_subdomain(name) {
        errs.push(invalid(&path.child("name"), go_quote(name), msg));
    }
    if key.is_empty() {
        errs.push(required(&path.child("key"), ""));
    } else {
        for msg in is_config_map_key(key) {
            errs.push(invalid(&path.child("key"), go_quote(key), msg));
        }
    }
}

pub(super) fn validate_env_from(sources: &[EnvFromSource], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in sources.iter().enumerate() {
        let idx = path.index(i);
        let prefix = or_empty(&ev.prefix);
        if !prefix.is_empty() {
            for msg in is_relaxed_env_var_name(prefix) {
                errs.push(invalid(&idx.child("prefix"), go_quote(prefix), msg));
            }
        }
        let mut count = 0;
        for (field, name) in [
            ("configMapRef", ev.config_map_ref.as_ref().map(|r| r.name.as_str())),
            ("secretRef", ev.secret_ref.as_ref().map(|r| r.name.as_str())),
        ] {
            let Some(name) = name else { continue };
            count += 1;
            let np = idx.child(field).child("name");
            if name.is_empty() {
                errs.push(required(&np, ""));
            } else {
                for msg in name_is_dns_subdomain(name, true) {
                    errs.push(invalid(&np, go_quote(name), msg));
                }
            }
        }
        // Upstream reports these on the list path, not the item.
        if count == 0 {
            errs.push(invalid(path, go_quote(""), "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errs.push(invalid(path, go_quote(""), "may not have more than one field specified at a time"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn env_vars() {
        let env = |e: Value| errors(with(&[("spec/template/spec/containers/0/env", e)]));
        assert_eq!(env(json!([{"name": "MY_VAR.1-x", "value": "v"}])), Vec::<String>::new());
        assert_eq!(
            env(json!([{"name": "A=B"}])),
            vec![format!(
                "{}: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                container_path("env[0].name")
            )]
        );
        assert_eq!(env(json!([{"name": ""}])), vec![format!("{}: Required value", container_path("env[0].name"))]);
        let field_ref = |p: &str| env(json!([{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": p}}}]));
        assert_eq!(field_ref("spec.nodeName"), Vec::<String>::new());
        assert_eq!(field_ref("metadata.labels['app']"), Vec::<String>::new());
        assert_eq!(
            field_ref("status.phase"),
            vec![format!(
                "{}: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                container_path("env[0].valueFrom.fieldRef.fieldPath")
            )]
        );
        assert_eq!(
            field_ref("spec.nothing"),
            vec![format!(
                "{}: Invalid value: \"spec.nothing\": error converting fieldPath: field label not supported: spec.nothing",
                container_path("env[0].valueFrom.fieldRef.fieldPath")
            )]
        );
        assert_eq!(
            env(json!([{"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])),
            vec![format!(
                "{}: Invalid value: \"\": may not be specified when `value` is not empty",
                container_path("env[0].valueFrom")
            )]
        );
        assert_eq!(
            env(json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": ""}}}])),
            vec![format!("{}: Required value", container_path("env[0].valueFrom.secretKeyRef.key"))]
        );
    }
}
