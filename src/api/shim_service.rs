//! daemonplane.v1.ShimService: authenticates the stream, checks each message, and pumps model events to the
//! cluster's actor and its commands back out.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::Authenticator;
use super::convert;
use super::status::{close_status, to_status};
use crate::fleet::{Fleet, SessionCredential, ShimAction, ShimEvent, ToShim};
use crate::pb;
use crate::pb::shim_message::Kind;
use crate::pb::shim_service_server::ShimService;

/// How long a new stream may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster-facing service.
#[derive(Clone)]
pub struct ShimApi {
    fleet: Fleet,
    auth: Authenticator,
}

impl ShimApi {
    pub fn new(fleet: Fleet, auth: Authenticator) -> Self {
        ShimApi { fleet, auth }
    }
}

/// What one shim session may send: a token bucket of `burst` messages refilled at `per_second`. Over it, the
/// session's stream is not read, so HTTP/2 flow control makes that shim, and no other, wait. Every message
/// costs one token, a snapshot chunk too: a chunk is bounded by the message size limit, so even a 20,000-node
/// snapshot is a handful of tokens and arrives at full speed, while a shim cannot escape its rate by sending
/// snapshot after snapshot.
struct EventBudget {
    limiter: DefaultDirectRateLimiter,
    per_second: NonZeroU32,
    /// The first wait of a session is logged, not every one.
    warned: bool,
}

impl EventBudget {
    fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        EventBudget {
            limiter: DefaultDirectRateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            per_second,
            warned: false,
        }
    }

    /// Takes one message's token, waiting for it when the session is over its rate.
    async fn spend(&mut self, cluster: &str) {
        if self.limiter.check().is_ok() {
            return;
        }
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                cluster,
                per_second = self.per_second.get(),
                "shim sends faster than its event rate (--shim-events-per-second); reading its stream at that rate"
            );
        }
        self.limiter.until_ready().await;
    }
}

type ServerStream = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

/// A shim message after hello, as a model event.
fn to_event(message: pb::ShimMessage) -> Result<ShimEvent, Status> {
    Ok(match message.kind {
        None => return Err(Status::invalid_argument("kind: Required value: the message is empty")),
        Some(Kind::Hello(_)) => return Err(Status::failed_precondition("hello may only be the first message")),
        Some(Kind::Snapshot(s)) => ShimEvent::SnapshotChunk {
            snapshot_id: s.snapshot_id,
            nodes: s
                .nodes
                .into_iter()
                .enumerate()
                .map(|(i, n)| convert::node(&format!("snapshot.nodes[{i}]"), Some(n)))
                .collect::<Result<_, _>>()?,
            pods: s
                .pods
                .into_iter()
                .enumerate()
                .map(|(i, p)| convert::pod(&format!("snapshot.pods[{i}]"), Some(p)))
                .collect::<Result<_, _>>()?,
            last: s.last,
        },
        Some(Kind::NodeUpsert(u)) => ShimEvent::NodeUpsert(convert::node("node_upsert.node", u.node)?),
        Some(Kind::NodeDelete(d)) => {
            if d.name.is_empty() {
                return Err(Status::invalid_argument("node_delete.name: Required value"));
            }
            ShimEvent::NodeDelete { name: d.name, resource_version: d.resource_version }
        }
        Some(Kind::PodUpsert(u)) => ShimEvent::PodUpsert(convert::pod("pod_upsert.pod", u.pod)?),
        Some(Kind::PodDelete(d)) => {
            if d.uid.is_empty() {
                return Err(Status::invalid_argument("pod_delete.uid: Required value"));
            }
            ShimEvent::PodDelete { uid: d.uid, resource_version: d.resource_version }
        }
        Some(Kind::ActionResult(r)) => {
            let succeeded = match pb::ActionOutcome::try_from(r.outcome) {
                Ok(pb::ActionOutcome::Succeeded) => true,
                Ok(pb::ActionOutcome::Failed) => false,
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "action_result.outcome: Unsupported value: {}: supported values: ACTION_OUTCOME_SUCCEEDED, ACTION_OUTCOME_FAILED",
                        r.outcome
                    )));
                }
            };
            ShimEvent::ActionResult { action_id: r.action_id, succeeded, message: r.message }
        }
        Some(Kind::Heartbeat(_)) => ShimEvent::Heartbeat,
    })
}

fn to_message(cluster: &str, out: ToShim) -> Result<pb::ServerMessage, Status> {
    use pb::server_message::Kind as Out;
    let kind = match out {
        ToShim::Welcome { cluster, heartbeat_interval_seconds, max_message_bytes } => Out::Welcome(pb::Welcome {
            cluster,
            server_version: crate::VERSION.to_string(),
            heartbeat_interval_seconds,
            max_message_bytes,
        }),
        ToShim::Action(ShimAction::Create { id, namespace, name, node, pod_json }) => Out::Action(pb::Action {
            action_id: id,
            kind: Some(pb::action::Kind::CreatePod(pb::CreatePod { namespace, name, node_name: node, pod_json })),
        }),
        ToShim::Action(ShimAction::Delete { id, namespace, name, uid }) => Out::Action(pb::Action {
            action_id: id,
            kind: Some(pb::action::Kind::DeletePod(pb::DeletePod { namespace, name, uid })),
        }),
        ToShim::Resync { reason } => Out::Resync(pb::ResyncRequest { reason }),
        ToShim::Close(reason) => return Err(close_status(cluster, reason)),
    };
    Ok(pb::ServerMessage { kind: Some(kind) })
}

#[tonic::async_trait]
impl ShimService for ShimApi {
    type ConnectStream = ServerStream;

    async fn connect(
        &self,
        request: Request<Streaming<pb::ShimMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let credential = self.auth.shim(&request).await?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello within 10 s"))??
            .ok_or_else(|| Status::invalid_argument("stream closed before hello"))?;
        let Some(Kind::Hello(hello)) = first.kind else {
            return Err(Status::failed_precondition("the first message must be hello"));
        };
        let session = self
            .fleet
            .open_session(
                &credential.cluster,
                SessionCredential::from_token(credential.token),
                &hello.cluster,
                &hello.shim_version,
            )
            .await
            .map_err(to_status)?;
        tracing::info!(cluster = %session.cluster, shim_version = %hello.shim_version, "shim connected");

        let (tx, rx) = mpsc::channel::<Result<pb::ServerMessage, Status>>(256);
        // Commands out: the stream ends with the close status when the service ends the session.
        let (name, mut outbound, out_tx) = (session.cluster.clone(), session.outbound, tx.clone());
        tokio::spawn(async move {
            while let Some(out) = outbound.recv().await {
                let message = to_message(&name, out);
                let end = message.is_err();
                if out_tx.send(message).await.is_err() || end {
                    break;
                }
            }
        });
        // Events in: a bad message ends this stream with its reason; other clusters are untouched.
        let (events, cluster) = (session.events, session.cluster);
        let config = self.fleet.config();
        let mut budget = EventBudget::new(config.shim_events_per_second, config.shim_event_burst);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = async {
                        budget.spend(&cluster).await;
                        inbound.message().await
                    } => next,
                    _ = tx.closed() => break,
                };
                let message = match next {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(status) => {
                        // A refused message (size limit, bad encoding) is answered with its reason; a peer that
                        // went away does not read it.
                        tracing::debug!(%status, "shim stream ended");
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                match to_event(message) {
                    Ok(event) => {
                        if events.send(event).await.is_err() {
                            break;
                        }
                    }
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
