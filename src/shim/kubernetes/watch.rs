//! The watchers that keep the mirror in step with the cluster: one on Nodes, one on all Pods (daemon pods go to
//! the mirror as they are, every other pod into the per-node summary).
//!
//! A list or re-list (at start, and whenever the watch falls out of the API server's window with 410 Gone)
//! replaces the mirror's contents, so objects deleted while the watch was down are reported deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

use super::convert::{is_daemon_pod, node_to_pb, pod_to_pb};
use super::summary::{Contribution, OtherPodsSummary, pod_key};
use crate::pb;
use crate::shim::mirror::Mirror;

/// Watches the cluster's nodes and pods into `mirror` until the task is dropped. Marks the mirror synced once
/// both initial lists are in. Watch errors are logged and retried with kube's default backoff.
pub async fn run_watchers(client: Client, mirror: Arc<Mirror>) {
    let initial = Arc::new(InitialLists { remaining: AtomicUsize::new(2), mirror: mirror.clone() });
    let nodes = NodeSync {
        mirror: mirror.clone(),
        initial: initial.clone(),
        listed: false,
        relist: None,
        newest: Newest::default(),
    };
    let pods = PodSync {
        mirror,
        initial,
        listed: false,
        relist: None,
        summary: OtherPodsSummary::new(),
        newest: Newest::default(),
    };
    tokio::join!(
        follow("nodes", Api::<Node>::all(client.clone()), nodes, NodeSync::handle),
        follow("pods", Api::<Pod>::all(client), pods, PodSync::handle),
    );
}

/// Runs one watcher, passing every event to `handle`.
async fn follow<K, S>(resource: &'static str, api: Api<K>, mut state: S, handle: fn(&mut S, Event<K>))
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut events = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => handle(&mut state, event),
            Err(e) => tracing::warn!(resource, error = %e, "watch failed; retrying with backoff"),
        }
    }
    // The watcher retries forever; an end would be a kube-rs change, so say so rather than go quiet.
    tracing::error!(resource, "watch stream ended");
}

/// Counts the watchers still doing their first list.
struct InitialLists {
    remaining: AtomicUsize,
    mirror: Arc<Mirror>,
}

impl InitialLists {
    fn done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.mirror.mark_synced();
        }
    }
}

/// The newest resourceVersion a watcher has seen. A deletion found by a re-list has no event of its own; it is
/// reported at this version, which is at least the deleted object's last one, so the service applies it.
#[derive(Default)]
struct Newest(Option<u64>);

impl Newest {
    fn see(&mut self, rv: Option<&str>) {
        if let Some(v) = rv.and_then(|rv| rv.parse::<u64>().ok()) {
            self.0 = Some(self.0.map_or(v, |n| n.max(v)));
        }
    }

    fn version(&self) -> String {
        self.0.map(|v| v.to_string()).unwrap_or_default()
    }
}

struct NodeSync {
    mirror: Arc<Mirror>,
    initial: Arc<InitialLists>,
    listed: bool,
    /// Nodes of the list in progress.
    relist: Option<Vec<pb::Node>>,
    newest: Newest,
}

impl NodeSync {
    fn handle(&mut self, event: Event<Node>) {
        match event {
            Event::Apply(node) => {
                self.newest.see(node.metadata.resource_version.as_deref());
                self.mirror.upsert_node(node_to_pb(&node));
            }
            Event::Delete(node) => {
                self.newest.see(node.metadata.resource_version.as_deref());
                let rv = node.resource_version().unwrap_or_default();
                self.mirror.delete_node(&node.name_any(), &rv);
            }
            Event::Init => self.relist = Some(Vec::new()),
            Event::InitApply(node) => {
                self.newest.see(node.metadata.resource_version.as_deref());
                self.relist.get_or_insert_with(Vec::new).push(node_to_pb(&node));
            }
            Event::InitDone => {
                let nodes = self.relist.take().unwrap_or_default();
                tracing::info!(nodes = nodes.len(), "listed nodes");
                self.mirror.replace_nodes(nodes, &self.newest.version());
                if !std::mem::replace(&mut self.listed, true) {
                    self.initial.done();
                }
            }
        }
    }
}

/// Pods of a list in progress, converted as they arrive so the list holds no full pod objects.
#[derive(Default)]
struct PodList {
    daemon: Vec<pb::Pod>,
    others: Vec<(String, Contribution)>,
}

struct PodSync {
    mirror: Arc<Mirror>,
    initial: Arc<InitialLists>,
    listed: bool,
    relist: Option<PodList>,
    summary: OtherPodsSummary,
    newest: Newest,
}

impl PodSync {
    fn handle(&mut self, event: Event<Pod>) {
        match event {
            Event::Apply(pod) => {
                self.newest.see(pod.metadata.resource_version.as_deref());
                let key = pod_key(&pod);
                if is_daemon_pod(&pod) {
                    // A pod relabelled into daemonplane's care stops counting as another pod.
                    let changed = self.summary.remove(&key);
                    self.summary.publish(&self.mirror, &changed);
                    self.mirror.upsert_pod(pod_to_pb(&pod));
                } else {
                    // And one relabelled out of it stops being a daemon pod.
                    self.mirror.delete_pod(&key, &pod.resource_version().unwrap_or_default());
                    let changed = self.summary.set(&key, Contribution::of(&pod));
                    self.summary.publish(&self.mirror, &changed);
                }
            }
            Event::Delete(pod) => {
                self.newest.see(pod.metadata.resource_version.as_deref());
                let key = pod_key(&pod);
                self.mirror.delete_pod(&key, &pod.resource_version().unwrap_or_default());
                let changed = self.summary.remove(&key);
                self.summary.publish(&self.mirror, &changed);
            }
            Event::Init => self.relist = Some(PodList::default()),
            Event::InitApply(pod) => {
                self.newest.see(pod.metadata.resource_version.as_deref());
                let list = self.relist.get_or_insert_with(PodList::default);
                if is_daemon_pod(&pod) {
                    list.daemon.push(pod_to_pb(&pod));
                } else if let Some(contribution) = Contribution::of(&pod) {
                    list.others.push((pod_key(&pod), contribution));
                }
            }
            Event::InitDone => {
                let PodList { daemon, others } = self.relist.take().unwrap_or_default();
                tracing::info!(daemon_pods = daemon.len(), other_pods = others.len(), "listed pods");
                self.mirror.replace_pods(daemon, &self.newest.version());
                let changed = self.summary.replace(others);
                self.summary.publish(&self.mirror, &changed);
                if !std::mem::replace(&mut self.listed, true) {
                    self.initial.done();
                }
            }
        }
    }
}
