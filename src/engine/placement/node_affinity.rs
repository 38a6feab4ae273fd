//! Required node affinity compiled once: the terms of `k8s.io/component-helpers/scheduling/corev1/nodeaffinity`
//! (newNodeSelectorTerm, nodeSelectorRequirementsAsSelector, nodeSelectorRequirementsAsFieldSelector) with
//! `labels.Requirement` matching, Gt/Lt included. A term upstream cannot parse is dropped at compile time.

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

use super::label_view::LabelView;
use crate::apiserver::names::{is_qualified_name, is_valid_label_value};
use crate::engine::atom::Atom;
use crate::engine::atom_set::AtomSet;

/// `metav1.ObjectNameField`: the only field key `matchFields` is meant to use.
pub const OBJECT_NAME_FIELD: &str = "metadata.name";

/// `v1.NodeSelectorOp*` operator spellings.
pub const NODE_SELECTOR_OP_IN: &str = "In";
pub const NODE_SELECTOR_OP_NOT_IN: &str = "NotIn";
pub const NODE_SELECTOR_OP_EXISTS: &str = "Exists";
pub const NODE_SELECTOR_OP_DOES_NOT_EXIST: &str = "DoesNotExist";
pub const NODE_SELECTOR_OP_GT: &str = "Gt";
pub const NODE_SELECTOR_OP_LT: &str = "Lt";

/// A parsed `matchExpressions` operator with its values prepared for matching.
#[derive(Clone, Debug)]
enum LabelOp {
    /// The distinct values.
    In(AtomSet),
    /// The distinct values.
    NotIn(AtomSet),
    Exists,
    DoesNotExist,
    /// The single value, parsed once.
    Gt(i64),
    /// The single value, parsed once.
    Lt(i64),
}

/// One `matchExpressions` entry that passed `labels.NewRequirement`.
#[derive(Clone, Debug)]
struct LabelRequirement {
    /// Index of the key in the policy's label keys (a [`LabelView`] slot).
    slot: usize,
    key: Atom,
    op: LabelOp,
}

