//! Pod actions against the simulated cluster, answered as the API server would answer them: creates are
//! validated, bound at once to their pinned node (the scheduler) and started after the start delay (the
//! kubelet); deletes mark the pod terminating and remove it after a grace period.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::state::{Health, PodKey, SimPod, now};
use super::{Shared, SimCluster};
use crate::engine::daemonset_util::target_node_name;
use crate::engine::fit::PodDemand;
use crate::engine::model::{ACTION_ID_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_HASH_LABEL};
use crate::pb;
use crate::shim::{Applier, Outcome};

const STOPPED: &str = "the simulated cluster is stopped";

#[async_trait]
impl Applier for SimCluster {
    async fn create_pod(&self, create: &pb::CreatePod) -> Outcome {
        self.shared.create(create)
    }

    async fn delete_pod(&self, delete: &pb::DeletePod) -> Outcome {
        self.shared.delete(delete)
    }
}

/// The images of all of a pod's containers.
fn images(spec: &PodSpec) -> impl Iterator<Item = &str> {
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).filter_map(|c| c.image.as_deref())
}

impl Shared {
    fn create(self: &Arc<Self>, create: &pb::CreatePod) -> Outcome {
        if self.stopped() {
            return Outcome::failed(STOPPED);
        }
        let mut pod = match self.admit(create) {
            Ok(pod) => pod,
            Err(message) => return Outcome::failed(message),
        };
        let key: PodKey = (create.namespace.clone(), create.name.clone());
        let mut state = self.lock();
        if let Some(existing) = state.pod(&key) {
            // A redelivered create finds its own pod; anything else under that name is a conflict.
            if existing.action_id.is_some() && existing.action_id == pod.action_id {
                return Outcome::succeeded(existing.pod.uid.clone());
            }
            return Outcome::failed(format!("AlreadyExists: pods {:?} already exists", create.name));
        }
        // The scheduler binds a pinned pod at once when its node exists; otherwise it stays unscheduled.
        if state.node(&pod.pod.target_node).is_some() {
            pod.pod.node_name = pod.pod.target_node.clone();
        }
        let bound = !pod.pod.node_name.is_empty();
        let uid = state.insert_pod(&self.mirror, key.clone(), pod);
        drop(state);
        if bound {
            self.start_later(key, uid.clone());
        }
        Outcome::succeeded(uid)
    }

    /// Validates the manifest as the API server would and builds the new pod (not yet bound, no
    /// resourceVersion).
    fn admit(&self, create: &pb::CreatePod) -> Result<SimPod, String> {
        if create.namespace.is_empty() || create.name.is_empty() {
            return Err("namespace and name are required".into());
        }
        let manifest: Pod = serde_json::from_str(&create.pod_json).map_err(|e| format!("pod_json: {e}"))?;
        let meta = manifest.metadata;
        if meta.name.as_deref() != Some(create.name.as_str()) {
            return Err(format!(
                "pod_json: metadata.name {:?} does not match the pod name {:?}",
                meta.name.unwrap_or_default(),
                create.name
            ));
        }
        if meta.namespace.as_deref().is_some_and(|ns| ns != create.namespace) {
            return Err(
                "pod_json: the namespace of the provided object does not match the namespace sent on the request"
                    .into(),
            );
        }
        let invalid = |why: String| format!("Pod {:?} is invalid: {why}", create.name);
        let spec = manifest.spec.unwrap_or_default();
        if spec.containers.is_empty() {
            return Err(invalid("spec.containers: Required value".into()));
        }
        if let Some(i) = spec.containers.iter().position(|c| c.image.as_deref().is_none_or(str::is_empty)) {
            return Err(invalid(format!("spec.containers[{i}].image: Required value")));
        }
        let demand = PodDemand::from_pod_spec(&spec).map_err(|e| invalid(e.to_string()))?;

        let labels = meta.labels.unwrap_or_default();
        let matches =
            |pattern: &Option<String>| pattern.as_deref().is_some_and(|p| images(&spec).any(|i| i.contains(p)));
        let health = if matches(&self.image_pull_failure) {
            Health::ImagePullFails
        } else if matches(&self.crash_loop) {
            Health::CrashLoops
        } else {
            Health::Healthy
        };
        let controller = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true));
        let pod = pb::Pod {
            namespace: create.namespace.clone(),
            name: create.name.clone(),
            uid: uuid::Uuid::new_v4().to_string(),
            resource_version: String::new(),
            node_name: String::new(),
            target_node: target_node_name(&spec).unwrap_or_default(),
            labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            phase: pb::PodPhase::Pending as i32,
            ready: false,
            ready_since: None,
            created_at: Some(now()),
            deletion_timestamp: None,
            controller: controller.map(|o| pb::OwnerReference {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            }),
            revision_hash: labels.get(REVISION_HASH_LABEL).cloned().unwrap_or_default(),
            requests: Some(pb::Resources { cpu_millis: demand.cpu_millis, memory_bytes: demand.memory_bytes, pods: 0 }),
            host_ports: demand
                .host_ports
                .into_iter()
                .map(|p| pb::HostPort {
                    port: p.port,
                    protocol: p.protocol.to_string(),
                    host_ip: p.host_ip.to_string(),
                })
                .collect(),
        };
        Ok(SimPod {
            pod,
            action_id: meta.annotations.and_then(|mut a| a.remove(ACTION_ID_ANNOTATION)),
            health,
            watched: labels.get(MANAGED_BY_LABEL).is_some_and(|v| v == MANAGED_BY_VALUE),
        })
    }

    fn delete(self: &Arc<Self>, delete: &pb::DeletePod) -> Outcome {
        if self.stopped() {
            return Outcome::failed(STOPPED);
        }
        let key: PodKey = (delete.namespace.clone(), delete.name.clone());
        let mut state = self.lock();
        let Some(existing) = state.pod(&key).map(|p| p.pod.clone()) else {
            return Outcome::succeeded_with("already gone");
        };
        if !delete.uid.is_empty() && existing.uid != delete.uid {
            return Outcome::succeeded_with(format!(
                "already gone: {}/{} is now another pod (uid {})",
                delete.namespace, delete.name, existing.uid
            ));
        }
        if existing.deletion_timestamp.is_some() {
            return Outcome::succeeded_with("already terminating");
        }
        state.terminate_pod(&self.mirror, &key, &existing.uid);
        drop(state);
        // The grace period, shortened like the start delay.
        let uid = existing.uid;
        self.after(self.ready_after / 2, move |s| s.lock().remove_pod(&s.mirror, &key, &uid));
        Outcome::succeeded_with("")
    }
}
