//! `daemonplane demo`: a service on SQLite in a temporary directory, three simulated clusters connected
//! through real shim sessions, and the fluentd-elasticsearch DaemonSet from the Kubernetes documentation
//! rolled out, updated and rolled back, with progress bars and a closing summary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tonic::transport::Endpoint;

use crate::client::{FleetClient, fleet_client};
use crate::pb;
use crate::server::{Bootstrap, ServerConfig};
use crate::shim::mirror::Mirror;
use crate::shim::session::{self, SessionConfig, ShimState, TokenSource};
use crate::shim::simulate::{SimCluster, SimConfig};

/// The DaemonSet from the Kubernetes documentation, unchanged.
pub const FLUENTD: &str = include_str!("../deploy/examples/fluentd-elasticsearch.yaml");
const IMAGE: &str = "quay.io/fluentd_elasticsearch/fluentd:v5.0.1";
const NEW_IMAGE: &str = "quay.io/fluentd_elasticsearch/fluentd:v5.0.2";
/// How long one phase may take before the demo gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Node counts of the simulated clusters (named after regions).
    pub sizes: Vec<usize>,
    pub ready_after: Duration,
    /// Draw progress bars (on a terminal); otherwise print one line per phase and cluster.
    pub progress_bars: bool,
}

/// One cluster's line of the closing summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSummary {
    pub cluster: String,
    pub nodes: usize,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub excluded: usize,
    pub predicted_pending: i32,
}

/// What the demo did.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    pub clusters: Vec<ClusterSummary>,
    /// Revisions in order, with the image each runs.
    pub revisions: Vec<(i64, String)>,
    /// Time each phase took.
    pub phases: Vec<(String, Duration)>,
    pub image_at_end: String,
}

const REGIONS: [&str; 6] = ["eu-west", "us-east", "ap-south", "sa-east", "af-south", "me-central"];

fn cluster_name(i: usize) -> String {
    REGIONS.get(i).map(|r| r.to_string()).unwrap_or_else(|| format!("cluster-{i}"))
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) => {
            let fallback = SocketAddr::new(addr.ip(), 0);
            eprintln!("{addr} is not free ({e}); using a free port instead");
            Ok(tokio::net::TcpListener::bind(fallback).await?)
        }
    }
}

fn grpcurl_hints(addr: SocketAddr, token_file: &std::path::Path, (cluster, gpu_node): (&str, &str)) -> String {
    let a = addr;
    let h = format!("-H \"authorization: Bearer $(cat {})\"", token_file.display());
    [
        format!("grpcurl -plaintext {a} list"),
        format!("grpcurl -plaintext {h} {a} daemonplane.v1.FleetService/ListClusters"),
        format!(
            "grpcurl -plaintext {h} -d '{{\"namespace\":\"kube-system\",\"name\":\"fluentd-elasticsearch\"}}' \
             {a} daemonplane.v1.FleetService/WatchRollout"
        ),
        format!(
            "grpcurl -plaintext {h} -d '{{\"namespace\":\"kube-system\",\"name\":\"fluentd-elasticsearch\",\
             \"cluster\":\"{cluster}\",\"node\":\"{gpu_node}\"}}' {a} daemonplane.v1.FleetService/ExplainPlacement",
        ),
    ]
    .join("\n  ")
}

