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
    let config = match kubeconfig {
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
    let server = config.cluster_url.clone();
    kube::Client::try_from(config).with_context(|| format!("building a Kubernetes client for {server}"))
}
