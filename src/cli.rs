//! The command line of the `daemonplane` binary, in the library so tests can check what the deploy manifests
//! and the README pass to it.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::fleet::FleetConfig;
use crate::server::TransportLimits;

#[derive(Debug, Parser)]
#[command(name = "daemonplane", version, about = "The Kubernetes DaemonSet controller as one fleet-wide gRPC service")]
pub struct Cli {
    /// OTLP/gRPC collector to export spans to, e.g. http://otel-collector:4317 (logs go to stderr either way).
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Run the shim for one cluster: watch it (or simulate one) and apply the service's pod actions.
    Shim(ShimArgs),
    /// Start a service with three simulated clusters and walk through a rollout and a rollback.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DAEMONPLANE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// postgres://… for PostgreSQL, or sqlite:PATH for the embedded store (created if missing).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:daemonplane.db")]
    pub database_url: String,
    /// PEM certificate chain to serve TLS with (plaintext without it).
    #[arg(long, env = "DAEMONPLANE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "DAEMONPLANE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): every client must present a certificate signed by one of them (mutual TLS).
    #[arg(long, env = "DAEMONPLANE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// On a database without API tokens, the first admin token is written to this file (owner-only).
    #[arg(long, env = "DAEMONPLANE_ADMIN_TOKEN_FILE", default_value = "daemonplane-admin.token")]
    pub admin_token_file: PathBuf,
    /// On a database without API tokens, this secret (at least 32 characters) becomes the first admin token
    /// instead of a generated one.
    #[arg(long = "bootstrap-token", env = "DAEMONPLANE_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// SPIFFE trust domain of client certificates: spiffe://DOMAIN/cluster/NAME proves a shim's cluster,
    /// spiffe://DOMAIN/platform/NAME a platform caller.
    #[arg(long, env = "DAEMONPLANE_TRUST_DOMAIN", default_value = crate::server::DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: String,
    /// A platform certificate's role: NAME=ROLE or NAME=ROLE:NAMESPACE,… (viewer, operator, admin); repeatable.
    #[arg(long = "platform-role", value_name = "NAME=ROLE[:NAMESPACES]", value_parser = parse_platform_role)]
    pub platform_roles: Vec<(String, crate::api::auth::PlatformGrant)>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What the service takes on before it refuses or slows a caller.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Streams one HTTP/2 connection may have open at once; a client holds further calls until one ends.
    #[arg(long, env = "DAEMONPLANE_MAX_CONCURRENT_STREAMS", value_name = "N",
        default_value_t = TransportLimits::default().max_concurrent_streams,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,
    /// How often an idle HTTP/2 connection is pinged.
    #[arg(long, env = "DAEMONPLANE_HTTP2_KEEPALIVE_INTERVAL", value_name = "DURATION",
        default_value_t = CliDuration(TransportLimits::default().http2_keepalive_interval))]
    pub http2_keepalive_interval: CliDuration,
    /// A keepalive ping not answered within this time closes the connection.
    #[arg(long, env = "DAEMONPLANE_HTTP2_KEEPALIVE_TIMEOUT", value_name = "DURATION",
        default_value_t = CliDuration(TransportLimits::default().http2_keepalive_timeout))]
    pub http2_keepalive_timeout: CliDuration,
    /// Longest a unary FleetService call may take (a client's shorter deadline wins); streams are not bounded.
    #[arg(long, env = "DAEMONPLANE_REQUEST_TIMEOUT", value_name = "DURATION",
        default_value_t = CliDuration(TransportLimits::default().request_timeout))]
    pub request_timeout: CliDuration,
    /// Largest message accepted, in bytes (at most 64 MiB).
    #[arg(long, env = "DAEMONPLANE_MAX_MESSAGE_BYTES", value_name = "BYTES",
        default_value_t = FleetConfig::default().max_message_bytes,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(1024..=crate::server::TRANSPORT_MAX_MESSAGE as u64))]
    pub max_message_bytes: usize,
    /// Most registered clusters.
    #[arg(long, env = "DAEMONPLANE_MAX_CLUSTERS", value_name = "N", default_value_t = FleetConfig::default().max_clusters)]
    pub max_clusters: usize,
    /// Most DaemonSets.
    #[arg(long, env = "DAEMONPLANE_MAX_DAEMONSETS", value_name = "N",
        default_value_t = FleetConfig::default().max_daemonsets)]
    pub max_daemonsets: usize,
    /// Most nodes one cluster may report.
    #[arg(long, env = "DAEMONPLANE_MAX_NODES_PER_CLUSTER", value_name = "N",
        default_value_t = FleetConfig::default().max_nodes_per_cluster)]
    pub max_nodes_per_cluster: usize,
    /// Messages per second one shim may send, sustained; a faster shim's stream is read at this rate.
    #[arg(long, env = "DAEMONPLANE_SHIM_EVENTS_PER_SECOND", value_name = "N",
        default_value_t = FleetConfig::default().shim_events_per_second)]
    pub shim_events_per_second: NonZeroU32,
    /// Messages one shim may send at once above that rate.
    #[arg(long, env = "DAEMONPLANE_SHIM_EVENT_BURST", value_name = "N",
        default_value_t = FleetConfig::default().shim_event_burst)]
    pub shim_event_burst: NonZeroU32,
}

