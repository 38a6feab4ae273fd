//! Containers of a pod template: regular, init (sidecars included) and ephemeral ones, their names, images,
//! ports and host ports (`validateContainers`, `validateInitContainers`, `validateEphemeralContainers` and
//! `validateContainerCommon` in `pkg/apis/core/validation/validation.go`).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};

use super::env::{validate_env, validate_env_from};
use super::field::{FieldError, Path, duplicate, forbidden, go_quote, invalid, not_found, not_supported, required};
use super::names::{is_dns1123_label, is_valid_port_name, is_valid_port_num};
use super::or_empty;
use super::probes::{validate_lifecycle, validate_probes};
use super::volumes::{Volumes, validate_volume_mounts};

pub(super) fn validate_containers(
    containers: &[Container],
    volumes: &Volumes<'_>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    if containers.is_empty() {
        errs.push(required(path, ""));
        return;
    }
    let mut names = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        if !names.insert(c.name.as_str()) {
            errs.push(duplicate(&p.child("name"), go_quote(&c.name)));
        }
        if let Some(lc) = &c.lifecycle {
            validate_lifecycle(lc, grace, &p.child("lifecycle"), errs);
        }
        validate_probes(c, grace, &p, errs);
        if c.restart_policy.is_some() {
            errs.push(forbidden(&p.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    // Host ports must not collide across all regular containers.
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            check_host_port(port, &path.index(ci).child("ports").index(pi), &mut seen, errs);
        }
    }
}

fn check_host_port(port: &ContainerPort, path: &Path, seen: &mut HashSet<String>, errs: &mut Vec<FieldError>) {
    let hp = port.host_port.unwrap_or(0);
    if hp == 0 {
        return;
    }
    let key = format!("{}/{}/{hp}", or_empty(&port.protocol), or_empty(&port.host_ip));
    if seen.contains(&key) {
        errs.push(duplicate(&path.child("hostPort"), go_quote(&key)));
    } else {
        seen.insert(key);
    }
}

pub(super) fn validate_init_containers(
    init: &[Container],
    regular: &[Container],
    volumes: &Volumes<'_>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let mut names: HashSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in init.iter().enumerate() {
        let p = path.index(i);
        validate_container_common(c, volumes, &p, errs);
        let restart_always = match c.restart_policy.as_deref() {
            None => false,
            Some("Always") => true,
            Some(other) => {
                errs.push(not_supported(&p.child("restartPolicy"), go_quote(other), &["Always"]));
                false
            }
        };
        if names.contains(c.name.as_str()) {
            errs.push(duplicate(&p.child("name"), go_quote(&c.name)));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        // Init containers run one at a time, so each is checked alone; upstream passes a one-element list,
        // which is why the path always says initContainers[0].
        let mut seen = HashSet::new();
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            check_host_port(port, &path.index(0).child("ports").index(pi), &mut seen, errs);
        }
        if restart_always {
            if let Some(lc) = &c.lifecycle {
                validate_lifecycle(lc, grace, &p.child("lifecycle"), errs);
            }
            validate_probes(c, grace, &p, errs);
        } else {
            let msg = "may not be set for init containers without restartPolicy=Always";
            if c.lifecycle.is_some() {
                errs.push(forbidden(&p.child("lifecycle"), msg));
            }
            for (field, set) in [
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    errs.push(forbidden(&p.child(field), msg));
                }
            }
        }
    }
}

pub(super) fn validate_ephemeral_containers(
    spec: &PodSpec,
    volumes: &Volumes<'_>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(ephemeral) = spec.ephemeral_containers.as_deref() else {
        return;
    };
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let others: HashSet<&str> = spec.containers.iter().chain(init).map(|c| c.name.as_str()).collect();
    let mut all = others.clone();
    for (i, ec) in ephemeral.iter().enumerate() {
        let p = path.index(i);
        // EphemeralContainerCommon has the Container fields; upstream validates it as a Container.
        let as_container: Container = serde_json::to_value(ec).and_then(serde_json::from_value).unwrap_or_default();
        validate_container_common(&as_container, volumes, &p, errs);
        let image = or_empty(&ec.image);
        if image.len() != image.trim().len() {
            errs.push(invalid(&p.child("image"), go_quote(image), "must not have leading or trailing whitespace"));
        }
        if !all.insert(ec.name.as_str()) {
            errs.push(duplicate(&p.child("name"), go_quote(&ec.name)));
        }
        if let Some(target) = ec.target_container_name.as_deref()
            && !target.is_empty()
            && !others.contains(target)
        {
            errs.push(not_found(&p.child("targetContainerName"), go_quote(target)));
        }
    }
}

