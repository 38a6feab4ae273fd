//! The `daemonplane` binary.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use daemonplane::fleet::FleetConfig;

#[derive(Parser)]
#[command(name = "daemonplane", version, about = "The Kubernetes DaemonSet controller as one fleet-wide gRPC service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DAEMONPLANE_LISTEN", default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// postgres://… for PostgreSQL, or sqlite:PATH for the embedded store (created if missing).
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite:daemonplane.db")]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match Cli::parse().command {
        Command::Serve { listen, database_url } => {
            let store = daemonplane::store::connect(&database_url).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            daemonplane::server::serve(listener, store, FleetConfig::default(), shutdown_signal()).await
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