impl LimitArgs {
    /// Sets these limits on a fleet and transport configuration.
    pub fn apply(&self, fleet: &mut FleetConfig, transport: &mut TransportLimits) {
        *transport = TransportLimits {
            max_concurrent_streams: self.max_concurrent_streams,
            http2_keepalive_interval: self.http2_keepalive_interval.0,
            http2_keepalive_timeout: self.http2_keepalive_timeout.0,
            request_timeout: self.request_timeout.0,
        };
        fleet.max_message_bytes = self.max_message_bytes;
        fleet.max_clusters = self.max_clusters;
        fleet.max_daemonsets = self.max_daemonsets;
        fleet.max_nodes_per_cluster = self.max_nodes_per_cluster;
        fleet.shim_events_per_second = self.shim_events_per_second;
        fleet.shim_event_burst = self.shim_event_burst;
    }
}

/// A duration on the command line: `30s`, `1m30s`, `500ms`, or ISO 8601 (`PT30S`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CliDuration(pub Duration);

impl FromStr for CliDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let signed: jiff::SignedDuration = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
        let duration = Duration::try_from(signed).map_err(|_| format!("{text:?}: a duration cannot be negative"))?;
        if duration.is_zero() {
            return Err(format!("{text:?}: must be longer than zero"));
        }
        Ok(CliDuration(duration))
    }
}

