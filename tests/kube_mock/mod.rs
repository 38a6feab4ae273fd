//! A fake Kubernetes API server for the shim's watchers, speaking real API JSON in memory. The node and pod
//! watchers run concurrently, so requests arrive in no fixed order: the fake answers each by path instead of
//! expecting a sequence.
//!
//! - A list (`GET <path>`) returns the list set for the path with [`FakeApi::set_list`].
//! - A watch (`GET <path>?watch=true`) stays open; [`FakeApi::send`] writes one watch event line to the newest
//!   open watch of the path, so a test decides when each event happens.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

type Body = UnsyncBoxBody<Bytes, Infallible>;

#[derive(Default)]
struct Inner {
    /// List response per path.
    lists: HashMap<String, Value>,
    /// Open watches per path, oldest first.
    watches: HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>,
    /// Every request, as `METHOD path?query`.
    requests: Vec<String>,
}

/// The fake API server; clones share state.
#[derive(Clone, Default)]
pub struct FakeApi {
    inner: Arc<Mutex<Inner>>,
}

impl FakeApi {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.respond(req)) }
        });
        kube::Client::new(service, "default")
    }

    /// Sets what a list of `path` returns from now on: a `<kind>` list at `resource_version` holding `items`.
    pub fn set_list(&self, path: &str, kind: &str, resource_version: &str, items: Vec<Value>) {
        let list = json!({
            "kind": kind,
            "apiVersion": "v1",
            "metadata": {"resourceVersion": resource_version},
            "items": items,
        });
        self.lock().lists.insert(path.to_string(), list);
    }

    /// Writes one watch event (`{"type": ..., "object": ...}`) to the newest open watch of `path`, waiting for
    /// one to be open. Panics after 10 s without one.
    pub async fn send(&self, path: &str, event: Value) {
        let mut line = serde_json::to_vec(&event).expect("an event serializes");
        line.push(b'\n');
        let line = Bytes::from(line);
        for _ in 0..1000 {
            {
                let mut inner = self.lock();
                let open = inner.watches.entry(path.to_string()).or_default();
                open.retain(|tx| !tx.is_closed());
                if let Some(tx) = open.last()
                    && tx.send(line.clone()).is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no open watch on {path} to send {event}");
    }

    /// Requests so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// How many lists (not watches) of `path` were requested.
    pub fn list_count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.starts_with(&format!("GET {path}?")) && !r.contains("watch=true")).count()
    }

    fn respond(&self, req: Request<kube::client::Body>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let mut inner = self.lock();
        inner.requests.push(format!("{} {path}?{query}", req.method()));
        if req.method() != http::Method::GET {
            return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "the fake only serves GET");
        }
        if query.split('&').any(|p| p == "watch=true") {
            let (tx, rx) = mpsc::unbounded_channel();
            inner.watches.entry(path).or_default().push(tx);
            let stream = UnboundedReceiverStream::new(rx).map(|line| Ok::<_, Infallible>(Frame::data(line)));
            return Response::builder()
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(StreamBody::new(stream).boxed_unsync())
                .expect("a valid response");
        }
        match inner.lists.get(&path) {
            Some(list) => json_response(StatusCode::OK, list),
            None => status(StatusCode::NOT_FOUND, "NotFound", &format!("the server could not find {path}")),
        }
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("a body serializes"));
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(bytes).boxed_unsync())
        .expect("a valid response")
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_response(code, &api_status(code.as_u16(), reason, message))
}

/// A `metav1.Status` failure as the API server sends it.
pub fn api_status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A watch event line's object: `{"type": kind, "object": object}`.
pub fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}