/// Waits (a few seconds at most) for the service to write its bootstrap token, and reads it.
async fn wait_for_file(path: &std::path::Path) -> anyhow::Result<String> {
    for _ in 0..500 {
        if let Ok(text) = tokio::fs::read_to_string(path).await
            && text.ends_with('\n')
        {
            return Ok(text);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the service did not write its admin token to {}", path.display())
}

/// The demo's manifest with another image and a faster rolling update (25 % of nodes at a time).
fn updated_manifest() -> String {
    let mut manifest = FLUENTD.replace(IMAGE, NEW_IMAGE);
    manifest = manifest.replacen(
        "spec:\n  selector:",
        "spec:\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 25%\n  selector:",
        1,
    );
    manifest
}

struct Progress {
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
}

impl Progress {
    fn new(enabled: bool, clusters: &[String], phase: &str) -> Progress {
        let multi = enabled.then(MultiProgress::new);
        let mut bars = BTreeMap::new();
        if let Some(m) = &multi {
            let style = ProgressStyle::with_template("{prefix:>10} [{bar:40.cyan/blue}] {pos:>5}/{len:<5} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            for c in clusters {
                let bar = m.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(c.clone());
                bar.set_message(phase.to_string());
                bars.insert(c.clone(), bar);
            }
        }
        Progress { multi, bars }
    }

    fn update(&self, status: &pb::RolloutStatus) {
        for c in &status.clusters {
            if let Some(bar) = self.bars.get(&c.cluster) {
                bar.set_length(c.desired.max(0) as u64);
                bar.set_position(c.updated.min(c.available).max(0) as u64);
            }
        }
    }

    fn finish(self, status: &pb::RolloutStatus, phase: &str, took: Duration) {
        for c in &status.clusters {
            match self.bars.get(&c.cluster) {
                Some(bar) => bar.finish_with_message(format!("{phase} done in {:.1}s", took.as_secs_f64())),
                None => println!(
                    "{:>10}: {phase}: {}/{} pods updated and available ({:.1}s)",
                    c.cluster,
                    c.updated.min(c.available),
                    c.desired,
                    took.as_secs_f64()
                ),
            }
        }
        drop(self.multi);
    }
}

/// Polls the rollout until it is done, drawing progress.
async fn follow(fleet: &mut FleetClient, clusters: &[String], phase: &str, bars: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let progress = Progress::new(bars, clusters, phase);
    loop {
        let status = fleet
            .get_rollout_status(pb::GetRolloutStatusRequest {
                namespace: "kube-system".into(),
                name: "fluentd-elasticsearch".into(),
            })
            .await?
            .into_inner();
        progress.update(&status);
        let all_there =
            status.clusters.len() == clusters.len() && status.clusters.iter().all(|c| c.connected && c.desired > 0);
        if status.done && all_there {
            let took = started.elapsed();
            progress.finish(&status, phase, took);
            return Ok(took);
        }
        if started.elapsed() > PHASE_LIMIT {
            anyhow::bail!("{phase} did not complete within {PHASE_LIMIT:?}: {:?} ({})", status.phase, status.reason);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the walkthrough; the service and the simulated clusters stop when it returns, unless `hold` is given,
/// in which case they stay up until it resolves.
pub async fn run(
    options: DemoOptions,
    hold: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
) -> anyhow::Result<DemoSummary> {
    let dir = tempfile::tempdir().context("creating the demo's temporary directory")?;
    let url = format!("sqlite:{}", dir.path().join("daemonplane.db").display());
    let store = crate::store::connect(&url).await?;
    let listener = bind(options.listen).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // The demo is its own platform: it bootstraps the admin token and keeps it where grpcurl can read it.
    let admin_token_file = dir.path().join("admin.token");
    let config = ServerConfig::new(Bootstrap::File(admin_token_file.clone()));
    let server = tokio::spawn(crate::server::serve(listener, store, config, stopped(stop_rx.clone())));
    let result = walkthrough(&options, addr, &admin_token_file, &stop_rx, stopped).await;
    if let (Ok((_, hints)), Some(hold)) = (&result, hold) {
        println!("\nThe service keeps running at {addr} until Ctrl-C; try:\n  {hints}");
        hold.await;
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(12), server).await;
    result.map(|(summary, _)| summary)
}

async fn walkthrough<F, Fut>(
    options: &DemoOptions,
    addr: SocketAddr,
    admin_token_file: &std::path::Path,
    stop_rx: &watch::Receiver<bool>,
    stopped: F,
) -> anyhow::Result<(DemoSummary, String)>
where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let server_url = format!("http://{addr}");
    let channel =
        Endpoint::from_shared(server_url.clone())?.connect().await.context("connecting to the demo service")?;
    let token = wait_for_file(admin_token_file).await?;
    let mut fleet = fleet_client(channel, token.trim())?;
    println!("daemonplane {} serving at {addr} (SQLite in a temporary directory)", crate::VERSION);

    let names: Vec<String> = (0..options.sizes.len()).map(cluster_name).collect();
    let mut sims = Vec::new();
    for (name, &size) in names.iter().zip(&options.sizes) {
        let token = fleet
            .register_cluster(pb::RegisterClusterRequest {
                name: name.clone(),
                labels: [("region".to_string(), name.clone())].into(),
            })
            .await?
            .into_inner()
            .token;
        let mirror = Arc::new(Mirror::new());
        let mut config = SimConfig::fleet_like(name, size);
        config.ready_after = options.ready_after;
        let sim = Arc::new(SimCluster::start(config, Arc::clone(&mirror)));
        let (state, _) = watch::channel(ShimState::default());
        let session_config = SessionConfig::new(server_url.clone(), name.clone(), TokenSource::Value(token));
        tokio::spawn(session::run(session_config, mirror, sim.clone(), state, stopped(stop_rx.clone())));
        sims.push(sim);
        println!("registered cluster {name} with {size} simulated nodes; its shim is connecting");
    }

    // A GPU node (tainted, so excluded) makes the best ExplainPlacement example.
    let gpu_node = names
        .iter()
        .zip(&sims)
        .find_map(|(name, sim)| sim.node_names().into_iter().find(|n| n.contains("-gpu-")).map(|n| (name.clone(), n)));
    let example = gpu_node.clone().unwrap_or_else(|| (names[0].clone(), "NODE".to_string()));
    let hints = grpcurl_hints(addr, admin_token_file, (&example.0, &example.1));
    println!("\nWhile the demo runs, try:\n  {hints}");

    let targets = Some(pb::Targeting { clusters: names.clone() });
    let mut phases = Vec::new();
    println!("\n1/3  ApplyDaemonSet kube-system/fluentd-elasticsearch ({IMAGE})");
    fleet
        .apply_daemon_set(pb::ApplyDaemonSetRequest {
            manifest: FLUENTD.into(),
            targets: targets.clone(),
            rollout: None,
        })
        .await?;
    phases.push(("create".to_string(), follow(&mut fleet, &names, "create", options.progress_bars).await?));
    if let Some((cluster, node)) = gpu_node {
        let explained = fleet
            .explain_placement(pb::ExplainPlacementRequest {
                namespace: "kube-system".into(),
                name: "fluentd-elasticsearch".into(),
                cluster: cluster.clone(),
                node: node.clone(),
            })
            .await?
            .into_inner();
        println!("     ExplainPlacement {cluster}/{node}: {}", explained.summary);
    }

    println!("\n2/3  update the image to {NEW_IMAGE}, rolling 25% of nodes at a time");
    fleet
        .apply_daemon_set(pb::ApplyDaemonSetRequest {
            manifest: updated_manifest(),
            targets: targets.clone(),
            rollout: None,
        })
        .await?;
    phases.push(("update".to_string(), follow(&mut fleet, &names, "update", options.progress_bars).await?));

    println!("\n3/3  Rollback to revision 1");
    let rollback = fleet
        .rollback(pb::RollbackRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
            to_revision: 1,
            dry_run: false,
        })
        .await?
        .into_inner();
    println!("     {}", rollback.message);
    phases.push(("rollback".to_string(), follow(&mut fleet, &names, "rollback", options.progress_bars).await?));

    Ok((summarize(&mut fleet, &names, &options.sizes, phases).await?, hints))
}

async fn summarize(
    fleet: &mut FleetClient,
    names: &[String],
    sizes: &[usize],
    phases: Vec<(String, Duration)>,
) -> anyhow::Result<DemoSummary> {
    let ds = fleet
        .get_daemon_set(pb::GetDaemonSetRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
        })
        .await?
        .into_inner();
    let listed = fleet
        .list_revisions(pb::ListRevisionsRequest {
            namespace: "kube-system".into(),
            name: "fluentd-elasticsearch".into(),
        })
        .await?
        .into_inner()
        .revisions;
    let mut revisions = Vec::new();
    for r in listed {
        let full = fleet
            .get_revision(pb::GetRevisionRequest {
                namespace: "kube-system".into(),
                name: "fluentd-elasticsearch".into(),
                revision: r.revision,
            })
            .await?
            .into_inner();
        let image = if full.template.contains(NEW_IMAGE) { NEW_IMAGE } else { IMAGE };
        revisions.push((r.revision, image.to_string()));
    }
    let mut clusters = Vec::new();
    for (name, &nodes) in names.iter().zip(sizes) {
        let status = ds.clusters.iter().find(|c| &c.cluster == name).and_then(|c| c.status).unwrap_or_default();
        clusters.push(ClusterSummary {
            cluster: name.clone(),
            nodes,
            desired: status.desired_number_scheduled,
            ready: status.number_ready,
            updated: status.updated_number_scheduled,
            excluded: nodes.saturating_sub(status.desired_number_scheduled.max(0) as usize),
            predicted_pending: status.predicted_pending,
        });
    }
    let image_at_end =
        revisions.iter().find(|(r, _)| *r == ds.current_revision).map(|(_, image)| image.clone()).unwrap_or_default();
    let summary = DemoSummary { clusters, revisions, phases, image_at_end };
    print_summary(&summary, ds.current_revision);
    Ok(summary)
}

fn print_summary(s: &DemoSummary, current_revision: i64) {
    println!(
        "\n{:<12} {:>6} {:>8} {:>6} {:>8} {:>9} {:>8}",
        "cluster", "nodes", "desired", "ready", "updated", "excluded", "pending"
    );
    for c in &s.clusters {
        println!(
            "{:<12} {:>6} {:>8} {:>6} {:>8} {:>9} {:>8}",
            c.cluster, c.nodes, c.desired, c.ready, c.updated, c.excluded, c.predicted_pending
        );
    }
    println!(
        "\n(excluded: nodes whose taints the DaemonSet does not tolerate, e.g. the GPU pool; pending: predicted not to fit)"
    );
    let phases: Vec<String> = s.phases.iter().map(|(p, d)| format!("{p} {:.1}s", d.as_secs_f64())).collect();
    println!("phases: {}", phases.join(", "));
    let revisions: Vec<String> = s.revisions.iter().map(|(r, i)| format!("{r}: {i}")).collect();
    println!("revisions: {}; current {current_revision} runs {}", revisions.join(", "), s.image_at_end);
}
