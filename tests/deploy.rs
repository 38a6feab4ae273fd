//! The manifests in deploy/ parse as Kubernetes objects (no field lost in a round trip through k8s-openapi
//! types), grant the shim exactly what it needs, and pass the binary arguments it accepts.

use std::collections::BTreeSet;

use clap::Parser;
use daemonplane::cli::{Cli, Command};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Removes nulls and empty maps so a round trip through typed objects compares equal to the YAML.
fn normalize(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, normalize(v)))
                .filter(|(_, v)| !v.is_null() && v != &Value::Object(Default::default()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        other => other,
    }
}

#[derive(Default)]
struct Objects {
    namespaces: Vec<Namespace>,
    secrets: Vec<Secret>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
}

/// Parses into `T` and checks nothing was dropped (a misspelt field would be).
fn typed<T: DeserializeOwned + serde::Serialize>(file: &str, doc: &Value) -> T {
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let back = normalize(serde_json::to_value(&t).unwrap());
    assert_eq!(back, normalize(doc.clone()), "{file}: {} lost or changed fields parsing", doc["kind"]);
    t
}

fn load(file: &str) -> Objects {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut o = Objects::default();
    for doc in docs {
        match doc["kind"].as_str().unwrap_or_default() {
            "Namespace" => o.namespaces.push(typed(file, &doc)),
            "Secret" => o.secrets.push(typed(file, &doc)),
            "Deployment" => o.deployments.push(typed(file, &doc)),
            "Service" => o.services.push(typed(file, &doc)),
            "ServiceAccount" => o.service_accounts.push(typed(file, &doc)),
            "ClusterRole" => o.cluster_roles.push(typed(file, &doc)),
            "ClusterRoleBinding" => o.bindings.push(typed(file, &doc)),
            other => panic!("{file}: unexpected kind {other:?}"),
        }
    }
    o
}

fn args_of(d: &Deployment) -> Vec<String> {
    let c = &d.spec.template.spec.as_ref().unwrap().containers[0];
    let mut args = vec!["daemonplane".to_string()];
    args.extend(c.args.clone().unwrap_or_default());
    args
}

#[test]
fn shim_rbac_is_least_privilege() {
    let o = load("shim.yaml");
    assert_eq!(o.cluster_roles.len(), 1);
    let mut grants = BTreeSet::new();
    for rule in o.cluster_roles[0].rules.clone().unwrap() {
        assert_eq!(rule.api_groups.clone().unwrap(), vec![""], "core API group only");
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
        for resource in rule.resources.clone().unwrap() {
            for verb in &rule.verbs {
                grants.insert(format!("{resource}:{verb}"));
            }
        }
    }
    let want: BTreeSet<String> =
        ["nodes:get", "nodes:list", "nodes:watch", "pods:get", "pods:list", "pods:watch", "pods:create", "pods:delete"]
            .into_iter()
            .map(String::from)
            .collect();
    assert_eq!(grants, want);
    let binding = &o.bindings[0];
    assert_eq!(binding.role_ref.name, o.cluster_roles[0].metadata.name.clone().unwrap());
    let sa = &o.service_accounts[0].metadata;
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!((Some(&subject.name), subject.namespace.as_ref()), (sa.name.as_ref(), sa.namespace.as_ref()));
}

#[test]
fn shim_deployment_runs_one_shim_with_its_token_and_account() {
    let o = load("shim.yaml");
    let d = &o.deployments[0];
    let spec = &d.spec;
    assert_eq!(spec.replicas, Some(1), "a second stream for the same cluster replaces the first");
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name, o.service_accounts[0].metadata.name);
    let Command::Shim(args) = Cli::try_parse_from(args_of(d)).unwrap().command else { panic!("not a shim") };
    assert!(args.server.starts_with("http://") && !args.simulate);
    let token_file = args.token_file.unwrap();
    let mount = &pod.containers[0].volume_mounts.as_ref().unwrap()[0];
    assert_eq!(token_file.parent().unwrap().to_str().unwrap(), mount.mount_path);
    let volume = pod.volumes.as_ref().unwrap().iter().find(|v| v.name == mount.name).unwrap();
    let secret_name = volume.secret.as_ref().unwrap().secret_name.clone().unwrap();
    let secret = o.secrets.iter().find(|s| s.metadata.name.as_deref() == Some(&secret_name)).unwrap();
    let key = token_file.file_name().unwrap().to_str().unwrap();
    assert!(secret.string_data.as_ref().unwrap().contains_key(key), "the Secret holds key {key}");
}

#[test]
fn service_deployment_reads_its_database_url_and_is_reachable() {
    let o = load("service.yaml");
    let d = &o.deployments[0];
    let Command::Serve(serve) = Cli::try_parse_from(args_of(d)).unwrap().command else { panic!("not serve") };
    let listen = serve.listen;
    assert!(listen.ip().is_unspecified(), "listens on all addresses inside the pod");
    let c = &d.spec.template.spec.as_ref().unwrap().containers[0];
    let env = c.env.as_ref().unwrap().iter().find(|e| e.name == "DATABASE_URL").unwrap();
    let secret_ref = env.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    let secret = o.secrets.iter().find(|s| s.metadata.name.as_deref() == Some(secret_ref.name.as_str())).unwrap();
    assert!(secret.string_data.as_ref().unwrap()[&secret_ref.key].starts_with("postgres://"));
    let port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(i32::from(listen.port()), port.container_port);
    assert_eq!(c.readiness_probe.as_ref().unwrap().grpc.as_ref().unwrap().port, port.container_port);
    let svc = o.services[0].spec.as_ref().unwrap();
    let labels = d.spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
    for (k, v) in svc.selector.as_ref().unwrap() {
        assert_eq!(labels.get(k), Some(v), "the Service selects the pods");
    }
    let target = svc.ports.as_ref().unwrap()[0].target_port.clone().unwrap();
    assert_eq!(target, k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(port.name.clone().unwrap()));
    assert_eq!(o.namespaces[0].metadata.name, d.metadata.namespace);
}

#[test]
fn example_daemonset_is_a_valid_apps_v1_daemonset() {
    let text = daemonplane::demo::FLUENTD;
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_saphyr::from_str(text).unwrap();
    assert_eq!(ds.metadata.name.as_deref(), Some("fluentd-elasticsearch"));
}