impl fmt::Display for CliDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The friendly form (`30s`), as the flags take it.
        match jiff::SignedDuration::try_from(self.0) {
            Ok(d) => write!(f, "{d:#}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

fn parse_platform_role(text: &str) -> Result<(String, crate::api::auth::PlatformGrant), String> {
    let (name, grant) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected NAME=ROLE[:NAMESPACES]"))?;
    Ok((name.to_string(), grant.parse()?))
}

#[derive(Debug, Args)]
pub struct ShimArgs {
    /// URL of the daemonplane service: http://HOST:PORT, or https://HOST:PORT when it serves TLS.
    #[arg(long, env = "DAEMONPLANE_SERVER")]
    pub server: String,
    /// PEM CA certificate(s) to trust for an https:// service, besides the system's roots.
    #[arg(long, env = "DAEMONPLANE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain to present to a service that requires one (mutual TLS).
    #[arg(long, env = "DAEMONPLANE_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, env = "DAEMONPLANE_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The cluster's name, as registered with RegisterCluster.
    #[arg(long, env = "DAEMONPLANE_CLUSTER")]
    pub cluster: String,
    /// File holding the cluster's token; re-read on every reconnect, so a rotated Secret needs no restart.
    #[arg(long, env = "DAEMONPLANE_TOKEN_FILE", required_unless_present = "token")]
    pub token_file: Option<PathBuf>,
    /// The cluster's token itself (prefer --token-file: arguments are visible to other processes).
    #[arg(long, env = "DAEMONPLANE_TOKEN", hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Kubeconfig file; without it, the in-cluster service account (or $KUBECONFIG, ~/.kube/config).
    #[arg(long, conflicts_with = "simulate")]
    pub kubeconfig: Option<PathBuf>,
    /// Simulate a cluster in-process instead of watching a real one.
    #[arg(long)]
    pub simulate: bool,
    /// Simulated cluster: number of nodes.
    #[arg(long, default_value_t = 100, requires = "simulate")]
    pub sim_nodes: usize,
    /// Simulated cluster: milliseconds from a pod's creation to Running and Ready.
    #[arg(long, default_value_t = 2000, requires = "simulate")]
    pub sim_ready_after_ms: u64,
    /// Simulated cluster: pods with an image containing this text never pull (stay Pending).
    #[arg(long, requires = "simulate")]
    pub sim_image_pull_failure: Option<String>,
    /// Simulated cluster: pods with an image containing this text crash-loop (Running, never Ready).
    #[arg(long, requires = "simulate")]
    pub sim_crash_loop: Option<String>,
    /// Simulated cluster: every this many seconds a node leaves or joins.
    #[arg(long, requires = "simulate")]
    pub sim_node_churn_secs: Option<u64>,
    /// Simulated cluster: every this many seconds one node goes NotReady (and the previous one recovers).
    #[arg(long, requires = "simulate")]
    pub sim_not_ready_flap_secs: Option<u64>,
    /// Actions applied at the same time.
    #[arg(long, default_value_t = 32)]
    pub parallel_actions: usize,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo's service; grpcurl commands are printed for it.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Node counts of the three simulated clusters.
    #[arg(long, value_delimiter = ',', default_values_t = [40usize, 200, 1000])]
    pub sizes: Vec<usize>,
    /// Milliseconds from a pod's creation to Running and Ready.
    #[arg(long, default_value_t = 800)]
    pub ready_after_ms: u64,
    /// Keep the service running after the walkthrough until Ctrl-C, for grpcurl.
    #[arg(long)]
    pub keep_running: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("daemonplane").chain(args.iter().copied()))
    }

    #[test]
    fn a_client_ca_needs_a_server_certificate() {
        let error = parse(&["serve", "--tls-client-ca", "ca.pem"]).expect_err("rejected without --tls-cert");
        assert!(error.to_string().contains("--tls-cert"), "{error}");
        let cli = parse(&["serve", "--tls-cert", "s.pem", "--tls-key", "s.key", "--tls-client-ca", "ca.pem"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.tls_client_ca, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn platform_roles_are_parsed() {
        let cli =
            parse(&["serve", "--platform-role", "ci=operator:team-a,team-b", "--platform-role", "ops=admin"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        let names: Vec<&str> = args.platform_roles.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ci", "ops"]);
        let error = parse(&["serve", "--platform-role", "ci"]).expect_err("needs NAME=ROLE");
        assert!(error.to_string().contains("NAME=ROLE"), "{error}");
        let error = parse(&["serve", "--platform-role", "ci=root"]).expect_err("unknown role");
        assert!(error.to_string().contains("unknown role"), "{error}");
    }

    #[test]
    fn limits_have_the_configuration_defaults_and_take_durations() {
        let Command::Serve(args) = parse(&["serve"]).unwrap().command else { panic!("not serve") };
        let (mut fleet, mut transport) = (FleetConfig::default(), TransportLimits::default());
        args.limits.apply(&mut fleet, &mut transport);
        assert_eq!(transport, TransportLimits::default());
        let defaults = FleetConfig::default();
        assert_eq!(
            (fleet.max_message_bytes, fleet.max_clusters, fleet.max_daemonsets, fleet.max_nodes_per_cluster),
            (
                defaults.max_message_bytes,
                defaults.max_clusters,
                defaults.max_daemonsets,
                defaults.max_nodes_per_cluster
            )
        );
        assert_eq!(args.limits.request_timeout.to_string(), "30s");

        let cli = parse(&["serve", "--request-timeout", "1m30s", "--http2-keepalive-interval", "500ms"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.limits.request_timeout, CliDuration(Duration::from_secs(90)));
        assert_eq!(args.limits.http2_keepalive_interval, CliDuration(Duration::from_millis(500)));
        for bad in ["0s", "-5s", "soon"] {
            let error = parse(&["serve", &format!("--request-timeout={bad}")]).expect_err("refused");
            assert!(error.to_string().contains("--request-timeout"), "{error}");
        }
        parse(&["serve", "--shim-events-per-second", "0"]).expect_err("a rate of zero");
        parse(&["serve", "--max-concurrent-streams", "0"]).expect_err("no streams at all");
        parse(&["serve", "--max-message-bytes", "100000000"]).expect_err("above the transport's ceiling");
    }

    #[test]
    fn a_shim_client_certificate_comes_with_its_key() {
        let base = ["shim", "--server", "https://d:50051", "--cluster", "c", "--token-file", "t"];
        let error = parse(&[&base[..], &["--client-cert", "c.pem"]].concat()).expect_err("rejected without a key");
        assert!(error.to_string().contains("--client-key"), "{error}");
        let cli = parse(&[&base[..], &["--client-cert", "c.pem", "--client-key", "c.key"]].concat()).unwrap();
        let Command::Shim(args) = cli.command else { panic!("not a shim") };
        assert_eq!((args.client_cert, args.client_key), (Some("c.pem".into()), Some("c.key".into())));
    }
}