impl LabelRequirement {
    /// `labels.Requirement.Matches`.
    fn matches(&self, labels: &LabelView<'_>) -> bool {
        let value = labels.get(self.slot, &self.key);
        match &self.op {
            LabelOp::In(values) => value.is_some_and(|v| values.contains(v)),
            // An absent label satisfies NotIn.
            LabelOp::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            // Missing or non-integer labels never satisfy Gt/Lt; the comparison is strict.
            LabelOp::Gt(bound) => value.and_then(|v| parse_int64(v)).is_some_and(|v| v > *bound),
            LabelOp::Lt(bound) => value.and_then(|v| parse_int64(v)).is_some_and(|v| v < *bound),
        }
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, no spaces, no underscores.
/// Rust's `i64::from_str` accepts exactly that set.
fn parse_int64(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// One `matchFields` entry that passed `nodeSelectorRequirementsAsFieldSelector`.
#[derive(Clone, Debug)]
enum FieldRequirement {
    /// `metadata.name In [v]` (`fields.OneTermEqualSelector`).
    NameIn(Atom),
    /// `metadata.name NotIn [v]` (`fields.OneTermNotEqualSelector`).
    NameNotIn(Atom),
    /// Any other field key: the node's field set only holds `metadata.name`, so upstream reads the key as ""
    /// and the outcome is fixed at compile time (`In [""]` and `NotIn [x != ""]` match, the rest do not).
    Constant(bool),
}

impl FieldRequirement {
    fn matches(&self, node_name: &Atom) -> bool {
        match self {
            FieldRequirement::NameIn(want) => node_name.is(want),
            FieldRequirement::NameNotIn(want) => !node_name.is(want),
            FieldRequirement::Constant(result) => *result,
        }
    }
}

/// `requiredDuringSchedulingIgnoredDuringExecution`: `None` when absent (matches every node); otherwise the
/// terms that can match, ORed (none left matches no node).
#[derive(Clone, Debug)]
pub(super) struct RequiredNodeAffinity(Option<Vec<CompiledTerm>>);

impl RequiredNodeAffinity {
    /// Each term's label keys get a slot in `keys`.
    pub(super) fn new(required: Option<&NodeSelector>, keys: &mut AtomSet) -> Self {
        RequiredNodeAffinity(
            required.map(|ns| ns.node_selector_terms.iter().filter_map(|t| compile_term(t, keys)).collect()),
        )
    }

    /// Absent matches all; otherwise any term.
    pub(super) fn matches(&self, node_name: &Atom, labels: &LabelView<'_>) -> bool {
        match &self.0 {
            None => true,
            Some(terms) => terms.iter().any(|t| t.matches(node_name, labels)),
        }
    }
}

/// A non-empty `nodeSelectorTerm` without parse errors.
#[derive(Clone, Debug)]
struct CompiledTerm {
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

impl CompiledTerm {
    /// `nodeSelectorTerm.match`: matchExpressions AND matchFields.
    fn matches(&self, node_name: &Atom, labels: &LabelView<'_>) -> bool {
        // Fields first: a name comparison is cheaper than a label check.
        self.fields_match(node_name) && self.labels.iter().all(|r| r.matches(labels))
    }

    /// matchFields. Upstream skips them entirely when the node has no fields, i.e. an empty name (read last:
    /// it costs a cache miss).
    #[inline]
    fn fields_match(&self, node_name: &Atom) -> bool {
        self.fields.is_empty() || node_name.is_empty() || self.fields.iter().all(|f| f.matches(node_name))
    }
}

/// `newNodeSelectorTerm`; `None` for an empty term (matches nothing) or a term with a parse error
/// (`LazyErrorNodeSelector` skips it), so only terms that can match are kept.
fn compile_term(term: &NodeSelectorTerm, keys: &mut AtomSet) -> Option<CompiledTerm> {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return None;
    }
    let labels: Vec<LabelRequirement> = expressions.iter().map(compile_label_requirement).collect::<Option<_>>()?;
    let fields = fields.iter().map(compile_field_requirement).collect::<Option<_>>()?;
    // Slots are interned only for terms that survive, so a broken term costs nothing per node.
    let labels = labels.into_iter().map(|r| LabelRequirement { slot: keys.intern(&r.key), ..r }).collect();
    Some(CompiledTerm { labels, fields })
}

/// `nodeSelectorRequirementsAsSelector` + `labels.NewRequirement`: `None` on any error upstream reports.
/// The slot is filled in by [`compile_term`].
fn compile_label_requirement(req: &NodeSelectorRequirement) -> Option<LabelRequirement> {
    let values = req.values.as_deref().unwrap_or_default();
    // NewRequirement validates the key and every value (as label values) whatever the operator, so e.g. a
    // `Gt ["-1"]` is a parse error upstream ("-1" is not a valid label value).
    if !is_qualified_name(&req.key).is_empty() || !values.iter().all(|v| is_valid_label_value(v).is_empty()) {
        return None;
    }
    let sorted = || AtomSet::sorted(values);
    let single_int = || match values {
        [only] => parse_int64(only),
        _ => None,
    };
    let op = match req.operator.as_str() {
        NODE_SELECTOR_OP_IN if !values.is_empty() => LabelOp::In(sorted()),
        NODE_SELECTOR_OP_NOT_IN if !values.is_empty() => LabelOp::NotIn(sorted()),
        NODE_SELECTOR_OP_EXISTS if values.is_empty() => LabelOp::Exists,
        NODE_SELECTOR_OP_DOES_NOT_EXIST if values.is_empty() => LabelOp::DoesNotExist,
        NODE_SELECTOR_OP_GT => LabelOp::Gt(single_int()?),
        NODE_SELECTOR_OP_LT => LabelOp::Lt(single_int()?),
        // Wrong value count for the operator, or an unsupported operator.
        _ => return None,
    };
    Some(LabelRequirement { slot: 0, key: Atom::new(&req.key), op })
}

/// `nodeSelectorRequirementsAsFieldSelector`: only In/NotIn, exactly one value, key not validated.
fn compile_field_requirement(req: &NodeSelectorRequirement) -> Option<FieldRequirement> {
    let negate = match req.operator.as_str() {
        NODE_SELECTOR_OP_IN => false,
        NODE_SELECTOR_OP_NOT_IN => true,
        _ => return None,
    };
    let [value] = req.values.as_deref().unwrap_or_default() else {
        return None;
    };
    Some(if req.key == OBJECT_NAME_FIELD {
        let value = Atom::new(value);
        if negate { FieldRequirement::NameNotIn(value) } else { FieldRequirement::NameIn(value) }
    } else {
        FieldRequirement::Constant(value.is_empty() != negate)
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use serde_json::{Value, json};

    use super::super::Placement;
    use super::super::fixtures::{DO_NOT_RUN, RUN, decide, node, required_terms, template};
    use super::*;

    #[test]
    fn match_expression_operators() {
        let n = node(
            "op-node",
            &[("zone", "a"), ("gen", "5"), ("neg", "-3"), ("plus", "+7"), ("word", "x5"), ("empty", "")],
        );
        let rows: Vec<(&str, Value, bool)> = vec![
            ("In: value listed", json!({"key": "zone", "operator": "In", "values": ["b", "a"]}), true),
            ("In: value not listed", json!({"key": "zone", "operator": "In", "values": ["b", "c"]}), false),
            ("In: label missing", json!({"key": "region", "operator": "In", "values": ["a"]}), false),
            (
                "In: long list (sorted lookup) hit",
                json!({"key": "zone", "operator": "In", "values": ["f", "e", "d", "c", "b", "a"]}),
                true,
            ),
            (
                "In: long list miss",
                json!({"key": "zone", "operator": "In", "values": ["f", "e", "d", "c", "b", "g"]}),
                false,
            ),
            ("In: empty label value", json!({"key": "empty", "operator": "In", "values": [""]}), true),
            ("NotIn: label absent matches", json!({"key": "region", "operator": "NotIn", "values": ["a"]}), true),
            ("NotIn: value listed", json!({"key": "zone", "operator": "NotIn", "values": ["a"]}), false),
            ("NotIn: value not listed", json!({"key": "zone", "operator": "NotIn", "values": ["b"]}), true),
            (
                "NotIn: long list hit",
                json!({"key": "zone", "operator": "NotIn", "values": ["f", "e", "d", "c", "b", "a"]}),
                false,
            ),
            ("Exists: present", json!({"key": "zone", "operator": "Exists"}), true),
            ("Exists: present with empty value", json!({"key": "empty", "operator": "Exists"}), true),
            ("Exists: absent", json!({"key": "region", "operator": "Exists"}), false),
            ("DoesNotExist: absent", json!({"key": "region", "operator": "DoesNotExist"}), true),
            ("DoesNotExist: present", json!({"key": "zone", "operator": "DoesNotExist"}), false),
            ("Gt: 5 > 4", json!({"key": "gen", "operator": "Gt", "values": ["4"]}), true),
            ("Gt: strict, 5 > 5 is false", json!({"key": "gen", "operator": "Gt", "values": ["5"]}), false),
            ("Lt: 5 < 6", json!({"key": "gen", "operator": "Lt", "values": ["6"]}), true),
            ("Lt: strict, 5 < 5 is false", json!({"key": "gen", "operator": "Lt", "values": ["5"]}), false),
            ("Gt: non-integer label", json!({"key": "word", "operator": "Gt", "values": ["1"]}), false),
            ("Lt: non-integer label", json!({"key": "word", "operator": "Lt", "values": ["100"]}), false),
            ("Gt: empty label value", json!({"key": "empty", "operator": "Gt", "values": ["-0"]}), false),
            ("Gt: label missing", json!({"key": "region", "operator": "Gt", "values": ["1"]}), false),
            ("Lt: label missing", json!({"key": "region", "operator": "Lt", "values": ["100"]}), false),
            ("Gt: two values is a parse error", json!({"key": "gen", "operator": "Gt", "values": ["1", "2"]}), false),
            ("Lt: no values is a parse error", json!({"key": "gen", "operator": "Lt"}), false),
            (
                "Gt: non-integer value is a parse error",
                json!({"key": "gen", "operator": "Gt", "values": ["abc"]}),
                false,
            ),
            (
                "Gt: overflowing value is a parse error",
                json!({"key": "gen", "operator": "Gt", "values": ["99999999999999999999"]}),
                false,
            ),
            ("Lt: negative label parses", json!({"key": "neg", "operator": "Lt", "values": ["0"]}), true),
            ("Gt: plus-signed label parses", json!({"key": "plus", "operator": "Gt", "values": ["6"]}), true),
            (
                "Gt: '-1' is not a valid label value upstream",
                json!({"key": "gen", "operator": "Gt", "values": ["-1"]}),
                false,
            ),
            (
                "Exists with values is a parse error",
                json!({"key": "zone", "operator": "Exists", "values": ["a"]}),
                false,
            ),
            (
                "DoesNotExist with values is a parse error",
                json!({"key": "region", "operator": "DoesNotExist", "values": ["a"]}),
                false,
            ),
            ("In without values is a parse error", json!({"key": "zone", "operator": "In", "values": []}), false),
            ("NotIn without values is a parse error", json!({"key": "region", "operator": "NotIn"}), false),
            ("unknown operator", json!({"key": "zone", "operator": "Equals", "values": ["a"]}), false),
            ("operators are case-sensitive", json!({"key": "zone", "operator": "in", "values": ["a"]}), false),
            ("invalid key is a parse error", json!({"key": "bad key", "operator": "NotIn", "values": ["a"]}), false),
            ("prefixed key is valid", json!({"key": "example.com/region", "operator": "NotIn", "values": ["a"]}), true),
            ("empty prefix is invalid", json!({"key": "/region", "operator": "NotIn", "values": ["a"]}), false),
            (
                "upper-case prefix is invalid",
                json!({"key": "Example.com/region", "operator": "NotIn", "values": ["a"]}),
                false,
            ),
            ("two slashes are invalid", json!({"key": "a/b/c", "operator": "NotIn", "values": ["a"]}), false),
            ("invalid value is a parse error", json!({"key": "region", "operator": "NotIn", "values": ["a b"]}), false),
            (
                "64-char value is a parse error",
                json!({"key": "region", "operator": "NotIn", "values": ["a".repeat(64)]}),
                false,
            ),
        ];
        for (name, requirement, want) in rows {
            let ds = required_terms(json!([{"matchExpressions": [requirement]}]));
            let expected = if want { RUN } else { DO_NOT_RUN };
            assert_eq!(decide(&ds, &n), expected, "{name}");
        }
    }

    #[test]
    fn a_requirement_with_an_invalid_key_or_value_never_compiles() {
        let long_prefix = format!("{}.com/zone", "a".repeat(250));
        let (n63, n64) = ("k".repeat(63), "k".repeat(64));
        let rows: Vec<(&str, &str, bool)> = vec![
            ("zone", "a", true),
            ("example.com/zone", "", true),
            ("a.b-c.d/Zone_1.x", "A-1_b.c", true),
            (&n63, &n63, true),
            (&n64, "a", false),
            ("zone", &n64, false),
            ("", "a", false),
            ("example.com/", "a", false),
            ("a..b/zone", "a", false),
            ("-a.com/zone", "a", false),
            (&long_prefix, "a", false),
            ("zone-", "a", false),
            ("zone", "a-", false),
            ("zone", "a/b", false),
            ("zöne", "a", false),
        ];
        for (key, value, valid) in rows {
            let req = NodeSelectorRequirement {
                key: key.to_owned(),
                operator: NODE_SELECTOR_OP_IN.to_owned(),
                values: Some(vec![value.to_owned()]),
            };
            assert_eq!(compile_label_requirement(&req).is_some(), valid, "{key:?} {value:?}");
        }
    }

    #[test]
    fn match_fields() {
        let n = node("node-1", &[]);
        let rows: Vec<(&str, Value, bool)> = vec![
            (
                "metadata.name In own name",
                json!({"key": "metadata.name", "operator": "In", "values": ["node-1"]}),
                true,
            ),
            (
                "metadata.name In other name",
                json!({"key": "metadata.name", "operator": "In", "values": ["node-2"]}),
                false,
            ),
            (
                "metadata.name NotIn other name",
                json!({"key": "metadata.name", "operator": "NotIn", "values": ["node-2"]}),
                true,
            ),
            (
                "metadata.name NotIn own name",
                json!({"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}),
                false,
            ),
            (
                "In needs exactly one value",
                json!({"key": "metadata.name", "operator": "In", "values": ["node-1", "node-2"]}),
                false,
            ),
            (
                "NotIn needs exactly one value",
                json!({"key": "metadata.name", "operator": "NotIn", "values": []}),
                false,
            ),
            ("Exists is unsupported for fields", json!({"key": "metadata.name", "operator": "Exists"}), false),
            (
                "unknown key reads as \"\": In [bar]",
                json!({"key": "metadata.foo", "operator": "In", "values": ["bar"]}),
                false,
            ),
            (
                "unknown key reads as \"\": NotIn [bar]",
                json!({"key": "metadata.foo", "operator": "NotIn", "values": ["bar"]}),
                true,
            ),
            (
                "unknown key reads as \"\": In [\"\"]",
                json!({"key": "metadata.foo", "operator": "In", "values": [""]}),
                true,
            ),
        ];
        for (name, requirement, want) in rows {
            let ds = required_terms(json!([{"matchFields": [requirement]}]));
            let expected = if want { RUN } else { DO_NOT_RUN };
            assert_eq!(decide(&ds, &n), expected, "{name}");
        }
        // A node without a name has no fields, and upstream then skips matchFields altogether.
        let nameless = node("", &[]);
        let ds = required_terms(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]),
        );
        assert_eq!(decide(&ds, &nameless), RUN);
    }

    #[test]
    fn term_structure() {
        let n = node("node-1", &[("zone", "a")]);
        let zone_a = json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]});
        let zone_b = json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]});
        let broken = json!({"matchExpressions": [{"key": "zone", "operator": "Bogus", "values": ["a"]}]});
        let rows: Vec<(&str, Value, Placement)> = vec![
            ("no terms matches nothing", json!([]), DO_NOT_RUN),
            ("an empty term matches nothing", json!([{}]), DO_NOT_RUN),
            ("an empty-lists term matches nothing", json!([{"matchExpressions": [], "matchFields": []}]), DO_NOT_RUN),
            ("empty term OR matching term", json!([{}, zone_a.clone()]), RUN),
            ("terms are ORed: second matches", json!([zone_b.clone(), zone_a.clone()]), RUN),
            ("terms are ORed: none matches", json!([zone_b.clone(), zone_b.clone()]), DO_NOT_RUN),
            ("a term with a parse error is skipped", json!([broken.clone(), zone_a.clone()]), RUN),
            (
                "a parse error fails the whole term",
                json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "zone", "operator": "Bogus", "values": ["a"]}]}]),
                DO_NOT_RUN,
            ),
            (
                "a bad matchField fails the whole term",
                json!([{
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                "matchFields": [{"key": "metadata.name", "operator": "Exists"}]}]),
                DO_NOT_RUN,
            ),
            (
                "expressions are ANDed",
                json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "gpu", "operator": "Exists"}]}]),
                DO_NOT_RUN,
            ),
            (
                "expressions AND fields: both hold",
                json!([{
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]),
                RUN,
            ),
            (
                "expressions AND fields: field fails",
                json!([{
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]),
                DO_NOT_RUN,
            ),
            (
                "expressions AND fields: expression fails",
                json!([{
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}],
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]),
                DO_NOT_RUN,
            ),
        ];
        for (name, terms, want) in rows {
            assert_eq!(decide(&required_terms(terms), &n), want, "{name}");
        }
    }

    #[test]
    fn preferred_terms_and_absent_required_affinity_are_ignored() {
        let n = node("node-1", &[("zone", "a")]);
        let preferred_only = template(
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["elsewhere"]}]}}]}}}),
        );
        assert_eq!(decide(&preferred_only, &n), RUN);
        let empty_node_affinity = template(json!({"affinity": {"nodeAffinity": {}}}));
        assert_eq!(decide(&empty_node_affinity, &n), RUN);
        let pod_affinity_only =
            template(json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}]}}}));
        assert_eq!(decide(&pod_affinity_only, &n), RUN);
        // A template without a spec constrains nothing.
        assert_eq!(decide(&PodTemplateSpec::default(), &n), RUN);
    }
}
