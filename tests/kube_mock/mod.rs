//! A fake Kubernetes API server for the shim's watchers, speaking real API JSON in memory. The node and pod
//! watchers run concurrently, so requests arrive in no fixed order: the fake answers each by path instead of
//! expecting a sequence.
//!
//! - A list (`GET <path>`) returns the list set for the path with [`FakeApi::set_list`], in pages when the
//!   request has a `limit`, with a `continue` token for the next page, as the API server does.
//! - A watch (`GET <path>?watch=true`) stays open; [`FakeApi::send`] writes one watch event line to the newest
//!   open watch of the path, so a test decides when each event happens.

#![allow(dead_code)]

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
    /// Whether pod creates and deletes are served (see [`FakeApi::serve_pod_writes`]).
    serve_pod_writes: bool,
    /// The last resourceVersion handed out by a served write.
    resource_version: u64,
    /// Pods created through the fake, by `namespace/name`.
    pods: HashMap<String, Value>,
    /// Paths answered with an error status instead (code, reason, message).
    errors: HashMap<String, (u16, String, String)>,
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
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                Ok::<_, Infallible>(fake.respond(Request::from_parts(parts, body)))
            }
        });
        kube::Client::new(service, "default")
    }

    /// Serves pod creates and deletes like a cluster whose scheduler binds at once and whose kubelet starts
    /// every pod Running and Ready: each write answers as the API server does and is echoed as an ADDED or
    /// DELETED event on the open `/api/v1/pods` watch. Writes start at resourceVersion `first_rv`.
    pub fn serve_pod_writes(&self, first_rv: u64) {
        let mut inner = self.lock();
        inner.serve_pod_writes = true;
        inner.resource_version = first_rv;
    }

    /// Bodies of pod creates served so far.
    pub fn created_pods(&self) -> Vec<Value> {
        self.lock().pods.values().cloned().collect()
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

    /// Answers every request for `path` with this error status from now on (e.g. 403 Forbidden).
    pub fn set_error(&self, path: &str, code: u16, reason: &str, message: &str) {
        self.lock().errors.insert(path.to_string(), (code, reason.to_string(), message.to_string()));
    }

    /// Stops answering `path` with an error.
    pub fn clear_error(&self, path: &str) {
        self.lock().errors.remove(path);
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

    fn respond(&self, req: Request<Bytes>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let mut inner = self.lock();
        inner.requests.push(format!("{} {path}?{query}", req.method()));
        if let Some((code, reason, message)) = inner.errors.get(&path) {
            let code = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return status(code, reason, message);
        }
        if inner.serve_pod_writes && req.method() != http::Method::GET {
            return pod_write(&mut inner, &req);
        }
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
            Some(list) => json_response(StatusCode::OK, &page(list, &query)),
            None => status(StatusCode::NOT_FOUND, "NotFound", &format!("the server could not find {path}")),
        }
    }
}

/// The page of `list` a query asks for: `limit` items from the `continue` token on (the token here is the
/// offset), with `metadata.continue` and `remainingItemCount` while more remain.
fn page(list: &Value, query: &str) -> Value {
    let param = |name: &str| query.split('&').find_map(|p| p.strip_prefix(name)?.strip_prefix('='));
    let Some(limit) = param("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0) else {
        return list.clone();
    };
    let start = param("continue").and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let end = (start + limit).min(items.len());
    let mut page = list.clone();
    page["items"] = Value::Array(items.get(start..end).unwrap_or_default().to_vec());
    if end < items.len() {
        page["metadata"]["continue"] = json!(end.to_string());
        page["metadata"]["remainingItemCount"] = json!(items.len() - end);
    }
    page
}

/// A served pod create or delete.
fn pod_write(inner: &mut Inner, req: &Request<Bytes>) -> Response<Body> {
    let segments: Vec<&str> = req.uri().path().trim_start_matches('/').split('/').collect();
    // api/v1/namespaces/{ns}/pods[/{name}]
    let (namespace, name) = match segments.as_slice() {
        ["api", "v1", "namespaces", ns, "pods"] => (ns.to_string(), None),
        ["api", "v1", "namespaces", ns, "pods", name] => (ns.to_string(), Some(name.to_string())),
        _ => return status(StatusCode::NOT_FOUND, "NotFound", "not a pod path"),
    };
    inner.resource_version += 1;
    let rv = inner.resource_version.to_string();
    let (kind, pod, code) = match (req.method().clone(), name) {
        (http::Method::POST, None) => {
            let Ok(mut pod) = serde_json::from_slice::<Value>(req.body()) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON");
            };
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let key = format!("{namespace}/{name}");
            if inner.pods.contains_key(&key) {
                return status(StatusCode::CONFLICT, "AlreadyExists", &format!("pods \"{name}\" already exists"));
            }
            let node = pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
                .cloned()
                .unwrap_or(Value::Null);
            pod["metadata"]["uid"] = json!(format!("uid-{rv}"));
            pod["metadata"]["resourceVersion"] = json!(rv);
            pod["metadata"]["creationTimestamp"] = json!("2026-11-23T00:00:00Z");
            pod["spec"]["nodeName"] = node;
            pod["status"] = json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T00:00:01Z"}],
            });
            inner.pods.insert(key, pod.clone());
            ("ADDED", pod, StatusCode::CREATED)
        }
        (http::Method::DELETE, Some(name)) => match inner.pods.remove(&format!("{namespace}/{name}")) {
            Some(mut pod) => {
                pod["metadata"]["resourceVersion"] = json!(rv);
                ("DELETED", pod, StatusCode::OK)
            }
            None => return status(StatusCode::NOT_FOUND, "NotFound", &format!("pods \"{name}\" not found")),
        },
        _ => return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "only pod create and delete"),
    };
    let mut line = serde_json::to_vec(&event(kind, pod.clone())).expect("an event serializes");
    line.push(b'\n');
    if let Some(watches) = inner.watches.get_mut("/api/v1/pods") {
        watches.retain(|tx| !tx.is_closed());
        if let Some(tx) = watches.last() {
            let _ = tx.send(Bytes::from(line));
        }
    }
    json_response(code, &pod)
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
