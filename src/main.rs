//! The `daemonplane` binary.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Parser;

use daemonplane::cli::{Cli, Command};
use daemonplane::server::{Bootstrap, ServerConfig, ServerTls};

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
        Command::Serve(args) => {
            let bootstrap = match args.bootstrap_token {
                Some(token) => Bootstrap::Token(token),
                None => Bootstrap::File(args.admin_token_file),
            };
            let mut config = ServerConfig::new(bootstrap);
            config.auth.trust_domain = args.trust_domain;
            config.auth.platform_grants = args.platform_roles.into_iter().collect();
            args.limits.apply(&mut config.fleet, &mut config.transport);
            if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
                let tls = ServerTls::from_files(&cert, &key)?;
                config.tls = Some(match args.tls_client_ca {
                    Some(ca) => tls.require_client_certificates(&ca)?,
                    None => tls,
                });
            }
            let store = daemonplane::store::connect(&args.database_url).await?;
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            daemonplane::server::serve(listener, store, config, shutdown_signal()).await
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
