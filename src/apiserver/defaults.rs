//! Defaulting of an apps/v1 DaemonSet as the API server does it on decode: `pkg/apis/apps/v1/defaults.go` and
//! the pod-template parts of `pkg/apis/core/v1/defaults.go`. Validation runs on the defaulted object.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, HTTPGetAction, PodSpec, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::or_empty;
use super::volumes::volume_source_keys;

/// `SetObjectDefaults_DaemonSet` for apps/v1: the DaemonSet defaults plus the pod-template defaults that
/// validation depends on. A missing selector is not filled from the template labels (that was extensions/v1beta1).
pub fn set_defaults(ds: &mut DaemonSet) {
    let spec = &mut ds.spec;
    let strategy = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
    if or_empty(&strategy.type_).is_empty() {
        strategy.type_ = Some("RollingUpdate".to_string());
    }
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit.get_or_insert(10);
    set_pod_template_defaults(&mut spec.template);
}

fn default_str(field: &mut Option<String>, value: &str) {
    if or_empty(field).is_empty() {
        *field = Some(value.to_string());
    }
}

fn default_nonzero_i32(field: &mut Option<i32>, value: i32) {
    if field.unwrap_or(0) == 0 {
        *field = Some(value);
    }
}

fn set_pod_template_defaults(template: &mut PodTemplateSpec) {
    // The Go template spec is a struct, so it is always defaulted; a missing one is an empty one.
    let spec = template.spec.get_or_insert_with(PodSpec::default);
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    default_str(&mut spec.scheduler_name, "default-scheduler");

    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        set_container_defaults(c);
    }
    for ec in spec.ephemeral_containers.iter_mut().flatten() {
        // SetDefaults_EphemeralContainer reuses the container defaults.
        set_container_field_defaults(
            or_empty(&ec.image).to_string().as_str(),
            &mut ec.image_pull_policy,
            &mut ec.termination_message_path,
            &mut ec.termination_message_policy,
        );
        set_port_and_env_defaults(&mut ec.ports, &mut ec.env);
    }
    for v in spec.volumes.iter_mut().flatten() {
        set_volume_defaults(v);
    }
}

fn set_container_defaults(c: &mut Container) {
    let image = or_empty(&c.image).to_string();
    set_container_field_defaults(
        &image,
        &mut c.image_pull_policy,
        &mut c.termination_message_path,
        &mut c.termination_message_policy,
    );
    set_port_and_env_defaults(&mut c.ports, &mut c.env);
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_nonzero_i32(&mut probe.timeout_seconds, 1);
        default_nonzero_i32(&mut probe.period_seconds, 10);
        default_nonzero_i32(&mut probe.success_threshold, 1);
        default_nonzero_i32(&mut probe.failure_threshold, 3);
        if let Some(h) = probe.http_get.as_mut() {
            set_http_get_defaults(h);
        }
    }
    if let Some(lc) = c.lifecycle.as_mut() {
        for h in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
            if let Some(g) = h.http_get.as_mut() {
                set_http_get_defaults(g);
            }
        }
    }
}

fn set_container_field_defaults(
    image: &str,
    pull_policy: &mut Option<String>,
    message_path: &mut Option<String>,
    message_policy: &mut Option<String>,
) {
    if or_empty(pull_policy).is_empty() {
        let policy = if image_tag(image).as_deref() == Some("latest") { "Always" } else { "IfNotPresent" };
        *pull_policy = Some(policy.to_string());
    }
    default_str(message_path, "/dev/termination-log");
    default_str(message_policy, "File");
}

fn set_port_and_env_defaults(ports: &mut Option<Vec<ContainerPort>>, env: &mut Option<Vec<EnvVar>>) {
    for p in ports.iter_mut().flatten() {
        default_str(&mut p.protocol, "TCP");
    }
    for ev in env.iter_mut().flatten() {
        set_env_defaults(ev);
    }
}

fn set_http_get_defaults(h: &mut HTTPGetAction) {
    default_str(&mut h.path, "/");
    default_str(&mut h.scheme, "HTTP");
}

fn set_env_defaults(ev: &mut EnvVar) {
    if let Some(fr) = ev.value_from.as_mut().and_then(|vf| vf.field_ref.as_mut()) {
        default_str(&mut fr.api_version, "v1");
    }
}

