//! The shim against a real cluster, through kube-rs: watchers fill the [`Mirror`](super::mirror::Mirror) with the
//! cluster's nodes, daemon pods and the summary of every other pod, and [`KubeApplier`] carries out pod actions.

mod apply;
mod convert;
mod summary;
mod watch;

use std::path::Path;

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use apply::{KubeApplier, Retry};
pub use convert::{is_daemon_pod, node_to_pb, pod_to_pb};
pub use watch::run_watchers;

/// A client for the cluster: from `kubeconfig` when given (its current context), else inferred the way kubectl
/// does (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
pub async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and none found (KUBECONFIG, ~/.kube/config or in-cluster service account)")?,
    };
    // The applier has its own retry policy for 429 and 5xx; kube's would multiply its attempts.
    config.default_retry = false;
    let server = config.cluster_url.clone();
    kube::Client::try_from(config).with_context(|| format!("building a Kubernetes client for {server}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: edge-1
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: shim
  user:
    token: not-a-real-token
contexts:
- name: edge-1
  context:
    cluster: edge-1
    user: shim
    namespace: daemonplane
current-context: edge-1
"#;

    #[tokio::test]
    async fn an_explicit_kubeconfig_gives_a_client_for_its_current_context() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).expect("kubeconfig written");
        let client = client(Some(&path)).await.expect("a client");
        assert_eq!(client.default_namespace(), "daemonplane");
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file() {
        let path = Path::new("/nonexistent/daemonplane/kubeconfig");
        let error = client(Some(path)).await.err().expect("an error");
        assert!(format!("{error:#}").contains("reading kubeconfig /nonexistent/daemonplane/kubeconfig"), "{error:#}");
    }
}
