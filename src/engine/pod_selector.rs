//! A DaemonSet's pod selector compiled against interned labels: claiming a pod, done for every pod of every
//! plan, compares pointers instead of looking keys up by string.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::atom::Atom;
use super::label_set::LabelSet;

#[derive(Clone, Debug)]
enum Op {
    In(Vec<Atom>),
    NotIn(Vec<Atom>),
    Exists,
    DoesNotExist,
    /// Validation rejects other operators; an unknown one selects nothing, as upstream's parse error does.
    Never,
}

/// [`super::selector::label_selector_matches`] with its keys and values interned.
#[derive(Clone, Debug, Default)]
pub struct PodSelector {
    match_labels: Vec<(Atom, Atom)>,
    expressions: Vec<(Atom, Op)>,
}

impl PodSelector {
    pub fn new(selector: &LabelSelector) -> Self {
        let match_labels = selector.match_labels.iter().flatten().map(|(k, v)| (Atom::new(k), Atom::new(v))).collect();
        let expressions = selector
            .match_expressions
            .iter()
            .flatten()
            .map(|req| {
                let values = || req.values.iter().flatten().map(|v| Atom::new(v)).collect();
                let op = match req.operator.as_str() {
                    "In" => Op::In(values()),
                    "NotIn" => Op::NotIn(values()),
                    "Exists" => Op::Exists,
                    "DoesNotExist" => Op::DoesNotExist,
                    _ => Op::Never,
                };
                (Atom::new(&req.key), op)
            })
            .collect();
        PodSelector { match_labels, expressions }
    }

    /// matchLabels and matchExpressions ANDed; an empty selector matches everything.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get_atom(k).is_some_and(|got| got.is(v)))
            && self.expressions.iter().all(|(key, op)| {
                let got = labels.get_atom(key);
                match op {
                    Op::In(values) => got.is_some_and(|v| values.iter().any(|w| w.is(v))),
                    Op::NotIn(values) => got.is_none_or(|v| !values.iter().any(|w| w.is(v))),
                    Op::Exists => got.is_some(),
                    Op::DoesNotExist => got.is_none(),
                    Op::Never => false,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::super::model::Labels;
    use super::super::selector::label_selector_matches;
    use super::*;

    #[test]
    fn agrees_with_the_string_selector() {
        let req = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let selectors = [
            LabelSelector::default(),
            LabelSelector { match_labels: Some([("app".into(), "x".into())].into()), match_expressions: None },
            LabelSelector {
                match_labels: Some([("app".into(), "x".into())].into()),
                match_expressions: Some(vec![req("tier", "NotIn", &["web"]), req("zone", "In", &["a", "b"])]),
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![req("gpu", "Exists", &[]), req("legacy", "DoesNotExist", &[])]),
            },
            LabelSelector { match_labels: None, match_expressions: Some(vec![req("app", "Bogus", &["x"])]) },
        ];
        let label_sets: [&[(&str, &str)]; 6] = [
            &[],
            &[("app", "x")],
            &[("app", "x"), ("tier", "web"), ("zone", "a")],
            &[("app", "x"), ("tier", "db"), ("zone", "b")],
            &[("app", "y"), ("gpu", "1")],
            &[("gpu", ""), ("legacy", "1")],
        ];
        for selector in &selectors {
            let compiled = PodSelector::new(selector);
            for pairs in label_sets {
                let map: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                let set: LabelSet = pairs.iter().copied().collect();
                assert_eq!(compiled.matches(&set), label_selector_matches(selector, &map), "{selector:?} {pairs:?}");
            }
        }
    }
}
