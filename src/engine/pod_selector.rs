//! A DaemonSet's pod selector compiled against interned labels: claiming a pod, done for every pod of every
//! plan, compares pointers instead of looking keys up by string. The semantics are kube-core's [`Selector`]:
//! it converts the `LabelSelector`, and each of its expressions becomes one interned requirement.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Expression, Selector};

use super::atom::Atom;
use super::label_set::LabelSet;

/// An [`Expression`] with its values interned.
#[derive(Clone, Debug)]
enum Op {
    Equal(Atom),
    NotEqual(Atom),
    In(Vec<Atom>),
    NotIn(Vec<Atom>),
    Exists,
    DoesNotExist,
}

/// A kube-core [`Selector`] with its keys and values interned.
#[derive(Clone, Debug)]
pub struct PodSelector {
    /// ANDed; `None` when kube-core rejects the selector (an unknown operator, In or NotIn without a values list),
    /// which then selects nothing, as upstream's LabelSelectorAsSelector error does.
    requirements: Option<Vec<(Atom, Op)>>,
}

impl PodSelector {
    pub fn new(selector: &LabelSelector) -> Self {
        Selector::try_from(selector.clone()).map_or(PodSelector { requirements: None }, PodSelector::from)
    }

    /// [`kube::core::SelectorExt::matches`] on interned labels; an empty selector matches everything.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let Some(requirements) = &self.requirements else {
            return false;
        };
        requirements.iter().all(|(key, op)| {
            let got = labels.get_atom(key);
            match op {
                Op::Equal(want) => got.is_some_and(|v| v.is(want)),
                Op::NotEqual(want) => got.is_none_or(|v| !v.is(want)),
                Op::In(values) => got.is_some_and(|v| values.iter().any(|w| w.is(v))),
                Op::NotIn(values) => got.is_none_or(|v| !values.iter().any(|w| w.is(v))),
                Op::Exists => got.is_some(),
                Op::DoesNotExist => got.is_none(),
            }
        })
    }
}

impl From<Selector> for PodSelector {
    fn from(selector: Selector) -> Self {
        let interned = |values: BTreeSet<String>| values.iter().map(|v| Atom::new(v)).collect();
        let requirements = selector
            .into_iter()
            .map(|expression| match expression {
                Expression::Equal(key, value) => (Atom::new(&key), Op::Equal(Atom::new(&value))),
                Expression::NotEqual(key, value) => (Atom::new(&key), Op::NotEqual(Atom::new(&value))),
                Expression::In(key, values) => (Atom::new(&key), Op::In(interned(values))),
                Expression::NotIn(key, values) => (Atom::new(&key), Op::NotIn(interned(values))),
                Expression::Exists(key) => (Atom::new(&key), Op::Exists),
                Expression::DoesNotExist(key) => (Atom::new(&key), Op::DoesNotExist),
            })
            .collect();
        PodSelector { requirements: Some(requirements) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use kube::core::SelectorExt;
    use proptest::prelude::*;

    use super::*;

    /// kube-core's verdict: the selector converts and matches.
    fn kube_core_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
    }

    fn req(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.map(|vs| vs.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn agrees_with_kube_core() {
        let selectors = [
            LabelSelector::default(),
            LabelSelector { match_labels: Some([("app".into(), "x".into())].into()), match_expressions: None },
            LabelSelector {
                match_labels: Some([("app".into(), "x".into())].into()),
                match_expressions: Some(vec![
                    req("tier", "NotIn", Some(&["web"])),
                    req("zone", "In", Some(&["a", "b"])),
                ]),
            },
            LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![req("gpu", "Exists", None), req("legacy", "DoesNotExist", None)]),
            },
            LabelSelector { match_labels: None, match_expressions: Some(vec![req("app", "Bogus", Some(&["x"]))]) },
            LabelSelector { match_labels: None, match_expressions: Some(vec![req("tier", "NotIn", None)]) },
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
                let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                let set: LabelSet = pairs.iter().copied().collect();
                assert_eq!(compiled.matches(&set), kube_core_matches(selector, &map), "{selector:?} {pairs:?}");
            }
        }
    }

    #[test]
    fn ands_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "x".to_string())].into()),
            match_expressions: Some(vec![req("tier", "NotIn", Some(&["web"]))]),
        };
        let compiled = PodSelector::new(&sel);
        assert!(compiled.matches(&LabelSet::from([("app", "x")])));
        assert!(compiled.matches(&LabelSet::from([("app", "x"), ("tier", "db")])));
        assert!(!compiled.matches(&LabelSet::from([("app", "x"), ("tier", "web")])));
        assert!(!compiled.matches(&LabelSet::from([("app", "y")])));
    }

    #[test]
    fn an_invalid_operator_selects_nothing() {
        let selector = LabelSelector {
            match_labels: Some([("app".into(), "x".into())].into()),
            match_expressions: Some(vec![req("tier", "Bogus", Some(&["web"]))]),
        };
        let compiled = PodSelector::new(&selector);
        assert!(!compiled.matches(&LabelSet::from([("app", "x")])));
        assert!(!compiled.matches(&LabelSet::from([("app", "x"), ("tier", "web")])));
        assert!(PodSelector::new(&LabelSelector::default()).matches(&LabelSet::new()));
    }

    const KEYS: [&str; 4] = ["app", "tier", "example.com/zone", "gpu"];
    const VALUES: [&str; 4] = ["", "a", "b", "web"];
    const OPERATORS: [&str; 5] = ["In", "NotIn", "Exists", "DoesNotExist", "Bogus"];

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
    }

    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(&VALUES[..]).prop_map(str::to_owned)
    }

    fn requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
        (key(), prop::sample::select(&OPERATORS[..]), prop::option::of(prop::collection::vec(value(), 0..3)))
            .prop_map(|(key, operator, values)| LabelSelectorRequirement { key, operator: operator.to_owned(), values })
    }

    fn label_selector() -> impl Strategy<Value = LabelSelector> {
        (
            prop::option::of(prop::collection::btree_map(key(), value(), 0..3)),
            prop::option::of(prop::collection::vec(requirement(), 0..4)),
        )
            .prop_map(|(match_labels, match_expressions)| LabelSelector { match_labels, match_expressions })
    }

    proptest! {
        #[test]
        fn matches_like_kube_core(
            selector in label_selector(),
            labels in prop::collection::btree_map(key(), value(), 0..4),
        ) {
            let set = LabelSet::from(&labels);
            prop_assert_eq!(PodSelector::new(&selector).matches(&set), kube_core_matches(&selector, &labels));
        }
    }
}
