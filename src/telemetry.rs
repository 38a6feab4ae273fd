//! Logs to stderr, and spans to an OpenTelemetry collector over OTLP/gRPC when an endpoint is given.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the span exporter alive; [`Telemetry::shutdown`] flushes what it holds.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs the global subscriber: `RUST_LOG` (else `default_filter`) for stderr; with `otlp_endpoint`, spans
/// are also batched to that collector under `service_name`. Must run inside the Tokio runtime (the exporter's
/// channel is created here and connects lazily, so an absent collector delays nothing).
pub fn init(default_filter: &str, otlp_endpoint: Option<&str>, service_name: &str) -> anyhow::Result<Telemetry> {
    let fmt_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(fmt_filter);
    let Some(endpoint) = otlp_endpoint else {
        tracing_subscriber::registry().with(fmt).try_init()?;
        return Ok(Telemetry { provider: None });
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(3))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name.to_string()).build())
        .build();
    let tracer = provider.tracer("daemonplane");
    // The exporter's own transport and the SDK's logs stay out of what is exported, so exporting never
    // feeds itself.
    let otel_filter = EnvFilter::new(
        "info,h2=off,hyper=off,tonic=off,tower=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off",
    );
    tracing_subscriber::registry()
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(otel_filter))
        .try_init()?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing::info!(endpoint, "exporting spans over OTLP");
    Ok(Telemetry { provider: Some(provider) })
}

impl Telemetry {
    /// Flushes and stops the exporter (bounded by its timeout).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The SDK's shutdown blocks; keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}