fn set_volume_defaults(v: &mut Volume) {
    // SetDefaults_Volume: a volume with no source at all becomes an emptyDir.
    if volume_source_keys(v).is_empty() {
        v.empty_dir = Some(Default::default());
    }
    if let Some(hp) = v.host_path.as_mut() {
        hp.type_.get_or_insert_with(String::new);
    }
    if let Some(sv) = v.secret.as_mut() {
        sv.default_mode.get_or_insert(0o644);
    }
    if let Some(cm) = v.config_map.as_mut() {
        cm.default_mode.get_or_insert(0o644);
    }
    if let Some(da) = v.downward_api.as_mut() {
        da.default_mode.get_or_insert(0o644);
        for item in da.items.iter_mut().flatten() {
            if let Some(fr) = item.field_ref.as_mut() {
                default_str(&mut fr.api_version, "v1");
            }
        }
    }
    if let Some(pj) = v.projected.as_mut() {
        pj.default_mode.get_or_insert(0o644);
        for src in pj.sources.iter_mut().flatten() {
            if let Some(sat) = src.service_account_token.as_mut() {
                sat.expiration_seconds.get_or_insert(3600);
            }
            if let Some(da) = src.downward_api.as_mut() {
                for item in da.items.iter_mut().flatten() {
                    if let Some(fr) = item.field_ref.as_mut() {
                        default_str(&mut fr.api_version, "v1");
                    }
                }
            }
        }
    }
}

