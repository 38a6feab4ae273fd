//! Why a node does not (or no longer) run a DaemonSet's pod, one reason per failed check, and how each reads.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint};

use super::node_affinity::{NODE_SELECTOR_OP_DOES_NOT_EXIST, NODE_SELECTOR_OP_EXISTS};

/// Why a node does not (or no longer) qualify. Machine-readable, one per failed check.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// `template.spec.nodeName` names another node.
    NodeNameMismatch { want: String },
    /// One per failing `nodeSelector` key; `got` is the node's value, `None` when the node lacks the label.
    NodeSelectorMismatch { key: String, want: String, got: Option<String> },
    /// No required node-affinity term matched; every required term, rendered like
    /// `"zone In [a,b]; metadata.name In [n1]"`.
    NodeAffinityMismatch { terms: Vec<String> },
    /// One per untolerated NoSchedule/NoExecute taint.
    UntoleratedTaint { taint: Taint },
}

impl Reason {
    /// A one-line human explanation, e.g. `"untolerated taint dedicated=gpu:NoSchedule"`.
    pub fn sentence(&self) -> String {
        match self {
            Reason::NodeNameMismatch { want } => {
                format!("template nodeName: pod is pinned to node {want}")
            }
            Reason::NodeSelectorMismatch { key, want, got: Some(got) } => {
                format!("node selector: want {key}={want}, node has {key}={got}")
            }
            Reason::NodeSelectorMismatch { key, want, got: None } => {
                format!("node selector: want {key}={want}, node lacks {key}")
            }
            Reason::NodeAffinityMismatch { terms } if terms.is_empty() => {
                "node affinity: the required node selector has no terms, so no node matches".to_owned()
            }
            Reason::NodeAffinityMismatch { terms } => {
                let alternatives: Vec<String> = terms.iter().map(|t| format!("({t})")).collect();
                format!("node affinity: node matches none of the required terms {}", alternatives.join(" OR "))
            }
            Reason::UntoleratedTaint { taint } => {
                format!("untolerated taint {}", render_taint(taint))
            }
        }
    }
}

/// kubectl's taint spelling: `key=value:Effect`, or `key:Effect` when the value is empty.
fn render_taint(taint: &Taint) -> String {
    match taint.value.as_deref() {
        Some(value) if !value.is_empty() => format!("{}={}:{}", taint.key, value, taint.effect),
        _ => format!("{}:{}", taint.key, taint.effect),
    }
}

/// Human rendering of a requirement: `zone In [a,b]`, `gpu Exists`.
fn render_requirement(req: &NodeSelectorRequirement) -> String {
    let values = req.values.as_deref().unwrap_or_default();
    if values.is_empty() && matches!(req.operator.as_str(), NODE_SELECTOR_OP_EXISTS | NODE_SELECTOR_OP_DOES_NOT_EXIST) {
        format!("{} {}", req.key, req.operator)
    } else {
        format!("{} {} [{}]", req.key, req.operator, values.join(","))
    }
}

