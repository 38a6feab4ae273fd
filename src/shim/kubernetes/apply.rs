//! Pod actions against the Kubernetes API. Both calls are idempotent, so a redelivered action is harmless: a
//! create finding the pod its own action made succeeds, and a delete finding its pod gone succeeds.
//!
//! Throttling (429), server errors (5xx) and broken connections are retried with exponential backoff, waiting at
//! least as long as the API server asks (`Status.details.retryAfterSeconds`, which it sends with its Retry-After
//! header); any other error fails at once with the API's message. Success is only reported when the API
//! confirmed it.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client};

use crate::engine::model::ACTION_ID_ANNOTATION;
use crate::pb;
use crate::shim::{Applier, Outcome};

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Wait before the second try; it doubles before each further one.
    pub first_delay: Duration,
    /// The longest wait the API server may ask for with retryAfterSeconds; a longer request is cut to this, so
    /// a misconfigured server cannot hold an action (and its node) indefinitely.
    pub max_retry_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5, first_delay: Duration::from_millis(100), max_retry_after: Duration::from_secs(30) }
    }
}

/// Applies pod actions through a kube client.
#[derive(Clone)]
pub struct KubeApplier {
    client: Client,
    retry: Retry,
}

impl KubeApplier {
    pub fn new(client: Client) -> Self {
        KubeApplier { client, retry: Retry::default() }
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Runs `call` until it succeeds, fails for good, or runs out of attempts: backon's exponential backoff,
    /// stretched to the API server's retryAfterSeconds when it asks for longer.
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let policy = ExponentialBuilder::default()
            .with_min_delay(self.retry.first_delay)
            .with_factor(2.0)
            .without_max_delay()
            .with_max_times(self.retry.attempts.max(1) as usize - 1);
        let attempts = AtomicU32::new(0);
        let max_retry_after = self.retry.max_retry_after;
        (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            call()
        })
        .retry(policy)
        .when(is_transient)
        .adjust(|e, delay| delay.map(|d| d.max(retry_after(e).min(max_retry_after))))
        .notify(|e, wait| {
            tracing::warn!(what, attempt = attempts.load(Ordering::Relaxed), ?wait, error = %message(e), "transient API error; retrying")
        })
        .await
        .map_err(|error| Failure { error, attempts: attempts.load(Ordering::Relaxed) })
    }

    /// After AlreadyExists: the pod counts as created when the existing one carries this action's id.
    async fn existing(&self, api: &Api<Pod>, namespace: &str, name: &str, action_id: Option<&str>) -> Outcome {
        let what = format!("get pod {namespace}/{name}");
        let existing = match self.retrying(&what, || api.get(name)).await {
            Ok(pod) => pod,
            Err(f) => return Outcome::failed(format!("pod already exists and reading it failed: {}", f.text())),
        };
        let theirs =
            existing.metadata.annotations.as_ref().and_then(|a| a.get(ACTION_ID_ANNOTATION)).map(String::as_str);
        match (action_id, theirs) {
            (Some(ours), Some(theirs)) if ours == theirs => Outcome {
                message: "already exists (created by this action)".to_string(),
                ..Outcome::succeeded(uid(&existing))
            },
            (_, theirs) => Outcome::failed(format!(
                "pods {name:?} already exists and was not created by this action ({ACTION_ID_ANNOTATION} {})",
                theirs.map_or_else(|| "not set".to_string(), |t| format!("{t:?}"))
            )),
        }
    }
}

#[async_trait]
impl Applier for KubeApplier {
    async fn create_pod(&self, create: &pb::CreatePod) -> Outcome {
        let pod: Pod = match serde_json::from_str(&create.pod_json) {
            Ok(pod) => pod,
            Err(e) => return Outcome::failed(format!("pod_json: {e}")),
        };
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        if namespace != create.namespace || name != create.name {
            return Outcome::failed(format!(
                "pod_json: metadata names pod {namespace:?}/{name:?}, the action {:?}/{:?}",
                create.namespace, create.name
            ));
        }
        let action_id = pod.metadata.annotations.as_ref().and_then(|a| a.get(ACTION_ID_ANNOTATION)).map(String::as_str);
        let api = self.pods(namespace);
        let what = format!("create pod {namespace}/{name}");
        let params = PostParams::default();
        match self.retrying(&what, || api.create(&params, &pod)).await {
            Ok(created) => Outcome::succeeded(uid(&created)),
            Err(f) if f.is_already_exists() => self.existing(&api, namespace, name, action_id).await,
            Err(f) => Outcome::failed(f.text()),
        }
    }

    async fn delete_pod(&self, delete: &pb::DeletePod) -> Outcome {
        // Without a uid the precondition cannot protect a newer pod of the same name, and its conflict would
        // read as "already gone".
        if delete.uid.is_empty() {
            return Outcome::failed("uid: Required value: a delete needs the pod's uid as precondition");
        }
        let api = self.pods(&delete.namespace);
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: Some(delete.uid.clone()), resource_version: None }),
            ..DeleteParams::default()
        };
        let what = format!("delete pod {}/{}", delete.namespace, delete.name);
        match self.retrying(&what, || api.delete(&delete.name, &params)).await {
            // Either the pod (graceful deletion started) or a Status (it is gone): both are the API's yes.
            Ok(_) => Outcome::succeeded_with(""),
            Err(f) if f.api().is_some_and(|s| s.is_not_found()) => Outcome::succeeded_with("already gone"),
            // The uid precondition failed: the name now belongs to a newer pod, so the targeted one is gone.
            Err(f) if f.api().is_some_and(|s| s.is_conflict()) => {
                Outcome::succeeded_with(format!("pod {} already gone; name now used by another pod", delete.uid))
            }
            Err(f) => Outcome::failed(f.text()),
        }
    }
}

/// A request that failed for good.
struct Failure {
    error: kube::Error,
    attempts: u32,
}

impl Failure {
    fn api(&self) -> Option<&kube::core::Status> {
        match &self.error {
            kube::Error::Api(status) => Some(status),
            _ => None,
        }
    }

    fn is_already_exists(&self) -> bool {
        self.api().is_some_and(|s| s.is_already_exists())
    }

    /// The API's message, with the number of tries when there were several.
    fn text(&self) -> String {
        let text = message(&self.error);
        if self.attempts > 1 { format!("{text} (gave up after {} attempts)", self.attempts) } else { text }
    }
}

/// Throttling, server-side failures and broken connections may pass; the rest will not.
fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// How long the API server asked to wait before the next try (zero when it did not say).
fn retry_after(e: &kube::Error) -> Duration {
    match e {
        kube::Error::Api(status) => {
            Duration::from_secs(status.details.as_ref().map_or(0, |d| u64::from(d.retry_after_seconds)))
        }
        _ => Duration::ZERO,
    }
}

/// The API's own words where there are some (e.g. `pods is forbidden: User "x" cannot create resource ...`).
fn message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        other => other.to_string(),
    }
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}
