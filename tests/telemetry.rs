//! Spans reach an OpenTelemetry collector: the binary, given `--otlp-endpoint`, exports a span per gRPC
//! request over OTLP/gRPC and flushes them when it stops.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually;
use daemonplane::pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status};

/// An exported span: its service, name and string attributes.
#[derive(Clone, Debug)]
struct Exported {
    service: String,
    name: String,
    attributes: Vec<(String, String)>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Exported>>>,
}

fn strings(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = strings(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
            let service =
                resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()).unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Exported {
                        service: service.clone(),
                        name: span.name,
                        attributes: strings(&span.attributes),
                    });
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

async fn free_port() -> u16 {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn requests_are_exported_as_spans_to_the_otlp_endpoint() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_daemonplane"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--otlp-endpoint", &otlp])
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.path().join("db").display()))
        .arg("--admin-token-file")
        .arg(dir.path().join("admin.token"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let channel = async {
        loop {
            match endpoint.connect().await {
                Ok(c) => return c,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    let channel = tokio::time::timeout(Duration::from_secs(20), channel).await.expect("the service starts");
    let token_file = dir.path().join("admin.token");
    let token = eventually("the bootstrap token is written", async || {
        std::fs::read_to_string(&token_file).ok().filter(|t| t.ends_with('\n'))
    })
    .await;
    let mut fleet = daemonplane::client::fleet_client(channel, token.trim()).unwrap();
    fleet.list_clusters(pb::ListClustersRequest { label_selector: String::new() }).await.unwrap();

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "{status:?}");

    let spans = collector.spans.lock().unwrap().clone();
    let request = spans
        .iter()
        .find(|s| {
            s.name == "grpc"
                && s.attributes.iter().any(|(k, v)| k == "path" && v == "/daemonplane.v1.FleetService/ListClusters")
        })
        .unwrap_or_else(|| panic!("no span for the ListClusters request among {spans:?}"));
    assert_eq!(request.service, "daemonplane");
}
