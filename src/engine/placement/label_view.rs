//! The node label values a compiled policy needs, resolved in one pass over the node's labels.

use crate::engine::atom::Atom;
use crate::engine::atom_set::AtomSet;
use crate::engine::label_set::LabelSet;

/// How many distinct label keys [`LabelView`] resolves in one pass; keys beyond this (rare) fall back to
/// [`LabelSet::get_atom`]. Sized so the table stays a few cache lines on the stack.
const LABEL_TABLE_SLOTS: usize = 8;

/// The node label values a policy needs, resolved in one pass over the node's labels instead of one
/// lookup per requirement. The positions are packed into one integer, a byte per key slot, so building the
/// view stays in registers (byte stores read back as a whole stall the CPU).
pub(super) struct LabelView<'a> {
    pub(super) labels: &'a LabelSet,
    /// Byte `slot`: 1 + the position of that key's label in `labels`, 0 when the node lacks it.
    pub(super) at: u64,
}

/// Nodes with more labels than a byte can index take the fallback lookup for every key.
const MAX_INDEXED_LABELS: usize = u8::MAX as usize;

impl<'a> LabelView<'a> {
    #[inline(always)]
    pub(super) fn new(keys: &AtomSet, labels: &'a LabelSet) -> Self {
        let mut at = 0u64;
        let mut missing = keys.len().min(LABEL_TABLE_SLOTS);
        if missing > 0 && labels.len() < MAX_INDEXED_LABELS {
            for (position, (key, _)) in labels.iter().enumerate() {
                if let Some(slot) = keys.find(key)
                    && slot < LABEL_TABLE_SLOTS
                {
                    at |= (position as u64 + 1) << (slot * 8);
                    missing -= 1;
                    if missing == 0 {
                        break;
                    }
                }
            }
        }
        LabelView { labels, at }
    }

    /// The value of the label in `slot` (whose key is `key`), `None` when the node lacks it.
    #[inline(always)]
    pub(super) fn get(&self, slot: usize, key: &Atom) -> Option<&'a Atom> {
        if slot >= LABEL_TABLE_SLOTS || self.labels.len() >= MAX_INDEXED_LABELS {
            return self.labels.get_atom(key);
        }
        match (self.at >> (slot * 8)) as u8 {
            0 => None,
            position => self.labels.value_at(usize::from(position) - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::fixtures::{DO_NOT_RUN, RUN, decide, node, template};
    use super::super::{PlacementPolicy, Reason};
    use super::*;

    #[test]
    fn more_label_keys_than_view_slots() {
        // 20 nodeSelector keys: the first LABEL_TABLE_SLOTS come from the one-pass view, the rest from get().
        let keys: Vec<String> = (0..20).map(|i| format!("example.com/k{i:02}")).collect();
        assert!(keys.len() > LABEL_TABLE_SLOTS);
        let selector: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), json!("v"))).collect();
        let ds = template(json!({"nodeSelector": selector}));
        let full: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
        assert_eq!(decide(&ds, &node("all", &full)), RUN);
        for missing in [0, 7, 15, 16, 19] {
            let partial: Vec<(&str, &str)> =
                full.iter().enumerate().filter(|(i, _)| *i != missing).map(|(_, kv)| *kv).collect();
            let policy = PlacementPolicy::new(&ds);
            let (placement, reasons) = policy.explain(&node("partial", &partial));
            assert_eq!(placement, DO_NOT_RUN, "missing k{missing:02}");
            assert_eq!(
                reasons,
                vec![Reason::NodeSelectorMismatch { key: keys[missing].clone(), want: "v".into(), got: None }]
            );
            assert_eq!(decide(&ds, &node("partial", &partial)), DO_NOT_RUN);
        }
        let mut wrong = full.clone();
        wrong[18] = (keys[18].as_str(), "w");
        assert_eq!(decide(&ds, &node("wrong", &wrong)), DO_NOT_RUN);
    }

    #[test]
    fn label_lookup_among_many_node_labels() {
        // Needed labels spread among many unrelated ones, including same-length and same-tail keys.
        let ds = template(json!({
            "nodeSelector": {"topology.kubernetes.io/zone": "z1"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large", "m5.xlarge"]}]}]}}},
        }));
        let mut labels: Vec<(String, String)> =
            (0..40).map(|i| (format!("example.com/filler-{i:02}"), "x".to_owned())).collect();
        labels.push(("topology.kubernetes.io/zonE".into(), "z1".into()));
        labels.push(("xxxxxxxx.kubernetes.io/zone".into(), "z1".into()));
        labels.push(("topology.kubernetes.io/zone".into(), "z1".into()));
        labels.push(("node.kubernetes.io/instance-type".into(), "m5.xlarge".into()));
        fn as_refs(l: &[(String, String)]) -> Vec<(&str, &str)> {
            l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
        }
        assert_eq!(decide(&ds, &node("n", &as_refs(&labels))), RUN);
        // Only the look-alikes left: the real zone label is gone.
        let lookalikes: Vec<(String, String)> =
            labels.iter().filter(|(k, _)| k != "topology.kubernetes.io/zone").cloned().collect();
        assert_eq!(decide(&ds, &node("n", &as_refs(&lookalikes))), DO_NOT_RUN);
    }
}
