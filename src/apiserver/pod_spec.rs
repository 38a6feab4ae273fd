//! The pod template of a DaemonSet: `ValidatePodTemplateSpec`, the pod-specific annotations and `ValidatePodSpec`
//! with its DNS config (`pkg/apis/core/validation/validation.go`). Containers, volumes, probes and scheduling
//! fields have their own files.
//!
//! Not validated: resource quantities (the strategy checks that they parse), security contexts, volume devices,
//! topology spread, pod (anti-)affinity, seccomp/AppArmor annotations, DNS search paths and IPs.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};

use super::containers::{validate_containers, validate_ephemeral_containers, validate_init_containers};
use super::field::{FieldError, Path, duplicate, forbidden, go_quote, invalid, json, not_supported, required};
use super::metadata::{validate_annotations, validate_labels};
use super::names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name};
use super::or_empty;
use super::scheduling::{validate_node_affinity, validate_toleration};
use super::volumes::validate_volumes;

const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub(super) fn validate_pod_template_spec(template: &PodTemplateSpec, path: &Path, errs: &mut Vec<FieldError>) {
    let meta = template.metadata.as_ref();
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    // Note the paths: `spec.template.labels`, not `spec.template.metadata.labels`.
    validate_labels(meta.and_then(|m| m.labels.as_ref()), &path.child("labels"), errs);
    validate_annotations(annotations, &path.child("annotations"), errs);

    let empty = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&empty);
    validate_pod_specific_annotations(annotations, spec, &path.child("annotations"), errs);
    validate_pod_spec(spec, &path.child("spec"), errs);
    if spec.ephemeral_containers.as_ref().is_some_and(|ec| !ec.is_empty()) {
        errs.push(forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

fn validate_pod_specific_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(annotations) = annotations else {
        return;
    };
    if let Some(v) = annotations.get(MIRROR_POD_ANNOTATION)
        && or_empty(&spec.node_name).is_empty()
    {
        errs.push(invalid(
            &path.key(MIRROR_POD_ANNOTATION),
            go_quote(v),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    if let Some(v) = annotations.get(POD_DELETION_COST) {
        // No '+' sign and no leading zeros, then a 32-bit integer.
        let first_ok = match v.as_bytes().first() {
            Some(b'-') => true,
            Some(b'0') => v == "0",
            Some(b) => b.is_ascii_digit(),
            None => false,
        };
        if !first_ok || v.parse::<i32>().is_err() {
            errs.push(invalid(&path.key(POD_DELETION_COST), go_quote(v), "must be a 32bit integer"));
        }
    }
}

fn validate_pod_spec(spec: &PodSpec, path: &Path, errs: &mut Vec<FieldError>) {
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(required(&path.child("terminationGracePeriodSeconds"), ""));
    }
    let grace = spec.termination_grace_period_seconds;
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), errs);

    validate_containers(&spec.containers, &volumes, grace, &path.child("containers"), errs);
    let init = spec.init_containers.as_deref().unwrap_or_default();
    validate_init_containers(init, &spec.containers, &volumes, grace, &path.child("initContainers"), errs);
    validate_ephemeral_containers(spec, &volumes, &path.child("ephemeralContainers"), errs);

    if spec.host_network == Some(true) {
        for (ci, c) in spec.containers.iter().enumerate() {
            let ports_path = path.child("containers").index(ci).child("ports");
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                // In a template an unset hostPort is fine; it is defaulted when the pod is created.
                let hp = p.host_port.unwrap_or(0);
                if hp != 0 && hp != p.container_port {
                    errs.push(invalid(
                        &ports_path.index(pi).child("hostPort"),
                        hp.to_string(),
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }

    let restart_path = path.child("restartPolicy");
    match or_empty(&spec.restart_policy) {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(&restart_path, "")),
        other => errs.push(not_supported(&restart_path, go_quote(other), &["Always", "OnFailure", "Never"])),
    }
    let dns_path = path.child("dnsPolicy");
    let dns_policy = or_empty(&spec.dns_policy);
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(required(&dns_path, "")),
        other => errs.push(not_supported(
            &dns_path,
            go_quote(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    validate_labels(spec.node_selector.as_ref(), &path.child("nodeSelector"), errs);
    if let Some(na) = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()) {
        validate_node_affinity(na, &path.child("affinity").child("nodeAffinity"), errs);
    }
    validate_dns_config(spec, dns_policy, &path.child("dnsConfig"), errs);
    for (i, gate) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        for msg in is_qualified_name(&gate.condition_type) {
            errs.push(invalid(&p, go_quote(&gate.condition_type), msg));
        }
    }
    let mut gates = HashSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        for msg in is_qualified_name(&gate.name) {
            errs.push(invalid(&p, go_quote(&gate.name), msg));
        }
        if !gates.insert(gate.name.as_str()) {
            errs.push(duplicate(&p, go_quote(&gate.name)));
        }
    }
    for (field, value) in [("serviceAccountName", &spec.service_account_name), ("nodeName", &spec.node_name)] {
        if !or_empty(value).is_empty() {
            for msg in is_dns1123_subdomain(or_empty(value)) {
                errs.push(invalid(&path.child(field), go_quote(or_empty(value)), msg));
            }
        }
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(invalid(
            &path.child("activeDeadlineSeconds"),
            ads.to_string(),
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if !or_empty(value).is_empty() {
            for msg in is_dns1123_label(or_empty(value)) {
                errs.push(invalid(&path.child(field), go_quote(or_empty(value)), msg));
            }
        }
    }
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        validate_toleration(t, &path.child("tolerations").index(i), errs);
    }
    if !or_empty(&spec.priority_class_name).is_empty() {
        for msg in is_dns1123_subdomain(or_empty(&spec.priority_class_name)) {
            errs.push(invalid(&path.child("priorityClassName"), go_quote(or_empty(&spec.priority_class_name)), msg));
        }
    }
    if let Some(rc) = &spec.runtime_class_name {
        for msg in is_dns1123_subdomain(rc) {
            errs.push(invalid(&path.child("runtimeClassName"), go_quote(rc), msg));
        }
    }
    if let Some(pp) = &spec.preemption_policy {
        let pp_path = path.child("preemptionPolicy");
        match pp.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(required(&pp_path, "")),
            other => errs.push(not_supported(&pp_path, go_quote(other), &["PreemptLowerPriority", "Never"])),
        }
    }
}

fn validate_dns_config(spec: &PodSpec, dns_policy: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if dns_policy == "None" {
        match &spec.dns_config {
            None => {
                errs.push(required(path, "must provide `dnsConfig` when `dnsPolicy` is None"));
                return;
            }
            Some(c) if c.nameservers.as_ref().is_none_or(Vec::is_empty) => {
                errs.push(required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
                return;
            }
            Some(_) => {}
        }
    }
    let Some(config) = &spec.dns_config else {
        return;
    };
    let nameservers = config.nameservers.as_deref().unwrap_or_default();
    if nameservers.len() > 3 {
        errs.push(invalid(&path.child("nameservers"), json(&nameservers), "must not have more than 3 nameservers"));
    }
    let searches = config.searches.as_deref().unwrap_or_default();
    if searches.len() > 32 {
        errs.push(invalid(&path.child("searches"), json(&searches), "must not have more than 32 search paths"));
    }
    for (i, option) in config.options.iter().flatten().enumerate() {
        if or_empty(&option.name).is_empty() {
            errs.push(required(&path.child("options").index(i), "must not be empty"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::test_support::*;
    use serde_json::json;

    #[test]
    fn template_labels_and_annotations_have_their_own_paths() {
        let v = with(&[
            ("spec/template/metadata/labels", json!({"a": "b", "bad key": "x"})),
            ("spec/template/metadata/annotations", json!({"bad key": "x"})),
        ]);
        assert_eq!(
            errors(v),
            vec![
                format!("spec.template.labels: Invalid value: \"bad key\": {NAME_PART_MSG}"),
                format!("spec.template.annotations: Invalid value: \"bad key\": {NAME_PART_MSG}"),
            ]
        );
    }

    #[test]
    fn host_network_host_port_must_match_container_port() {
        let v = with(&[
            ("spec/template/spec/hostNetwork", json!(true)),
            ("spec/template/spec/containers/0/ports", json!([{"containerPort": 80, "hostPort": 81}])),
        ]);
        assert_eq!(
            errors(v),
            vec![format!(
                "{}: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
                container_path("ports[0].hostPort")
            )]
        );
    }

    #[test]
    fn dns_policy_and_pod_names() {
        assert_eq!(
            errors(with(&[("spec/template/spec/dnsPolicy", json!("Foo"))])),
            vec![
                "spec.template.spec.dnsPolicy: Unsupported value: \"Foo\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            ]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/dnsPolicy", json!("None"))])),
            vec!["spec.template.spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/serviceAccountName", json!("Bad_SA"))])),
            vec![format!("spec.template.spec.serviceAccountName: Invalid value: \"Bad_SA\": {SUBDOMAIN_MSG}")]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/hostname", json!("a.b"))])),
            vec!["spec.template.spec.hostname: Invalid value: \"a.b\": must not contain dots"]
        );
    }

    #[test]
    fn pod_deletion_cost_annotation() {
        let cost = |v: &str| {
            errors(with(&[(
                "spec/template/metadata/annotations",
                json!({"controller.kubernetes.io/pod-deletion-cost": v}),
            )]))
        };
        assert_eq!(cost("-5"), Vec::<String>::new());
        assert_eq!(cost("0"), Vec::<String>::new());
        for bad in ["+10", "007", "1.5", "2147483648"] {
            assert_eq!(
                cost(bad),
                vec![format!(
                    "spec.template.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: \"{bad}\": must be a 32bit integer"
                )]
            );
        }
    }
}
