//! `daemonplane shim`: wires a cluster source (kube-rs watchers or the simulated cluster), its applier and
//! the session together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::mirror::Mirror;
use super::session::{self, SessionConfig, ShimState, TokenSource};
use super::simulate::{SimCluster, SimConfig};
use super::{Applier, kubernetes};
use crate::cli::ShimArgs;

fn token(args: &ShimArgs) -> anyhow::Result<TokenSource> {
    match (&args.token_file, &args.token) {
        (Some(path), _) => Ok(TokenSource::File(path.clone())),
        (None, Some(token)) => Ok(TokenSource::Value(token.clone())),
        (None, None) => anyhow::bail!("give the cluster's token with --token-file (or --token)"),
    }
}

fn sim_config(args: &ShimArgs) -> SimConfig {
    let mut config = SimConfig::fleet_like(&args.cluster, args.sim_nodes);
    config.ready_after = Duration::from_millis(args.sim_ready_after_ms);
    config.image_pull_failure = args.sim_image_pull_failure.clone();
    config.crash_loop = args.sim_crash_loop.clone();
    config.node_churn = args.sim_node_churn_secs.map(Duration::from_secs);
    config.not_ready_flap = args.sim_not_ready_flap_secs.map(Duration::from_secs);
    config
}

/// Runs the shim until `shutdown` resolves, or returns the reason it cannot go on.
pub async fn run(args: ShimArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut config = SessionConfig::new(args.server.clone(), args.cluster.clone(), token(&args)?);
    config.parallel_actions = args.parallel_actions;
    if let Some(path) = &args.ca_file {
        let ca = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading --ca-file {}: {e}", path.display()))?;
        config.ca_pem = Some(ca);
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {flag} {}: {e}", path.display()))
        };
        config.client_identity = Some((read("--client-cert", cert)?, read("--client-key", key)?));
    }
    let mirror = Arc::new(Mirror::new());
    let (state, _) = watch::channel(ShimState::default());
    if args.simulate {
        let sim = Arc::new(SimCluster::start(sim_config(&args), Arc::clone(&mirror)));
        tracing::info!(cluster = %args.cluster, nodes = args.sim_nodes, "simulating a cluster");
        let applier: Arc<dyn Applier> = sim.clone();
        let result = session::run(config, mirror, applier, state, shutdown).await;
        sim.stop();
        return result;
    }
    let client = kubernetes::client(args.kubeconfig.as_deref()).await?;
    let watchers = tokio::spawn(kubernetes::run_watchers(client.clone(), Arc::clone(&mirror)));
    let applier: Arc<dyn Applier> = Arc::new(kubernetes::KubeApplier::new(client));
    let result = session::run(config, mirror, applier, state, shutdown).await;
    watchers.abort();
    result
}
