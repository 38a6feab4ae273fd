//! The `daemonplane` binary.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Parser;

use daemonplane::cli::{Cli, Command};
use daemonplane::fleet::FleetConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo prints its own story; only warnings from the service and shims interrupt it.
    let (default_filter, service_name) = match &cli.command {
        Command::Serve { .. } => ("info", "daemonplane"),
        Command::Shim(_) => ("info", "daemonplane-shim"),
        Command::Demo(_) => ("warn", "daemonplane-demo"),
    };
    let telemetry = daemonplane::telemetry::init(default_filter, cli.otlp_endpoint.as_deref(), service_name)?;
    let result = run(cli.command).await;
    telemetry.shutdown().await;
    result
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, database_url, tls_cert, tls_key, tls_client_ca } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => {
                    let tls = daemonplane::server::ServerTls::from_files(&cert, &key)?;
                    Some(match tls_client_ca {
                        Some(ca) => tls.require_client_certificates(&ca)?,
                        None => tls,
                    })
                }
                _ => None,
            };
            let store = daemonplane::store::connect(&database_url).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            daemonplane::server::serve_with(listener, store, FleetConfig::default(), tls, shutdown_signal()).await
        }
        Command::Shim(args) => daemonplane::shim::command::run(args, shutdown_signal()).await,
        Command::Demo(args) => {
            let options = daemonplane::demo::DemoOptions {
                listen: args.listen,
                sizes: args.sizes,
                ready_after: Duration::from_millis(args.ready_after_ms),
                progress_bars: std::io::stderr().is_terminal(),
            };
            let hold: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> =
                args.keep_running.then(|| Box::pin(shutdown_signal()) as _);
            daemonplane::demo::run(options, hold).await.map(|_| ())
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
