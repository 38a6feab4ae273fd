//! A DaemonSet prepared for planning: its defaulted spec, current revision hash and compiled placement.

use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::atom::Atom;
use super::fit::PodDemand;
use super::label_set::LabelSet;
use super::model::{OWNER_UID_LABEL, Pod, REVISION_HASH_LABEL};
use super::placement::PlacementPolicy;
use super::pod_selector::PodSelector;
use super::rolling_update::RolloutOptions;
use crate::apiserver::intstr::scaled_value;

/// upstream util.AllowsSurge: RollingUpdate whose maxSurge resolves above 0 against a single node.
fn allows_surge(spec: &DaemonSetSpec) -> bool {
    let Some(strategy) = &spec.update_strategy else { return false };
    if strategy.type_.as_deref().unwrap_or("RollingUpdate") != "RollingUpdate" {
        return false;
    }
    strategy
        .rolling_update
        .as_ref()
        .and_then(|ru| ru.max_surge.as_ref())
        .and_then(|surge| scaled_value(surge, 1).ok())
        .is_some_and(|n| n > 0)
}

/// Everything the engine needs of one DaemonSet, built once per version and reused for every node.
#[derive(Clone, Debug)]
pub struct CompiledDaemonSet {
    /// Interned, like `namespace` and `hash`, so a pod's labels and namespace compare by pointer.
    pub uid: Atom,
    pub namespace: Atom,
    pub name: String,
    pub generation: i64,
    /// controller-revision-hash of the current revision; interned, so a pod's hash label compares by pointer.
    pub hash: Atom,
    pub min_ready_seconds: i32,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    pub policy: PlacementPolicy,
    /// What each of its pods asks of a node.
    pub demand: PodDemand,
    /// RollingUpdate with maxSurge above 0 for one node: a new pod starts beside the old one (upstream
    /// AllowsSurge), which changes how manage treats a node with two pods.
    pub allows_surge: bool,
    /// spec.revisionHistoryLimit (default 10): old revisions kept besides the current one and live ones.
    pub revision_history_limit: i32,
    /// How old pods are replaced: the spec's updateStrategy plus daemonplane's rollout settings.
    pub rollout: RolloutOptions,
    /// `selector` compiled against interned labels.
    pod_selector: PodSelector,
    /// The owner uid and revision hash label keys, held here so reading them from a pod's labels takes no
    /// lazy static's check.
    owner_uid_key: Atom,
    revision_hash_key: Atom,
}

impl CompiledDaemonSet {
    /// `spec` must be defaulted and validated.
    pub fn new(uid: &str, namespace: &str, name: &str, generation: i64, spec: &DaemonSetSpec, hash: &str) -> Self {
        CompiledDaemonSet {
            uid: Atom::new(uid),
            namespace: Atom::new(namespace),
            name: name.to_string(),
            generation,
            hash: Atom::new(hash),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            selector: spec.selector.clone(),
            template: spec.template.clone(),
            policy: PlacementPolicy::new(&spec.template),
            // Quantities are checked when the manifest is applied; a stored one always parses.
            demand: spec.template.spec.as_ref().and_then(|s| PodDemand::from_pod_spec(s).ok()).unwrap_or_default(),
            allows_surge: allows_surge(spec),
            revision_history_limit: spec.revision_history_limit.unwrap_or(10).max(0),
            rollout: RolloutOptions::from_spec(spec),
            pod_selector: PodSelector::new(&spec.selector),
            owner_uid_key: Atom::new(OWNER_UID_LABEL),
            revision_hash_key: Atom::new(REVISION_HASH_LABEL),
        }
    }

    /// The pod's controller-revision-hash label.
    #[inline]
    pub fn revision_hash_of<'p>(&self, pod: &'p Pod) -> Option<&'p Atom> {
        pod.labels.get_atom(&self.revision_hash_key)
    }

    /// The selector matches these labels.
    pub fn selects(&self, labels: &LabelSet) -> bool {
        self.pod_selector.matches(labels)
    }

    /// ControllerRef-manager claim (reference 2.2) in the fleet world: a daemonplane pod in the DaemonSet's
    /// namespace that no Kubernetes controller owns, whose labels match, and that is ours or an orphan (its
    /// owner uid names no live DaemonSet). Ours with non-matching labels is released, i.e. not claimed.
    pub fn claims(&self, pod: &Pod, is_live_owner: impl Fn(&str) -> bool) -> bool {
        if !pod.namespace.is(&self.namespace) || pod.controller.is_some() || !self.selects(&pod.labels) {
            return false;
        }
        match pod.labels.get_atom(&self.owner_uid_key) {
            Some(uid) if uid.is(&self.uid) => true,
            Some(uid) => !is_live_owner(uid),
            None => true,
        }
    }
}