/// Human rendering of a term: its expressions, then its fields, joined by "; ".
pub(super) fn render_term(term: &NodeSelectorTerm) -> String {
    let parts: Vec<String> = term
        .match_expressions
        .iter()
        .flatten()
        .chain(term.match_fields.iter().flatten())
        .map(render_requirement)
        .collect();
    if parts.is_empty() { "<empty term>".to_owned() } else { parts.join("; ") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::PlacementPolicy;
    use super::super::fixtures::{DO_NOT_RUN, KEEP_EXISTING, RUN, node, required_terms, taint, tainted, template};
    use super::*;

    #[test]
    fn explain_node_name_mismatch() {
        let policy = PlacementPolicy::new(&template(json!({"nodeName": "node-0"})));
        let (placement, reasons) = policy.explain(&node("node-1", &[]));
        assert_eq!(placement, DO_NOT_RUN);
        assert_eq!(reasons, vec![Reason::NodeNameMismatch { want: "node-0".into() }]);
        assert_eq!(reasons[0].sentence(), "template nodeName: pod is pinned to node node-0");
        assert_eq!(policy.explain(&node("node-0", &[])), (RUN, vec![]));
    }

    #[test]
    fn explain_node_selector_mismatch() {
        let policy =
            PlacementPolicy::new(&template(json!({"nodeSelector": {"disktype": "ssd", "zone": "a", "ok": "yes"}})));
        let (placement, reasons) = policy.explain(&node("n", &[("disktype", "hdd"), ("ok", "yes")]));
        assert_eq!(placement, DO_NOT_RUN);
        assert_eq!(
            reasons,
            vec![
                Reason::NodeSelectorMismatch { key: "disktype".into(), want: "ssd".into(), got: Some("hdd".into()) },
                Reason::NodeSelectorMismatch { key: "zone".into(), want: "a".into(), got: None },
            ]
        );
        assert_eq!(reasons[0].sentence(), "node selector: want disktype=ssd, node has disktype=hdd");
        assert_eq!(reasons[1].sentence(), "node selector: want zone=a, node lacks zone");
    }

    #[test]
    fn explain_node_affinity_mismatch() {
        let policy = PlacementPolicy::new(&required_terms(json!([
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}],
             "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
            {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
            {},
        ])));
        let (placement, reasons) = policy.explain(&node("n2", &[("zone", "a")]));
        assert_eq!(placement, DO_NOT_RUN);
        let terms =
            vec!["zone In [a,b]; metadata.name In [n1]".to_owned(), "gpu Exists".to_owned(), "<empty term>".to_owned()];
        assert_eq!(reasons, vec![Reason::NodeAffinityMismatch { terms }]);
        assert_eq!(
            reasons[0].sentence(),
            "node affinity: node matches none of the required terms (zone In [a,b]; metadata.name In [n1]) OR (gpu Exists) OR (<empty term>)"
        );
        assert_eq!(policy.explain(&node("n1", &[("zone", "b")])), (RUN, vec![]));

        let no_terms = PlacementPolicy::new(&required_terms(json!([])));
        let (placement, reasons) = no_terms.explain(&node("n", &[]));
        assert_eq!(placement, DO_NOT_RUN);
        assert_eq!(reasons, vec![Reason::NodeAffinityMismatch { terms: vec![] }]);
        assert_eq!(reasons[0].sentence(), "node affinity: the required node selector has no terms, so no node matches");
    }

    #[test]
    fn explain_untolerated_taints() {
        let policy = PlacementPolicy::new(&template(json!({"tolerations": [{"key": "ok", "operator": "Exists"}]})));
        let gpu = taint("dedicated", "gpu", "NoSchedule");
        let maintenance = taint("maintenance", "", "NoExecute");
        let n = tainted(
            node("n", &[]),
            vec![
                gpu.clone(),
                taint("soft", "x", "PreferNoSchedule"),
                taint("ok", "1", "NoExecute"),
                maintenance.clone(),
            ],
        );
        let (placement, reasons) = policy.explain(&n);
        assert_eq!(placement, DO_NOT_RUN);
        assert_eq!(
            reasons,
            vec![Reason::UntoleratedTaint { taint: gpu.clone() }, Reason::UntoleratedTaint { taint: maintenance }]
        );
        assert_eq!(reasons[0].sentence(), "untolerated taint dedicated=gpu:NoSchedule");
        assert_eq!(reasons[1].sentence(), "untolerated taint maintenance:NoExecute");

        // NoSchedule only: the existing pod stays, and the reason is still reported.
        let (placement, reasons) = policy.explain(&tainted(node("n", &[]), vec![gpu.clone()]));
        assert_eq!(placement, KEEP_EXISTING);
        assert_eq!(reasons, vec![Reason::UntoleratedTaint { taint: gpu }]);
    }

    #[test]
    fn explain_reports_every_failed_check_in_order() {
        let policy = PlacementPolicy::new(&template(json!({
            "nodeName": "node-0",
            "nodeSelector": {"disktype": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        })));
        let dedicated = taint("dedicated", "x", "NoSchedule");
        let n = tainted(node("node-1", &[]), vec![dedicated.clone()]);
        let (placement, reasons) = policy.explain(&n);
        assert_eq!(placement, DO_NOT_RUN);
        assert_eq!(
            reasons,
            vec![
                Reason::NodeNameMismatch { want: "node-0".into() },
                Reason::NodeSelectorMismatch { key: "disktype".into(), want: "ssd".into(), got: None },
                Reason::NodeAffinityMismatch { terms: vec!["zone In [a]".into()] },
                Reason::UntoleratedTaint { taint: dedicated },
            ]
        );
        assert_eq!(policy.evaluate(&n), DO_NOT_RUN);
    }

    #[test]
    fn reason_is_machine_readable() {
        // Distinct variants compare unequal; fields are public for callers building their own messages.
        let a = Reason::NodeSelectorMismatch { key: "k".into(), want: "v".into(), got: None };
        let b = Reason::NodeSelectorMismatch { key: "k".into(), want: "v".into(), got: Some(String::new()) };
        assert_ne!(a, b);
        assert_eq!(b.sentence(), "node selector: want k=v, node has k=");
    }
}