/// The tag `parsers.ParseImageName` reports: the explicit tag, "latest" when there is neither tag nor digest,
/// and none when the reference does not parse or only has a digest.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if digest.is_some_and(str::is_empty) {
        return None;
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // Repository path components must be lowercase; the first component may be a registry host.
    let components: Vec<&str> = repo.split('/').collect();
    let has_domain = components.len() > 1 && (components[0].contains(['.', ':']) || components[0] == "localhost");
    let path = if has_domain { &components[1..] } else { &components[..] };
    if repo.is_empty() || path.iter().any(|c| c.is_empty() || c.bytes().any(|b| b.is_ascii_uppercase())) {
        return None;
    }
    match tag {
        Some(t) if !t.is_empty() => Some(t.to_string()),
        Some(_) => None,
        None if digest.is_none() => Some("latest".to_string()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::daemonset::validate_daemon_set;
    use crate::apiserver::test_support::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use serde_json::{Value, json};

    // --- the Kubernetes documentation's example --------------------------------------------------------------

    fn fluentd() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": "fluentd-elasticsearch",
                "namespace": "kube-system",
                "labels": {"k8s-app": "fluentd-logging"}
            },
            "spec": {
                "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
                "template": {
                    "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                    "spec": {
                        "tolerations": [
                            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                            {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}
                        ],
                        "containers": [{
                            "name": "fluentd-elasticsearch",
                            "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                            "resources": {
                                "limits": {"memory": "200Mi"},
                                "requests": {"cpu": "100m", "memory": "200Mi"}
                            },
                            "volumeMounts": [{"name": "varlog", "mountPath": "/var/log"}]
                        }],
                        "terminationGracePeriodSeconds": 30,
                        "volumes": [{"name": "varlog", "hostPath": {"path": "/var/log"}}]
                    }
                }
            }
        })
    }

    #[test]
    fn fluentd_example_is_valid_after_defaulting() {
        let ds = defaulted(fluentd());
        assert_eq!(render(&validate_daemon_set(&ds)), Vec::<String>::new());
    }

    #[test]
    fn fluentd_example_defaults_like_upstream() {
        let ds = defaulted(fluentd());
        // What the API server stores for this manifest (`kubectl get ds -o json`, spec only).
        let expected = json!({
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"name": "fluentd-elasticsearch"}},
            "template": {
                "metadata": {"labels": {"name": "fluentd-elasticsearch"}},
                "spec": {
                    "containers": [{
                        "image": "quay.io/fluentd_elasticsearch/fluentd:v5.0.1",
                        "imagePullPolicy": "IfNotPresent",
                        "name": "fluentd-elasticsearch",
                        "resources": {
                            "limits": {"memory": "200Mi"},
                            "requests": {"cpu": "100m", "memory": "200Mi"}
                        },
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "volumeMounts": [{"mountPath": "/var/log", "name": "varlog"}]
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "tolerations": [
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master", "operator": "Exists"}
                    ],
                    "volumes": [{"hostPath": {"path": "/var/log", "type": ""}, "name": "varlog"}]
                }
            },
            "updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"}
        });
        assert_eq!(serde_json::to_value(&ds.spec).unwrap(), expected);
        let strategy = ds.spec.update_strategy.unwrap();
        let ru = strategy.rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(ru.max_surge, Some(IntOrString::Int(0)));
        // Defaulting leaves metadata alone.
        assert_eq!(serde_json::to_value(&ds.metadata).unwrap(), fluentd()["metadata"]);
    }

    #[test]
    fn defaults_keep_explicit_values_and_skip_rolling_update_for_on_delete() {
        let ds = defaulted(with(&[
            ("spec/updateStrategy", json!({"type": "OnDelete"})),
            ("spec/revisionHistoryLimit", json!(0)),
            ("spec/template/spec/restartPolicy", json!("Never")),
            ("spec/template/spec/terminationGracePeriodSeconds", json!(5)),
        ]));
        let strategy = ds.spec.update_strategy.as_ref().unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("OnDelete"));
        assert_eq!(strategy.rolling_update, None);
        assert_eq!(ds.spec.revision_history_limit, Some(0));
        let pod = ds.spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.termination_grace_period_seconds, Some(5));

        // A partly given rollingUpdate keeps its value and gets the other default.
        let ds = defaulted(with(&[("spec/updateStrategy", json!({"rollingUpdate": {"maxSurge": "10%"}}))]));
        let ru = ds.spec.update_strategy.unwrap().rolling_update.unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::String("10%".into())));
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
    }

    #[test]
    fn nil_selector_is_not_defaulted_from_template_labels() {
        let mut v = base();
        remove(&mut v, "spec/selector");
        let ds = defaulted(v);
        assert_eq!(ds.spec.selector, LabelSelector::default());
        assert_eq!(
            render(&validate_daemon_set(&ds)),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]
        );
    }

    #[test]
    fn pod_template_defaults() {
        let ds = defaulted(with(&[(
            "spec/template/spec",
            json!({
                "containers": [{
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "livenessProbe": {"httpGet": {"port": 8080}}
                }],
                "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "cfg"}}]
            }),
        )]));
        let pod = ds.spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"), "untagged image means :latest");
        assert_eq!(c.ports.as_ref().unwrap()[0].protocol.as_deref(), Some("TCP"));
        let fr = c.env.as_ref().unwrap()[0].value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(fr.api_version.as_deref(), Some("v1"));
        let probe = c.liveness_probe.as_ref().unwrap();
        assert_eq!(
            (probe.timeout_seconds, probe.period_seconds, probe.success_threshold, probe.failure_threshold),
            (Some(1), Some(10), Some(1), Some(3))
        );
        let get = probe.http_get.as_ref().unwrap();
        assert_eq!((get.path.as_deref(), get.scheme.as_deref()), (Some("/"), Some("HTTP")));
        let vols = pod.volumes.as_ref().unwrap();
        assert!(vols[0].empty_dir.is_some(), "a volume without a source becomes an emptyDir");
        assert_eq!(vols[1].config_map.as_ref().unwrap().default_mode, Some(0o644));
        assert_eq!(render(&validate_daemon_set(&ds)), Vec::<String>::new());
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("nginx@sha256:0123456789abcdef", "IfNotPresent"),
            ("nginx:1.25@sha256:0123456789abcdef", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("registry.example.com:5000/team/app:2.0", "IfNotPresent"),
            ("quay.io/fluentd_elasticsearch/fluentd:v5.0.1", "IfNotPresent"),
            ("Not/A/Valid/Reference", "IfNotPresent"),
        ] {
            let ds = defaulted(with(&[("spec/template/spec/containers/0/image", json!(image))]));
            let c = &ds.spec.template.spec.as_ref().unwrap().containers[0];
            assert_eq!(c.image_pull_policy.as_deref(), Some(policy), "{image}");
        }
        let ds = defaulted(with(&[("spec/template/spec/containers/0/imagePullPolicy", json!("Never"))]));
        assert_eq!(ds.spec.template.spec.as_ref().unwrap().containers[0].image_pull_policy.as_deref(), Some("Never"));
        assert_eq!(
            errors(with(&[("spec/template/spec/containers/0/imagePullPolicy", json!("Sometimes"))])),
            vec![format!(
                "{}: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                container_path("imagePullPolicy")
            )]
        );
    }
}
