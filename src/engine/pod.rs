//! The pod a DaemonSet creates on a node: upstream's CreatePodTemplate plus the node-name affinity
//! (reference 1.6, 2.7), with daemonplane's ownership labels in place of a controllerRef.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::daemonset_util::{add_default_tolerations, replace_node_name_node_affinity};
use super::model::{
    ACTION_ID_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_NAME_ANNOTATION, OWNER_UID_LABEL,
    REVISION_HASH_LABEL,
};

/// upstream's generateName: the base is cut to 58 characters and 5 characters are appended.
const MAX_GENERATED_BASE: usize = 58;
const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Who the pod belongs to and which revision it runs.
#[derive(Clone, Copy, Debug)]
pub struct PodOwner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub revision_hash: &'a str,
}

/// The pod name for an action: `<daemonset>-` (cut like generateName) plus 5 characters derived from the
/// action id, so a redelivered create names the same pod and cannot make a second one.
pub fn pod_name(daemonset: &str, action_id: &str) -> String {
    let mut base = format!("{daemonset}-");
    if base.len() > MAX_GENERATED_BASE {
        let mut cut = MAX_GENERATED_BASE;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    // FNV-1a 64 of the action id picks the suffix characters.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in action_id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for _ in 0..5 {
        base.push(NAME_SUFFIX_ALPHABET[(hash % NAME_SUFFIX_ALPHABET.len() as u64) as usize] as char);
        hash /= NAME_SUFFIX_ALPHABET.len() as u64;
    }
    base
}

/// Builds the pod for `node`: the template, the default tolerations, the revision hash and ownership labels,
/// and required node affinity replaced by the single term `metadata.name In [node]`.
pub fn daemon_pod(template: &PodTemplateSpec, owner: PodOwner<'_>, node: &str, name: &str, action_id: &str) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), owner.revision_hash.to_string());
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
    labels.insert(OWNER_UID_LABEL.to_string(), owner.uid.to_string());
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(OWNER_NAME_ANNOTATION.to_string(), format!("{}/{}", owner.namespace, owner.name));
    annotations.insert(ACTION_ID_ANNOTATION.to_string(), action_id.to_string());

    let mut spec = template.spec.clone().unwrap_or_default();
    add_default_tolerations(&mut spec);
    spec.affinity = Some(replace_node_name_node_affinity(spec.affinity.take(), node));
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(owner.namespace.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::daemonset_util::target_node_name;

    #[test]
    fn pod_names_are_deterministic_and_bounded() {
        assert_eq!(pod_name("fluentd", "a1"), pod_name("fluentd", "a1"));
        assert_ne!(pod_name("fluentd", "a1"), pod_name("fluentd", "a2"));
        assert!(pod_name("fluentd", "a1").starts_with("fluentd-"));
        let long = "x".repeat(200);
        assert_eq!(pod_name(&long, "a").len(), MAX_GENERATED_BASE + 5);
    }

    #[test]
    fn daemon_pod_is_pinned_labelled_and_tolerant() {
        // Mirrors TestSimpleDaemonSetScheduleDaemonSetPodsLaunchesPods: empty nodeName, exactly one required
        // term with one matchFields metadata.name In [node].
        let template: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}
        }))
        .unwrap();
        let owner = PodOwner { namespace: "ns", name: "ds", uid: "u1", revision_hash: "h1" };
        let pod = daemon_pod(&template, owner, "node-3", "ds-abcde", "act-1");
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "x");
        assert_eq!(labels[REVISION_HASH_LABEL], "h1");
        assert_eq!(labels[OWNER_UID_LABEL], "u1");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
        assert_eq!(pod.metadata.annotations.as_ref().unwrap()[ACTION_ID_ANNOTATION], "act-1");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name, None);
        let terms = &spec
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        assert_eq!(target_node_name(spec).as_deref(), Some("node-3"));
        let keys: Vec<&str> = spec.tolerations.as_ref().unwrap().iter().filter_map(|t| t.key.as_deref()).collect();
        assert!(keys.contains(&"node.kubernetes.io/unschedulable"));
        assert!(!keys.contains(&"node.kubernetes.io/network-unavailable"));
    }
}
