//! A deadline for unary FleetService calls: `--request-timeout`, or the client's `grpc-timeout` when that is
//! shorter. A call past it is answered DEADLINE_EXCEEDED with the reason. Streaming calls are not bounded: a
//! rollout watch or a shim session lasts as long as its peer wants.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::pb;
use crate::pb::fleet_service_server::SERVICE_NAME;

/// tonic applies the client's `grpc-timeout` itself, outside this layer, and answers CANCELLED when it passes;
/// answering this much earlier lets the client see DEADLINE_EXCEEDED with the reason instead.
const CLIENT_DEADLINE_HEADSTART: Duration = Duration::from_millis(5);

/// Bounds unary FleetService calls.
#[derive(Clone)]
pub struct DeadlineLayer {
    limit: Duration,
    unary: Arc<HashSet<String>>,
}

impl DeadlineLayer {
    pub fn new(limit: Duration) -> Self {
        DeadlineLayer { limit, unary: Arc::new(unary_fleet_paths()) }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner, limit: self.limit, unary: Arc::clone(&self.unary) }
    }
}

/// The request paths of FleetService's unary methods, read from the service's descriptor so that a method
/// added later is bounded, or not, by its shape.
fn unary_fleet_paths() -> HashSet<String> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("the compiled descriptor set");
    let (package, service) = SERVICE_NAME.rsplit_once('.').expect("a qualified service name");
    set.file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| &file.service)
        .filter(|s| s.name() == service)
        .flat_map(|s| &s.method)
        .filter(|m| !m.client_streaming() && !m.server_streaming())
        .map(|m| format!("/{SERVICE_NAME}/{}", m.name()))
        .collect()
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
    unary: Arc<HashSet<String>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for Deadline<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if !self.unary.contains(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let method = request.uri().path().rsplit('/').next().unwrap_or_default().to_string();
        let client = client_timeout(request.headers());
        let (wait, why) = match client {
            Some(client) if client < self.limit => (
                client.saturating_sub(CLIENT_DEADLINE_HEADSTART),
                format!("the client's deadline of {client:?} (grpc-timeout)"),
            ),
            _ => (self.limit, format!("the {:?} request timeout (--request-timeout)", self.limit)),
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            // The call runs to its end even when its answer is no longer awaited: cut short between its store
            // write and what follows (the catalog reload), a change would be saved but not acted on. Spawned
            // here, where the request's span is entered, so that its logs stay in that span.
            let call = tokio::spawn(call.in_current_span());
            match tokio::time::timeout(wait, call).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(failed)) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
                Ok(Err(_)) => Ok(Status::unavailable("daemonplane is shutting down").into_http()),
                Err(_) => {
                    tracing::warn!(%method, limit = %why, "call past its deadline");
                    Ok(Status::deadline_exceeded(format!(
                        "{method} did not finish within {why}; it still completes in the background, so read the \
                         result before retrying"
                    ))
                    .into_http())
                }
            }
        })
    }
}

/// The `grpc-timeout` header: at most 8 digits and a unit (Hours, Minutes, Seconds, milliseconds,
/// microseconds, nanoseconds). A malformed one is ignored, as tonic ignores it.
fn client_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unary_fleet_calls_are_bounded() {
        let paths = unary_fleet_paths();
        assert!(paths.contains("/daemonplane.v1.FleetService/ApplyDaemonSet"));
        assert!(paths.contains("/daemonplane.v1.FleetService/RegisterCluster"));
        assert!(!paths.contains("/daemonplane.v1.FleetService/WatchRollout"), "a server stream");
        assert!(!paths.iter().any(|p| p.contains("ShimService")));
    }

    #[test]
    fn grpc_timeout_headers_are_read_in_every_unit() {
        let read = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            client_timeout(&headers)
        };
        assert_eq!(read("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(read("3M"), Some(Duration::from_secs(180)));
        assert_eq!(read("30S"), Some(Duration::from_secs(30)));
        assert_eq!(read("250m"), Some(Duration::from_millis(250)));
        assert_eq!(read("7u"), Some(Duration::from_micros(7)));
        assert_eq!(read("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for malformed in ["", "S", "123456789S", "10x", "-1S", "+1S", "1.5S"] {
            assert_eq!(read(malformed), None, "{malformed:?}");
        }
        assert_eq!(client_timeout(&http::HeaderMap::new()), None);
    }

    /// A service that answers OK after `delay`.
    type Inner = tower::util::BoxCloneService<http::Request<Body>, http::Response<Body>, std::convert::Infallible>;

    /// A 100 ms deadline on a service that answers OK after `delay`.
    fn slow(delay: Duration) -> Deadline<Inner> {
        DeadlineLayer::new(Duration::from_millis(100)).layer(Inner::new(tower::service_fn(move |_| async move {
            tokio::time::sleep(delay).await;
            Ok(http::Response::new(Body::empty()))
        })))
    }

    fn request(method: &str, grpc_timeout: Option<&str>) -> http::Request<Body> {
        let mut request = http::Request::builder().uri(format!("http://d/{SERVICE_NAME}/{method}"));
        if let Some(value) = grpc_timeout {
            request = request.header("grpc-timeout", value);
        }
        request.body(Body::empty()).unwrap()
    }

    fn status_of(response: &http::Response<Body>) -> Option<Status> {
        Status::from_header_map(response.headers())
    }

    #[tokio::test]
    async fn a_slow_unary_call_is_answered_deadline_exceeded_with_the_reason() {
        let response = slow(Duration::from_secs(5)).call(request("ApplyDaemonSet", None)).await.unwrap();
        let status = status_of(&response).expect("a status");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(
            status
                .message()
                .starts_with("ApplyDaemonSet did not finish within the 100ms request timeout (--request-timeout)"),
            "{status:?}"
        );
        // A quick one is answered as usual.
        let response = slow(Duration::ZERO).call(request("ApplyDaemonSet", None)).await.unwrap();
        assert!(status_of(&response).is_none());
    }

    #[tokio::test]
    async fn a_shorter_client_deadline_wins_and_a_longer_one_does_not() {
        let started = tokio::time::Instant::now();
        let response = slow(Duration::from_secs(5)).call(request("GetDaemonSet", Some("30m"))).await.unwrap();
        let status = status_of(&response).expect("a status");
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(status.message().contains("the client's deadline of 30ms (grpc-timeout)"), "{status:?}");
        assert!(started.elapsed() < Duration::from_millis(100));
        let response = slow(Duration::from_secs(5)).call(request("GetDaemonSet", Some("10S"))).await.unwrap();
        assert!(status_of(&response).unwrap().message().contains("100ms request timeout"));
    }

    #[tokio::test]
    async fn streaming_calls_are_not_bounded() {
        let response = slow(Duration::from_millis(300)).call(request("WatchRollout", None)).await.unwrap();
        assert!(status_of(&response).is_none());
    }
}