fn validate_container_common(c: &Container, volumes: &Volumes<'_>, path: &Path, errs: &mut Vec<FieldError>) {
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(required(&name_path, ""));
    } else {
        for msg in is_dns1123_label(&c.name) {
            errs.push(invalid(&name_path, go_quote(&c.name), msg));
        }
    }
    // Upstream deliberately does not trim: " " is a valid image in a template.
    if or_empty(&c.image).is_empty() {
        errs.push(required(&path.child("image"), ""));
    }
    let tmp_path = path.child("terminationMessagePolicy");
    match or_empty(&c.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(required(&tmp_path, "")),
        other => errs.push(not_supported(&tmp_path, go_quote(other), &["File", "FallbackToLogsOnError"])),
    }
    validate_container_ports(c, &path.child("ports"), errs);
    validate_env(c.env.as_deref().unwrap_or_default(), &path.child("env"), errs);
    validate_env_from(c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom"), errs);
    validate_volume_mounts(c, volumes, &path.child("volumeMounts"), errs);
    let pull_path = path.child("imagePullPolicy");
    match or_empty(&c.image_pull_policy) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(&pull_path, "")),
        other => errs.push(not_supported(&pull_path, go_quote(other), &["Always", "IfNotPresent", "Never"])),
    }
}

fn validate_container_ports(c: &Container, path: &Path, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let idx = path.index(i);
        let name = or_empty(&port.name);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(invalid(&idx.child("name"), go_quote(name), msg));
                }
            } else if !names.insert(name) {
                errs.push(duplicate(&idx.child("name"), go_quote(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(required(&idx.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(i64::from(port.container_port)) {
                errs.push(invalid(&idx.child("containerPort"), port.container_port.to_string(), msg));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in is_valid_port_num(i64::from(host_port)) {
                errs.push(invalid(&idx.child("hostPort"), host_port.to_string(), msg));
            }
        }
        let protocol = or_empty(&port.protocol);
        if protocol.is_empty() {
            errs.push(required(&idx.child("protocol"), ""));
        } else if !matches!(protocol, "TCP" | "UDP" | "SCTP") {
            errs.push(not_supported(&idx.child("protocol"), go_quote(protocol), &["SCTP", "TCP", "UDP"]));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::test_support::*;
    use serde_json::{Value, json};

    #[test]
    fn at_least_one_container() {
        assert_eq!(
            errors(with(&[("spec/template/spec/containers", json!([]))])),
            vec!["spec.template.spec.containers: Required value"]
        );
    }

    #[test]
    fn container_names() {
        let name = |n: &str| errors(with(&[("spec/template/spec/containers/0/name", json!(n))]));
        assert_eq!(name(""), vec![format!("{}: Required value", container_path("name"))]);
        assert_eq!(name("Abc"), vec![format!("{}: Invalid value: \"Abc\": {DNS_LABEL_MSG}", container_path("name"))]);
        assert_eq!(
            name("a.b"),
            vec![format!("{}: Invalid value: \"a.b\": must not contain dots", container_path("name"))]
        );
        let long = "a".repeat(64);
        assert_eq!(
            name(&long),
            vec![format!("{}: Invalid value: \"{long}\": must be no more than 63 characters", container_path("name"))]
        );
        assert_eq!(
            errors(with(&[(
                "spec/template/spec/containers",
                json!([{"name": "abc", "image": "i"}, {"name": "abc", "image": "i"}])
            )])),
            vec!["spec.template.spec.containers[1].name: Duplicate value: \"abc\""]
        );
    }

    #[test]
    fn container_image_is_required() {
        let mut v = base();
        remove(&mut v, "spec/template/spec/containers/0/image");
        assert_eq!(errors(v), vec![format!("{}: Required value", container_path("image"))]);
    }

    #[test]
    fn container_restart_policy_and_termination_message_policy() {
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/restartPolicy", json!("Always"))])),
            vec![format!("{}: Forbidden: may not be set for non-init containers", container_path("restartPolicy"))]
        );
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/terminationMessagePolicy", json!("Stdout"))])),
            vec![format!(
                "{}: Unsupported value: \"Stdout\": supported values: \"File\", \"FallbackToLogsOnError\"",
                container_path("terminationMessagePolicy")
            )]
        );
    }

    #[test]
    fn container_ports() {
        let ports = |p: Value| errors(with(&[("spec/template/spec/containers/0/ports", p)]));
        let port_path = |rest: &str| container_path(&format!("ports[{rest}"));
        assert_eq!(ports(json!([{"containerPort": 1}, {"containerPort": 65535}])), Vec::<String>::new());
        assert_eq!(
            ports(json!([{"containerPort": 0}])),
            vec![format!("{}: Required value", port_path("0].containerPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 70000}])),
            vec![format!(
                "{}: Invalid value: 70000: must be between 1 and 65535, inclusive",
                port_path("0].containerPort")
            )]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "hostPort": 70000}])),
            vec![format!("{}: Invalid value: 70000: must be between 1 and 65535, inclusive", port_path("0].hostPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "hostPort": -1}])),
            vec![format!("{}: Invalid value: -1: must be between 1 and 65535, inclusive", port_path("0].hostPort"))]
        );
        assert_eq!(
            ports(json!([{"containerPort": 80, "protocol": "HTTP"}])),
            vec![format!(
                "{}: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                port_path("0].protocol")
            )]
        );
        assert_eq!(ports(json!([{"containerPort": 80, "protocol": "SCTP"}])), Vec::<String>::new());
        assert_eq!(
            ports(json!([{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}])),
            vec![format!("{}: Duplicate value: \"http\"", port_path("1].name"))]
        );
        assert_eq!(
            ports(json!([{"name": "HTTP", "containerPort": 80}])),
            vec![
                format!(
                    "{}: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                    port_path("0].name")
                ),
                format!("{}: Invalid value: \"HTTP\": must contain at least one letter (a-z)", port_path("0].name")),
            ]
        );
        assert_eq!(
            ports(json!([{"name": "-a--b", "containerPort": 80}])),
            vec![
                format!("{}: Invalid value: \"-a--b\": must not contain consecutive hyphens", port_path("0].name")),
                format!("{}: Invalid value: \"-a--b\": must not begin or end with a hyphen", port_path("0].name")),
            ]
        );
        assert_eq!(
            ports(json!([{"name": "a-very-long-port-name", "containerPort": 80}])),
            vec![format!(
                "{}: Invalid value: \"a-very-long-port-name\": must be no more than 15 characters",
                port_path("0].name")
            )]
        );
    }

    #[test]
    fn host_ports_collide_across_containers() {
        let v = with(&[(
            "spec/template/spec/containers",
            json!([
                {"name": "a", "image": "i", "ports": [{"containerPort": 8080, "hostPort": 8080}]},
                {"name": "b", "image": "i", "ports": [{"containerPort": 8080, "hostPort": 8080},
                                                     {"containerPort": 8080, "hostPort": 8080, "protocol": "UDP"}]}
            ]),
        )]);
        assert_eq!(
            errors(v),
            vec!["spec.template.spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""]
        );
    }

    #[test]
    fn init_containers() {
        let v = with(&[(
            "spec/template/spec/initContainers",
            json!([
                {"name": "abc", "image": "i"},
                {"name": "side", "image": "i", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["true"]}}},
                {"name": "once", "image": "i", "restartPolicy": "Never", "livenessProbe": {"exec": {"command": ["true"]}}}
            ]),
        )]);
        assert_eq!(
            errors(v),
            vec![
                "spec.template.spec.initContainers[0].name: Duplicate value: \"abc\"",
                "spec.template.spec.initContainers[2].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.template.spec.initContainers[2].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            ]
        );
    }
}
