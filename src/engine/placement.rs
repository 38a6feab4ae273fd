//! Upstream-exact DaemonSet placement: `NodeShouldRunDaemonPod(node, ds) -> (shouldRun, shouldContinueRunning)`.
//!
//! Mirrors `pkg/controller/daemon/daemon_controller.go` (NodeShouldRunDaemonPod, predicates), the required node
//! affinity of `k8s.io/component-helpers/scheduling/corev1/nodeaffinity`, `Toleration.ToleratesTaint` and the
//! helpers of `pkg/controller/daemon/util/daemonset_util.go`. The reference digest is
//! `k8s-daemonset-semantics.md` section 1.
//!
//! A [`PlacementPolicy`] compiles a pod template once (selectors parsed, Gt/Lt values parsed, value lists sorted,
//! default tolerations merged) so that [`PlacementPolicy::evaluate`] runs over thousands of nodes without
//! allocating. Node labels and taints and the policy's keys and values are interned ([`Atom`]), so every
//! comparison is a pointer compare; per node the label keys it needs are resolved in one pass. Only labels,
//! name and taints of a node are read: node conditions, `spec.unschedulable`, resources and host ports are
//! left to the scheduler, exactly as upstream does since v1.12.

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, PodTemplateSpec, Taint, Toleration,
};

use super::atom::Atom;
use super::atom_set::AtomSet;
use super::label_set::LabelSet;
use super::model::Node;
use super::taint::{NO_EXECUTE, NO_SCHEDULE, NodeTaint};

/// `metav1.ObjectNameField`: the only field key `matchFields` is meant to use.
pub const OBJECT_NAME_FIELD: &str = "metadata.name";

/// `v1.TaintNodeNotReady`.
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `v1.TaintNodeUnreachable`.
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `v1.TaintNodeDiskPressure`.
pub const TAINT_NODE_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `v1.TaintNodeMemoryPressure`.
pub const TAINT_NODE_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// `v1.TaintNodePIDPressure`.
pub const TAINT_NODE_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `v1.TaintNodeUnschedulable`.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `v1.TaintNodeNetworkUnavailable`.
pub const TAINT_NODE_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// `v1.TaintEffectNoSchedule`.
pub const TAINT_EFFECT_NO_SCHEDULE: &str = "NoSchedule";
/// `v1.TaintEffectNoExecute`.
pub const TAINT_EFFECT_NO_EXECUTE: &str = "NoExecute";
/// `v1.TaintEffectPreferNoSchedule` (never considered by placement).
pub const TAINT_EFFECT_PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// `v1.TolerationOpExists`.
pub const TOLERATION_OP_EXISTS: &str = "Exists";
/// `v1.TolerationOpEqual` (an empty operator means the same).
pub const TOLERATION_OP_EQUAL: &str = "Equal";

/// `v1.NodeSelectorOp*` operator spellings.
pub const NODE_SELECTOR_OP_IN: &str = "In";
pub const NODE_SELECTOR_OP_NOT_IN: &str = "NotIn";
pub const NODE_SELECTOR_OP_EXISTS: &str = "Exists";
pub const NODE_SELECTOR_OP_DOES_NOT_EXIST: &str = "DoesNotExist";
pub const NODE_SELECTOR_OP_GT: &str = "Gt";
pub const NODE_SELECTOR_OP_LT: &str = "Lt";

/// Upstream NodeShouldRunDaemonPod result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Create a daemon pod here if none exists.
    pub should_run: bool,
    /// Keep an existing daemon pod here.
    pub should_continue_running: bool,
}

impl Placement {
    /// Everything fits: (true, true).
    pub const RUN: Placement = Placement { should_run: true, should_continue_running: true };
    /// nodeName, nodeSelector or affinity mismatch, or an untolerated NoExecute taint: (false, false).
    pub const DO_NOT_RUN: Placement = Placement { should_run: false, should_continue_running: false };
    /// Only NoSchedule taints are untolerated: no new pod, but an existing one stays (false, true).
    pub const KEEP_EXISTING: Placement = Placement { should_run: false, should_continue_running: true };
}

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

// ---------------------------------------------------------------------------------------------------------
// Fast key lookups
// ---------------------------------------------------------------------------------------------------------

/// How many distinct label keys [`LabelView`] resolves in one pass; keys beyond this (rare) fall back to
/// [`LabelSet::get_atom`]. Sized so the table stays a few cache lines on the stack.
const LABEL_TABLE_SLOTS: usize = 8;

/// The node label values a policy needs, resolved in one pass over the node's labels instead of one
/// lookup per requirement. The positions are packed into one integer, a byte per key slot, so building the
/// view stays in registers (byte stores read back as a whole stall the CPU).
struct LabelView<'a> {
    labels: &'a LabelSet,
    /// Byte `slot`: 1 + the position of that key's label in `labels`, 0 when the node lacks it.
    at: u64,
}

/// Nodes with more labels than a byte can index take the fallback lookup for every key.
const MAX_INDEXED_LABELS: usize = u8::MAX as usize;

impl<'a> LabelView<'a> {
    #[inline(always)]
    fn new(keys: &AtomSet, labels: &'a LabelSet) -> Self {
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
    fn get(&self, slot: usize, key: &Atom) -> Option<&'a Atom> {
        if slot >= LABEL_TABLE_SLOTS || self.labels.len() >= MAX_INDEXED_LABELS {
            return self.labels.get_atom(key);
        }
        match (self.at >> (slot * 8)) as u8 {
            0 => None,
            position => self.labels.value_at(usize::from(position) - 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Compiled node affinity (labels.Requirement / fields.Selector equivalents)
// ---------------------------------------------------------------------------------------------------------

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
    if !is_label_key(&req.key) || !values.iter().all(|v| is_label_value(v)) {
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
fn render_term(term: &NodeSelectorTerm) -> String {
    let parts: Vec<String> = term
        .match_expressions
        .iter()
        .flatten()
        .chain(term.match_fields.iter().flatten())
        .map(render_requirement)
        .collect();
    if parts.is_empty() { "<empty term>".to_owned() } else { parts.join("; ") }
}

// ---------------------------------------------------------------------------------------------------------
// Label key / value validation (k8s.io/apimachinery/pkg/util/validation), needed because NewRequirement
// rejects terms with invalid keys or values and the controller then never matches them.
// ---------------------------------------------------------------------------------------------------------

/// `IsLabelKey` (a.k.a. `IsQualifiedName`): `[prefix/]name`, prefix a DNS-1123 subdomain.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || !is_dns1123_subdomain(prefix))
    {
        return false;
    }
    // A second '/' makes the name part invalid, which is_qualified_name_part rejects.
    is_qualified_name_part(name)
}

/// `IsValidLabelValue`: empty, or a qualified-name part.
fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_qualified_name_part(value)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `IsDNS1123Subdomain`: at most 253 characters of dot-separated `[a-z0-9]([-a-z0-9]*[a-z0-9])?` labels.
fn is_dns1123_subdomain(s: &str) -> bool {
    let lower_alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(first), Some(last)) => {
                    lower_alnum(first) && lower_alnum(last) && b.iter().all(|c| lower_alnum(c) || *c == b'-')
                }
                _ => false,
            }
        })
}

// ---------------------------------------------------------------------------------------------------------
// Compiled tolerations (Toleration.ToleratesTaint)
// ---------------------------------------------------------------------------------------------------------

/// The taint effects placement considers; PreferNoSchedule and unknown effects are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaintEffect {
    NoSchedule,
    NoExecute,
}

/// Which taint effects a toleration covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EffectMatch {
    /// Empty effect: every effect.
    All,
    NoSchedule,
    NoExecute,
}

/// Which taint values a toleration covers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ValueMatch {
    /// `Exists`: any value.
    Any,
    /// `""`/`Equal`: exactly this value (an absent value is "").
    Equal(Atom),
}

/// The effect and value part of a toleration; the key is the [`TolerationTable`] index.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TolerationMatcher {
    effect: EffectMatch,
    value: ValueMatch,
}

impl TolerationMatcher {
    /// `ToleratesTaint` once the key matched.
    fn tolerates(&self, taint: &NodeTaint, effect: TaintEffect) -> bool {
        let effect_ok = match self.effect {
            EffectMatch::All => true,
            EffectMatch::NoSchedule => effect == TaintEffect::NoSchedule,
            EffectMatch::NoExecute => effect == TaintEffect::NoExecute,
        };
        effect_ok
            && match &self.value {
                ValueMatch::Any => true,
                ValueMatch::Equal(want) => match &taint.value {
                    Some(value) => value.is(want),
                    None => want.is_empty(),
                },
            }
    }
}

/// `None` for tolerations that can never tolerate a considered taint: unknown operators (including the
/// gated `Lt`/`Gt`, off by default) and effects other than empty/NoSchedule/NoExecute.
/// Otherwise the key (empty: every key) and its matcher.
fn compile_toleration(t: &Toleration) -> Option<(&str, TolerationMatcher)> {
    let effect = match t.effect.as_deref().unwrap_or_default() {
        "" => EffectMatch::All,
        TAINT_EFFECT_NO_SCHEDULE => EffectMatch::NoSchedule,
        TAINT_EFFECT_NO_EXECUTE => EffectMatch::NoExecute,
        _ => return None,
    };
    let value = match t.operator.as_deref().unwrap_or_default() {
        "" | TOLERATION_OP_EQUAL => ValueMatch::Equal(Atom::new(t.value.as_deref().unwrap_or_default())),
        TOLERATION_OP_EXISTS => ValueMatch::Any,
        _ => return None,
    };
    // tolerationSeconds is deliberately dropped: the controller ignores it.
    Some((t.key.as_deref().unwrap_or_default(), TolerationMatcher { effect, value }))
}

/// A pod's tolerations grouped by key, so one probe finds every toleration for a taint key.
#[derive(Clone, Debug, Default)]
struct TolerationTable {
    /// Empty-key tolerations: they apply to every taint key.
    any_key: Vec<TolerationMatcher>,
    /// Distinct non-empty keys; `by_key[i]` holds the matchers of `keys[i]`.
    keys: AtomSet,
    by_key: Vec<Vec<TolerationMatcher>>,
}

impl TolerationTable {
    fn new(tolerations: &[Toleration]) -> Self {
        let mut table = TolerationTable::default();
        for (key, matcher) in tolerations.iter().filter_map(compile_toleration) {
            let matchers = if key.is_empty() {
                &mut table.any_key
            } else {
                let index = table.keys.intern(key);
                if index == table.by_key.len() {
                    table.by_key.push(Vec::new());
                }
                &mut table.by_key[index]
            };
            if !matchers.contains(&matcher) {
                matchers.push(matcher);
            }
        }
        table
    }

    /// `TolerationsTolerateTaint`.
    fn tolerates(&self, taint: &NodeTaint, effect: TaintEffect) -> bool {
        self.any_key.iter().any(|m| m.tolerates(taint, effect))
            || self.keys.find(&taint.key).is_some_and(|i| self.by_key[i].iter().any(|m| m.tolerates(taint, effect)))
    }
}

// ---------------------------------------------------------------------------------------------------------
// PlacementPolicy
// ---------------------------------------------------------------------------------------------------------

/// A DaemonSet pod template compiled once, evaluated against many nodes quickly.
#[derive(Clone, Debug)]
pub struct PlacementPolicy {
    /// `template.spec.nodeName` when non-empty.
    node_name: Option<Atom>,
    /// `template.spec.nodeSelector` as (slot, key, value): every key must exist with an equal value
    /// (not validated upstream).
    node_selector: Vec<(usize, Atom, Atom)>,
    /// Required node affinity: `None` when absent (matches every node); otherwise the terms that can match
    /// (ORed). An empty list matches no node.
    required_terms: Option<Vec<CompiledTerm>>,
    /// Every required term as written, for [`Reason::NodeAffinityMismatch`].
    rendered_terms: Vec<String>,
    /// Every label key read by the selector and the terms; a requirement's slot indexes this list.
    label_keys: AtomSet,
    /// User tolerations plus the defaults, grouped by key.
    tolerations: TolerationTable,
    /// The NoSchedule and NoExecute effects, held here so that a taint's effect is two pointer compares.
    no_schedule: Atom,
    no_execute: Atom,
}

impl PlacementPolicy {
    /// Compile `template` as upstream's `NewPod(ds, node)` would see it (default tolerations added).
    pub fn new(template: &PodTemplateSpec) -> Self {
        let empty = PodSpec::default();
        let spec = template.spec.as_ref().unwrap_or(&empty);
        let mut keys = AtomSet::default();

        let node_name = spec.node_name.as_deref().filter(|n| !n.is_empty()).map(Atom::new);
        // nodeSelector keys get the first slots: they are read for every node that passes nodeName.
        let node_selector =
            spec.node_selector.iter().flatten().map(|(k, v)| (keys.intern(k), Atom::new(k), Atom::new(v))).collect();

        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
        let required_terms =
            required.map(|ns| ns.node_selector_terms.iter().filter_map(|t| compile_term(t, &mut keys)).collect());
        let rendered_terms =
            required.map(|ns| ns.node_selector_terms.iter().map(render_term).collect()).unwrap_or_default();

        // The evaluated pod carries the user's tolerations plus the controller defaults (1.5).
        let mut all = spec.tolerations.clone().unwrap_or_default();
        for default in default_tolerations(spec.host_network.unwrap_or(false)) {
            add_or_update_toleration(&mut all, &default);
        }

        PlacementPolicy {
            node_name,
            node_selector,
            required_terms,
            rendered_terms,
            label_keys: keys,
            tolerations: TolerationTable::new(&all),
            no_schedule: NO_SCHEDULE.clone(),
            no_execute: NO_EXECUTE.clone(),
        }
    }

    /// Hot path: no heap allocation per call. To evaluate many nodes, prefer [`Self::evaluator`].
    pub fn evaluate(&self, node: &Node) -> Placement {
        self.decide(node, LabelView::new(&self.label_keys, &node.labels))
    }

    /// An evaluator for many nodes in a row: it remembers where this policy's label keys sat on the last node
    /// and reuses that when the next node carries the same label keys (nodes of a pool usually do).
    pub fn evaluator<'n>(&self) -> PlacementEvaluator<'_, 'n> {
        PlacementEvaluator { policy: self, last: None }
    }

    /// shouldRun / shouldContinueRunning from the node and its resolved label view.
    #[inline(always)]
    fn decide(&self, node: &Node, labels: LabelView<'_>) -> Placement {
        if let Some(want) = &self.node_name
            && !want.is(&node.name)
        {
            return Placement::DO_NOT_RUN;
        }
        if !self.fits_node_selector(&labels) || !self.fits_required_terms(&node.name, &labels) {
            return Placement::DO_NOT_RUN;
        }
        let mut untolerated_no_schedule = false;
        for taint in &node.taints {
            let Some(effect) = self.effect(&taint.effect) else {
                continue;
            };
            if self.tolerates(taint, effect) {
                continue;
            }
            if effect == TaintEffect::NoExecute {
                // An untolerated NoExecute taint also evicts existing pods; nothing later can change that.
                return Placement::DO_NOT_RUN;
            }
            untolerated_no_schedule = true;
        }
        if untolerated_no_schedule { Placement::KEEP_EXISTING } else { Placement::RUN }
    }

    /// Same decision plus every reason (empty when should_run).
    ///
    /// Unlike upstream, which stops at the first failing check, this reports every failed check so that an
    /// operator sees all fixes needed at once; the decision is identical to [`Self::evaluate`].
    pub fn explain(&self, node: &Node) -> (Placement, Vec<Reason>) {
        let mut reasons = Vec::new();
        let mut should_continue_running = true;

        if let Some(want) = &self.node_name
            && !want.is(&node.name)
        {
            reasons.push(Reason::NodeNameMismatch { want: want.to_string() });
            should_continue_running = false;
        }
        let labels = LabelView::new(&self.label_keys, &node.labels);
        for (slot, key, want) in &self.node_selector {
            let got = labels.get(*slot, key);
            if !got.is_some_and(|got| got.is(want)) {
                reasons.push(Reason::NodeSelectorMismatch {
                    key: key.to_string(),
                    want: want.to_string(),
                    got: got.map(Atom::to_string),
                });
                should_continue_running = false;
            }
        }
        if !self.fits_required_terms(&node.name, &labels) {
            reasons.push(Reason::NodeAffinityMismatch { terms: self.rendered_terms.clone() });
            should_continue_running = false;
        }
        for taint in &node.taints {
            if let Some(effect) = self.effect(&taint.effect)
                && !self.tolerates(taint, effect)
            {
                reasons.push(Reason::UntoleratedTaint { taint: taint.to_k8s() });
                if effect == TaintEffect::NoExecute {
                    should_continue_running = false;
                }
            }
        }

        let placement = Placement { should_run: reasons.is_empty(), should_continue_running };
        debug_assert_eq!(placement, self.evaluate(node), "explain and evaluate disagree on node {}", node.name);
        (placement, reasons)
    }

    /// The effect of a taint if placement considers it; PreferNoSchedule and unknown effects are skipped.
    #[inline]
    fn effect(&self, effect: &Atom) -> Option<TaintEffect> {
        if effect.is(&self.no_schedule) {
            Some(TaintEffect::NoSchedule)
        } else if effect.is(&self.no_execute) {
            Some(TaintEffect::NoExecute)
        } else {
            None
        }
    }

    /// `labels.SelectorFromSet(spec.nodeSelector)`: every key present with an equal value.
    fn fits_node_selector(&self, labels: &LabelView<'_>) -> bool {
        self.node_selector.iter().all(|(slot, key, want)| labels.get(*slot, key).is_some_and(|got| got.is(want)))
    }

    /// Required node affinity: absent matches all; otherwise any term (ORed).
    fn fits_required_terms(&self, node_name: &Atom, labels: &LabelView<'_>) -> bool {
        match &self.required_terms {
            None => true,
            Some(terms) => terms.iter().any(|t| t.matches(node_name, labels)),
        }
    }

    /// `TolerationsTolerateTaint` over the pod's tolerations (defaults included).
    fn tolerates(&self, taint: &NodeTaint, effect: TaintEffect) -> bool {
        self.tolerations.tolerates(taint, effect)
    }
}

/// [`PlacementPolicy::evaluate`] over many nodes, reusing the label lookups of the previous node when the
/// next one has the same label keys (nodes of a pool usually do). Finding the policy's keys among a node's
/// labels is a probe per label; checking that the keys are the previous node's is a compare per label. The
/// previous node's labels are borrowed, not copied, so the check costs no allocation, and the borrow keeps
/// their keys alive (an address seen cannot come back as another key).
pub struct PlacementEvaluator<'p, 'n> {
    policy: &'p PlacementPolicy,
    /// The previous node's labels and their [`LabelView`] positions.
    last: Option<(&'n LabelSet, u64)>,
}

impl<'n> PlacementEvaluator<'_, 'n> {
    /// The same decision as [`PlacementPolicy::evaluate`].
    pub fn evaluate(&mut self, node: &'n Node) -> Placement {
        let labels = &node.labels;
        let view = match self.last {
            Some((last, at)) if same_keys(last, labels) => LabelView { labels, at },
            _ => {
                let view = LabelView::new(&self.policy.label_keys, labels);
                self.last = Some((labels, view.at));
                view
            }
        };
        self.policy.decide(node, view)
    }
}

/// Both label sets have the same keys in the same order (values aside).
#[inline(always)]
fn same_keys(a: &LabelSet, b: &LabelSet) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).fold(0, |diff, ((x, _), (y, _))| diff | (x.addr() ^ y.addr())) == 0
}

/// One-shot `NodeShouldRunDaemonPod`; prefer a reused [`PlacementPolicy`] when evaluating many nodes.
pub fn node_should_run_daemon_pod(template: &PodTemplateSpec, node: &Node) -> Placement {
    PlacementPolicy::new(template).evaluate(node)
}

// ---------------------------------------------------------------------------------------------------------
// Default tolerations (AddOrUpdateDaemonPodTolerations) and the created pod's node pinning
// ---------------------------------------------------------------------------------------------------------

/// The default tolerations the controller adds (table 1.5), in upstream order; network-unavailable only when
/// `host_network`. None has tolerationSeconds, i.e. they tolerate forever.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let exists = |key: &str, effect: &str| Toleration {
        key: Some(key.to_owned()),
        operator: Some(TOLERATION_OP_EXISTS.to_owned()),
        effect: Some(effect.to_owned()),
        value: None,
        toleration_seconds: None,
    };
    let mut tolerations = vec![
        exists(TAINT_NODE_NOT_READY, TAINT_EFFECT_NO_EXECUTE),
        exists(TAINT_NODE_UNREACHABLE, TAINT_EFFECT_NO_EXECUTE),
        exists(TAINT_NODE_DISK_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_MEMORY_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_PID_PRESSURE, TAINT_EFFECT_NO_SCHEDULE),
        exists(TAINT_NODE_UNSCHEDULABLE, TAINT_EFFECT_NO_SCHEDULE),
    ];
    if host_network {
        tolerations.push(exists(TAINT_NODE_NETWORK_UNAVAILABLE, TAINT_EFFECT_NO_SCHEDULE));
    }
    tolerations
}

/// `AddOrUpdateDaemonPodTolerations`: apply every default toleration (hostNetwork taken from `spec`) with
/// `AddOrUpdateTolerationInPodSpec` semantics.
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let mut tolerations = spec.tolerations.take().unwrap_or_default();
    for default in default_tolerations(spec.host_network.unwrap_or(false)) {
        add_or_update_toleration(&mut tolerations, &default);
    }
    spec.tolerations = Some(tolerations);
}

/// `Toleration.MatchToleration`: same key, effect, operator and value (absent and empty are the same).
fn match_toleration(a: &Toleration, b: &Toleration) -> bool {
    fn s(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    s(&a.key) == s(&b.key)
        && s(&a.effect) == s(&b.effect)
        && s(&a.operator) == s(&b.operator)
        && s(&a.value) == s(&b.value)
}

/// `AddOrUpdateTolerationInPodSpec`: if some matching toleration is already semantically equal, nothing
/// changes; otherwise every matching one is replaced by `toleration` (dropping its tolerationSeconds), and
/// `toleration` is appended when none matched. Returns whether the list changed.
fn add_or_update_toleration(tolerations: &mut Vec<Toleration>, toleration: &Toleration) -> bool {
    // Given a tuple match, Semantic.DeepEqual only differs on tolerationSeconds.
    let identical =
        |t: &Toleration| match_toleration(t, toleration) && t.toleration_seconds == toleration.toleration_seconds;
    if tolerations.iter().any(identical) {
        return false;
    }
    let mut updated = false;
    for existing in tolerations.iter_mut() {
        if match_toleration(existing, toleration) {
            *existing = toleration.clone();
            updated = true;
        }
    }
    if !updated {
        tolerations.push(toleration.clone());
    }
    true
}

/// The single required term every created daemon pod gets: `matchFields metadata.name In [node]`.
fn node_name_term(node_name: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: OBJECT_NAME_FIELD.to_owned(),
            operator: NODE_SELECTOR_OP_IN.to_owned(),
            values: Some(vec![node_name.to_owned()]),
        }]),
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity` (1.6): the required terms are replaced by the single term
/// `matchFields metadata.name In [node]`; preferred terms and pod (anti-)affinity are kept.
pub fn replace_node_name_node_affinity(affinity: Option<Affinity>, node_name: &str) -> Affinity {
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity.node_affinity.get_or_insert_with(Default::default);
    // NodeSelector has no field besides the terms, so replacing the terms equals replacing the selector.
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![node_name_term(node_name)] });
    affinity
}

/// `GetTargetNodeName` (1.6): `spec.nodeName`, else the first `matchFields metadata.name In` requirement of
/// the required terms, which must have exactly one value. `None` where upstream returns an error (the
/// controller then ignores the pod).
pub fn target_node_name(spec: &PodSpec) -> Option<String> {
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    for term in terms {
        for req in term.match_fields.iter().flatten() {
            if req.key == OBJECT_NAME_FIELD && req.operator == NODE_SELECTOR_OP_IN {
                // The first such requirement decides, even when later ones would be unique.
                return match req.values.as_deref().unwrap_or_default() {
                    [only] => Some(only.clone()),
                    _ => None,
                };
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Affinity, PodSpec, PodTemplateSpec, Taint, Toleration};
    use serde_json::{Value, json};

    use super::super::model::{HostPort, Node, OtherPods, Resources};
    use super::*;

    // Upstream test fixtures (daemon_controller_test.go).
    const SIMPLE_DAEMON_SET_LABEL: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "production")];
    const SIMPLE_DAEMON_SET_LABEL2: &[(&str, &str)] = &[("name", "simple-daemon"), ("type", "test")];
    const SIMPLE_NODE_LABEL: &[(&str, &str)] = &[("color", "blue"), ("speed", "fast")];
    const SIMPLE_NODE_LABEL2: &[(&str, &str)] = &[("color", "red"), ("speed", "fast")];

    const RUN: Placement = Placement::RUN;
    const DO_NOT_RUN: Placement = Placement::DO_NOT_RUN;
    const KEEP_EXISTING: Placement = Placement::KEEP_EXISTING;

    fn labels_json(labels: &[(&str, &str)]) -> Value {
        Value::Object(labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
    }

    /// A PodSpec from JSON; a container is added when missing because the API requires one.
    fn spec(v: Value) -> PodSpec {
        let mut v = v;
        v.as_object_mut()
            .expect("spec must be a JSON object")
            .entry("containers")
            .or_insert(json!([{"name": "c", "image": "foo/bar"}]));
        serde_json::from_value(v).expect("valid PodSpec")
    }

    /// A DaemonSet template (labelled like upstream's newDaemonSet) with the given spec.
    fn template(spec_json: Value) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(
                serde_json::from_value(json!({"labels": labels_json(SIMPLE_DAEMON_SET_LABEL)}))
                    .expect("valid metadata"),
            ),
            spec: Some(spec(spec_json)),
        }
    }

    /// A template whose only constraint is one required term.
    fn required_terms(terms: Value) -> PodTemplateSpec {
        template(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
    }

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node { name: name.into(), labels: labels.iter().copied().collect(), ..Node::default() }
    }

    fn tainted(mut n: Node, taints: Vec<Taint>) -> Node {
        n.taints = taints.into();
        n
    }

    fn with_conditions(mut n: Node, conditions: &[(&str, &str)]) -> Node {
        n.conditions = conditions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        n
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            value: (!value.is_empty()).then(|| value.to_owned()),
            effect: effect.to_owned(),
            time_added: None,
        }
    }

    fn toleration(v: Value) -> Toleration {
        serde_json::from_value(v).expect("valid Toleration")
    }

    /// `addNodes`: node-<start>..node-<start+count-1> with the given labels.
    fn add_nodes(start: usize, count: usize, labels: &[(&str, &str)]) -> Vec<Node> {
        (start..start + count).map(|i| node(&format!("node-{i}"), labels)).collect()
    }

    /// The decision, cross-checked: explain agrees with evaluate, reasons are empty exactly when should_run,
    /// and the one-shot helper agrees too.
    fn decide(template: &PodTemplateSpec, node: &Node) -> Placement {
        let policy = PlacementPolicy::new(template);
        let placement = policy.evaluate(node);
        let (explained, reasons) = policy.explain(node);
        assert_eq!(placement, explained, "explain disagrees with evaluate on {}", node.name);
        assert_eq!(reasons.is_empty(), placement.should_run, "reasons {reasons:?} vs {placement:?}");
        assert_eq!(placement, node_should_run_daemon_pod(template, node));
        placement
    }

    /// Names of the nodes that should run a daemon pod, i.e. where one sync would create pods.
    fn should_run_on(template: &PodTemplateSpec, nodes: &[Node]) -> Vec<String> {
        nodes.iter().filter(|n| decide(template, n).should_run).map(|n| n.name.to_string()).collect()
    }

    // ----------------------------------------------------------------------------------------------------
    // Upstream scenarios (section 7), single-node expectations
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn upstream_single_node_scenarios() {
        let requests_75 = json!({"containers": [{"name": "c", "image": "foo/bar",
            "resources": {"requests": {"memory": "75M", "cpu": "75m"}}}], "nodeName": "too-much-mem"});
        let mut small_node = node("too-much-mem", &[]);
        small_node.allocatable = Resources { cpu_millis: 200, memory_bytes: 100_000_000, pods: 100 };
        small_node.other_pods = OtherPods {
            requested: Resources { cpu_millis: 75, memory_bytes: 75_000_000, pods: 1 },
            pod_count: 1,
            host_ports: vec![],
        };
        let port_666 = json!({"nodeName": "port-conflict",
            "containers": [{"name": "c", "image": "foo/bar", "ports": [{"containerPort": 666, "hostPort": 666}]}]});
        let mut port_node = node("port-conflict", &[]);
        port_node.other_pods.host_ports =
            vec![HostPort { port: 666, protocol: "TCP".into(), host_ip: Default::default() }];
        let port_6662 = json!({"containers": [{"name": "c", "image": "foo/bar",
            "ports": [{"containerPort": 6662, "hostPort": 6662}]}]});
        let mut port_6661_node = node("no-port-conflict", &[]);
        port_6661_node.other_pods.host_ports =
            vec![HostPort { port: 6661, protocol: "TCP".into(), host_ip: Default::default() }];
        let dedicated_toleration =
            json!({"tolerations": [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]});

        let rows: Vec<(&str, PodTemplateSpec, Node, Placement)> = vec![
            (
                "5 DC TestNotReadyNodeDaemonDoesLaunchPod: Ready=False without taint",
                template(json!({})),
                with_conditions(node("not-ready", &[]), &[("Ready", "False")]),
                RUN,
            ),
            (
                "6 DC TestNetworkUnavailableNodeDaemonLaunchesPod: NetworkUnavailable=True without taint",
                template(json!({})),
                with_conditions(node("network-unavailable", &[]), &[("NetworkUnavailable", "True")]),
                RUN,
            ),
            (
                "7 DC TestInsufficientCapacityNodeDaemonDoesNotUnscheduleRunningPod: resources ignored",
                template(requests_75),
                small_node,
                RUN,
            ),
            (
                "9 DC TestPortConflictWithSameDaemonPodDoesNotDeletePod: ports ignored",
                template(port_666),
                port_node,
                RUN,
            ),
            ("10 DC TestNoPortConflictNodeDaemonLaunchesPod", template(port_6662), port_6661_node, RUN),
            (
                "19 DC TestTaintedNodeDaemonDoesNotLaunchIntolerantPod",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                KEEP_EXISTING,
            ),
            (
                "20 DC TestTaintedNodeDaemonLaunchesToleratePod: empty operator means Equal",
                template(dedicated_toleration.clone()),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                RUN,
            ),
            (
                "21 DC TestNodeDaemonLaunchesToleratePod: untainted node",
                template(dedicated_toleration),
                node("untainted", &[]),
                RUN,
            ),
            (
                "22 DC TestNotReadyNodeDaemonLaunchesPod: default not-ready toleration",
                template(json!({})),
                with_conditions(
                    tainted(node("not-ready", &[]), vec![taint(TAINT_NODE_NOT_READY, "", "NoExecute")]),
                    &[("Ready", "False")],
                ),
                RUN,
            ),
            (
                "23 DC TestUnreachableNodeDaemonLaunchesPod: default unreachable toleration",
                template(json!({})),
                with_conditions(
                    tainted(node("unreachable", &[]), vec![taint(TAINT_NODE_UNREACHABLE, "", "NoExecute")]),
                    &[("Ready", "Unknown")],
                ),
                RUN,
            ),
            (
                "24 DC TestTaintPressureNodeDaemonLaunchesPod: pressure taints tolerated by default",
                template(json!({"priority": 2_000_000_000, "priorityClassName": "system-node-critical"})),
                with_conditions(
                    tainted(
                        node("resources-pressure", &[]),
                        vec![
                            taint(TAINT_NODE_DISK_PRESSURE, "", "NoSchedule"),
                            taint(TAINT_NODE_MEMORY_PRESSURE, "", "NoSchedule"),
                            taint(TAINT_NODE_PID_PRESSURE, "", "NoSchedule"),
                        ],
                    ),
                    &[("DiskPressure", "True"), ("MemoryPressure", "True"), ("PIDPressure", "True")],
                ),
                RUN,
            ),
            (
                "26 DC TestNoScheduleTaintedDoesntEvicitRunningIntolerantPod: existing pod stays",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoSchedule")]),
                KEEP_EXISTING,
            ),
            (
                "27 DC TestNoExecuteTaintedDoesEvicitRunningIntolerantPod: existing pod deleted",
                template(json!({})),
                tainted(node("tainted", &[]), vec![taint("dedicated", "user1", "NoExecute")]),
                DO_NOT_RUN,
            ),
        ];
        for (name, template, node, want) in rows {
            assert_eq!(decide(&template, &node), want, "{name}");
        }
    }

    #[test]
    fn upstream_it_unschedulable_node_daemon_does_launch_pod_host_network() {
        // Scenario 25, IT TestUnschedulableNodeDaemonDoesLaunchPod.
        let mut cordoned = tainted(node("node-a", &[]), vec![taint(TAINT_NODE_UNSCHEDULABLE, "", "NoSchedule")]);
        cordoned.unschedulable = true;
        let network_down = with_conditions(
            tainted(node("node-b", &[]), vec![taint(TAINT_NODE_NETWORK_UNAVAILABLE, "", "NoSchedule")]),
            &[("Ready", "False")],
        );
        let host_network = template(json!({"hostNetwork": true}));
        assert_eq!(decide(&host_network, &cordoned), RUN);
        assert_eq!(decide(&host_network, &network_down), RUN);
        assert_eq!(should_run_on(&host_network, &[cordoned.clone(), network_down.clone()]).len(), 2);
        // Without hostNetwork the network-unavailable toleration is not added.
        let pod_network = template(json!({}));
        assert_eq!(decide(&pod_network, &cordoned), RUN);
        assert_eq!(decide(&pod_network, &network_down), KEEP_EXISTING);
        let explicit_false = template(json!({"hostNetwork": false}));
        assert_eq!(decide(&explicit_false, &network_down), KEEP_EXISTING);
    }

    #[test]
    fn upstream_dc_test_node_should_run_daemon_pod() {
        // Scenario 29: node "test-node" labelled with the DS labels, 100M / 1 CPU allocatable.
        let resource_pod_spec = |node_name: &str, memory: &str, cpu: &str| {
            json!({"nodeName": node_name, "containers": [{"name": "c", "image": "foo/bar",
                "resources": {"requests": {"memory": memory, "cpu": cpu}}}]})
        };
        let base = {
            let mut n = node("test-node", SIMPLE_DAEMON_SET_LABEL);
            n.allocatable = Resources { cpu_millis: 1000, memory_bytes: 100_000_000, pods: 100 };
            n
        };
        let with_port_666 = {
            let mut n = base.clone();
            n.other_pods.host_ports = vec![HostPort { port: 666, protocol: "TCP".into(), host_ip: Default::default() }];
            n.other_pods.pod_count = 1;
            n
        };
        let with_port_and_50m = {
            let mut n = with_port_666.clone();
            n.other_pods.requested = Resources { cpu_millis: 500, memory_bytes: 50_000_000, pods: 1 };
            n
        };
        let unschedulable = {
            let mut n = base.clone();
            n.unschedulable = true;
            n
        };
        let affinity_type = |value: &str| {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "type", "operator": "In", "values": [value]}]}]}}}})
        };
        let rows: Vec<(&str, Value, &Node, Placement)> = vec![
            ("ShouldRunDaemonPod", resource_pod_spec("", "50M", "0.5"), &base, RUN),
            ("InsufficientResourceError (200M)", resource_pod_spec("", "200M", "0.5"), &base, RUN),
            ("ErrPodNotMatchHostName", resource_pod_spec("other-node", "50M", "0.5"), &base, DO_NOT_RUN),
            (
                "ErrPodNotFitsHostPorts",
                json!({"containers": [{"name": "c", "image": "foo/bar", "ports": [{"containerPort": 666, "hostPort": 666}]}]}),
                &with_port_666,
                RUN,
            ),
            ("InsufficientResourceError (port + 100M)", resource_pod_spec("", "100M", "0.5"), &with_port_and_50m, RUN),
            ("ShouldRunDaemonPod (port + 50M)", resource_pod_spec("", "50M", "0.5"), &with_port_and_50m, RUN),
            (
                "ErrNodeSelectorNotMatch",
                json!({"nodeSelector": labels_json(SIMPLE_DAEMON_SET_LABEL2)}),
                &base,
                DO_NOT_RUN,
            ),
            (
                "ShouldRunDaemonPod (nodeSelector)",
                json!({"nodeSelector": labels_json(SIMPLE_DAEMON_SET_LABEL)}),
                &base,
                RUN,
            ),
            ("ErrPodAffinityNotMatch", affinity_type("test"), &base, DO_NOT_RUN),
            ("ShouldRunDaemonPod (affinity)", affinity_type("production"), &base, RUN),
            ("ShouldRunDaemonPodOnUnschedulableNode", resource_pod_spec("", "50M", "0.5"), &unschedulable, RUN),
        ];
        for (predicate_name, spec_json, node, want) in rows {
            assert_eq!(decide(&template(spec_json), node), want, "TestNodeShouldRunDaemonPod/{predicate_name}");
        }
    }

    // ----------------------------------------------------------------------------------------------------
    // Upstream scenarios (section 7), fleet-level placement counts
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn upstream_fleet_scenarios() {
        let mixed = || {
            let mut nodes = add_nodes(0, 4, &[]);
            nodes.extend(add_nodes(4, 3, SIMPLE_NODE_LABEL));
            nodes
        };
        let capacity_nodes = {
            let mut small = node("too-much-mem", &[]);
            small.allocatable.memory_bytes = 10_000_000;
            let mut big = node("enough-mem", SIMPLE_NODE_LABEL);
            big.allocatable.memory_bytes = 100_000_000;
            vec![small, big]
        };
        let selector = labels_json(SIMPLE_NODE_LABEL);
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let rows: Vec<(&str, PodTemplateSpec, Vec<Node>, Vec<String>)> = vec![
            (
                "1 DC TestSimpleDaemonSetLaunchesPods",
                template(json!({})),
                add_nodes(0, 5, &[]),
                names(&["node-0", "node-1", "node-2", "node-3", "node-4"]),
            ),
            ("3 DC TestNoNodesDoesNothing", template(json!({})), vec![], vec![]),
            ("4 DC TestOneNodeDaemonLaunchesPod", template(json!({})), add_nodes(0, 1, &[]), names(&["node-0"])),
            (
                "8 DC TestInsufficientCapacityNodeSufficientCapacityWithNodeLabelDaemonLaunchPod",
                template(json!({"nodeSelector": selector.clone(),
                    "containers": [{"name": "c", "image": "foo/bar", "resources": {"requests": {"memory": "75M"}}}]})),
                capacity_nodes,
                names(&["enough-mem"]),
            ),
            (
                "11 DC TestSelectorDaemonLaunchesPods",
                template(json!({"nodeSelector": selector.clone()})),
                mixed(),
                names(&["node-4", "node-5", "node-6"]),
            ),
            (
                "12 DC TestBadSelectorDaemonDoesNothing",
                template(json!({"nodeSelector": labels_json(SIMPLE_NODE_LABEL2)})),
                mixed(),
                vec![],
            ),
            (
                "13 DC TestNameDaemonSetLaunchesPods",
                template(json!({"nodeName": "node-0"})),
                add_nodes(0, 5, &[]),
                names(&["node-0"]),
            ),
            (
                "14 DC TestBadNameDaemonSetDoesNothing",
                template(json!({"nodeName": "node-10"})),
                add_nodes(0, 5, &[]),
                vec![],
            ),
            (
                "15 DC TestNameAndSelectorDaemonSetLaunchesPods",
                template(json!({"nodeSelector": selector.clone(), "nodeName": "node-6"})),
                mixed(),
                names(&["node-6"]),
            ),
            (
                "16 DC TestInconsistentNameSelectorDaemonSetDoesNothing",
                template(json!({"nodeSelector": selector, "nodeName": "node-0"})),
                mixed(),
                vec![],
            ),
            (
                "17 DC TestNodeAffinityDaemonLaunchesPods",
                required_terms(json!([{"matchExpressions": [{"key": "color", "operator": "In", "values": ["blue"]}]}])),
                mixed(),
                names(&["node-4", "node-5", "node-6"]),
            ),
            (
                "18 IT TestDaemonSetWithNodeSelectorLaunchesPods: terms are ORed",
                required_terms(json!([
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["test"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]},
                ])),
                {
                    let mut nodes = add_nodes(0, 2, &[]);
                    nodes.extend(add_nodes(2, 2, &[("zone", "test")]));
                    nodes.extend(add_nodes(4, 2, &[]));
                    nodes
                },
                names(&["node-1", "node-2", "node-3"]),
            ),
        ];
        for (name, template, nodes, want) in rows {
            assert_eq!(should_run_on(&template, &nodes), want, "{name}");
        }
    }

    #[test]
    fn upstream_it_tainted_node() {
        // Scenario 28, IT TestTaintedNode: one pod while the taint exists, two once it is removed.
        let ds = template(json!({}));
        let with_taint = tainted(node("node-with-taint", &[]), vec![taint("key1", "val1", "NoSchedule")]);
        let without_taint = node("node-without-taint", &[]);
        assert_eq!(should_run_on(&ds, &[with_taint.clone(), without_taint.clone()]), vec!["node-without-taint"]);
        let untainted = tainted(with_taint, vec![]);
        assert_eq!(should_run_on(&ds, &[untainted, without_taint]).len(), 2);
    }

    // ----------------------------------------------------------------------------------------------------
    // UT TestReplaceDaemonSetPodNodeNameNodeAffinity / TestGetTargetNodeName (scenarios 30, 31)
    // ----------------------------------------------------------------------------------------------------

    fn affinity(v: Value) -> Affinity {
        serde_json::from_value(v).expect("valid Affinity")
    }

    fn pinned(node: &str) -> Value {
        json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}})
    }

    #[test]
    fn upstream_ut_replace_daemon_set_pod_node_name_node_affinity() {
        let expected = affinity(json!({"nodeAffinity": pinned("host_1")}));
        let hostname_in =
            json!({"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host_1"]}]});
        let preferred = json!([{"weight": 1, "preference": hostname_in.clone()}]);
        let rows: Vec<(&str, Option<Affinity>, Affinity)> = vec![
            ("nil affinity", None, expected.clone()),
            (
                "required hostname expression is replaced",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [hostname_in.clone()]}}}))),
                expected.clone(),
            ),
            (
                "preferred-only: preferred kept, required added",
                Some(affinity(
                    json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred.clone()}}),
                )),
                affinity(json!({"nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": preferred,
                    "requiredDuringSchedulingIgnoredDuringExecution": pinned("host_1")["requiredDuringSchedulingIgnoredDuringExecution"].clone(),
                }})),
            ),
            (
                "matchFields In [host_1, host_2] narrowed",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_1", "host_2"]}]}]}}}))),
                expected.clone(),
            ),
            ("nil affinity (repeated upstream row)", None, expected.clone()),
            (
                "two terms (expression / field host_2) become one",
                Some(affinity(
                    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "hostname", "operator": "In", "values": ["host_1"]}]},
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["host_2"]}]},
                    ]}}}),
                )),
                expected.clone(),
            ),
            (
                "NotIn host_2 becomes In host_1",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["host_2"]}]}]}}}))),
                expected.clone(),
            ),
            (
                "unknown field key metadata.foo is replaced",
                Some(affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.foo", "operator": "In", "values": ["bar"]}]}]}}}))),
                expected,
            ),
        ];
        for (name, input, want) in rows {
            assert_eq!(replace_node_name_node_affinity(input, "host_1"), want, "{name}");
        }
    }

    #[test]
    fn replace_node_name_node_affinity_keeps_pod_affinity() {
        let input = affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "x"}}}]}}));
        let got = replace_node_name_node_affinity(Some(input.clone()), "n1");
        assert_eq!(got.pod_anti_affinity, input.pod_anti_affinity);
        assert_eq!(target_node_name(&spec(json!({"affinity": got}))), Some("n1".to_owned()));
    }

    #[test]
    fn upstream_ut_get_target_node_name() {
        let rows: Vec<(&str, PodSpec, Option<&str>)> = vec![
            ("pod1: spec.nodeName", spec(json!({"nodeName": "node-1"})), Some("node-1")),
            (
                "pod2: matchFields In [node-1]",
                spec(json!({"affinity": {"nodeAffinity": pinned("node-1")}})),
                Some("node-1"),
            ),
            (
                "pod3: matchFields In [node-1, node-2] is an error",
                spec(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1", "node-2"]}]}]}}}})),
                None,
            ),
            ("pod4: empty spec is an error", spec(json!({})), None),
        ];
        for (name, spec, want) in rows {
            assert_eq!(target_node_name(&spec).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn target_node_name_edge_cases() {
        // nodeName wins over affinity.
        let both = spec(json!({"nodeName": "a", "affinity": {"nodeAffinity": pinned("b")}}));
        assert_eq!(target_node_name(&both).as_deref(), Some("a"));
        // An empty nodeName falls through to the affinity.
        let empty_name = spec(json!({"nodeName": "", "affinity": {"nodeAffinity": pinned("b")}}));
        assert_eq!(target_node_name(&empty_name).as_deref(), Some("b"));
        // NotIn and other keys are skipped; a later term may still provide the name.
        let later = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]},
                                 {"key": "metadata.foo", "operator": "In", "values": ["y"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["z"]}]},
            ]}}}}),
        );
        assert_eq!(target_node_name(&later).as_deref(), Some("z"));
        // The first In requirement decides: a non-unique one errors even if a later one is unique.
        let first_bad = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": []}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["z"]}]},
            ]}}}}),
        );
        assert_eq!(target_node_name(&first_bad), None);
        // Required selector with no terms, and a matchExpressions-only pin, are errors.
        let no_terms = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}}),
        );
        assert_eq!(target_node_name(&no_terms), None);
        let by_label = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["z"]}]}]}}}}),
        );
        assert_eq!(target_node_name(&by_label), None);
    }

    // ----------------------------------------------------------------------------------------------------
    // Node affinity operators and term structure
    // ----------------------------------------------------------------------------------------------------

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

    #[test]
    fn node_selector_and_required_affinity_are_anded() {
        let n = node("node-1", &[("zone", "a"), ("disktype", "ssd")]);
        let with = |selector: Value, zone: &str| {
            template(
                json!({"nodeSelector": selector, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]}}}}),
            )
        };
        assert_eq!(decide(&with(json!({"disktype": "ssd"}), "a"), &n), RUN);
        assert_eq!(decide(&with(json!({"disktype": "hdd"}), "a"), &n), DO_NOT_RUN, "selector fails, affinity holds");
        assert_eq!(decide(&with(json!({"disktype": "ssd"}), "b"), &n), DO_NOT_RUN, "selector holds, affinity fails");
        assert_eq!(decide(&with(json!({"missing": "x"}), "a"), &n), DO_NOT_RUN, "selector key absent");
        // An empty nodeSelector value needs the label present with an empty value.
        let empty_value = template(json!({"nodeSelector": {"flag": ""}}));
        assert_eq!(decide(&empty_value, &node("n", &[("flag", "")])), RUN);
        assert_eq!(decide(&empty_value, &node("n", &[])), DO_NOT_RUN);
        assert_eq!(decide(&template(json!({"nodeSelector": {}})), &n), RUN);
    }

    #[test]
    fn node_conditions_and_unschedulable_are_never_read() {
        let mut n = with_conditions(
            node("sick", &[]),
            &[("Ready", "False"), ("NetworkUnavailable", "True"), ("MemoryPressure", "True"), ("DiskPressure", "True")],
        );
        n.unschedulable = true;
        n.allocatable = Resources::default();
        assert_eq!(decide(&template(json!({})), &n), RUN);
    }

    // ----------------------------------------------------------------------------------------------------
    // Taints and tolerations
    // ----------------------------------------------------------------------------------------------------

    #[test]
    fn toleration_matching() {
        let rows: Vec<(&str, Value, Vec<Taint>, Placement)> = vec![
            (
                "empty key + Exists tolerates every taint",
                json!([{"operator": "Exists"}]),
                vec![taint("a", "1", "NoSchedule"), taint("b", "", "NoExecute")],
                RUN,
            ),
            (
                "empty key + Exists restricted to NoSchedule leaves NoExecute",
                json!([{"operator": "Exists", "effect": "NoSchedule"}]),
                vec![taint("a", "1", "NoSchedule"), taint("b", "", "NoExecute")],
                DO_NOT_RUN,
            ),
            (
                "empty effect matches NoSchedule and NoExecute",
                json!([{"key": "dedicated", "operator": "Exists"}]),
                vec![taint("dedicated", "x", "NoSchedule"), taint("dedicated", "y", "NoExecute")],
                RUN,
            ),
            (
                "Equal needs the same value",
                json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]),
                vec![taint("dedicated", "user1", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "explicit Equal with the same value",
                json!([{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]),
                vec![taint("dedicated", "user1", "NoSchedule")],
                RUN,
            ),
            (
                "Equal without value tolerates a taint without value",
                json!([{"key": "dedicated", "effect": "NoExecute"}]),
                vec![taint("dedicated", "", "NoExecute")],
                RUN,
            ),
            (
                "Equal without value does not tolerate a valued taint",
                json!([{"key": "dedicated", "effect": "NoExecute"}]),
                vec![taint("dedicated", "x", "NoExecute")],
                DO_NOT_RUN,
            ),
            (
                "Exists ignores a toleration value",
                json!([{"key": "dedicated", "operator": "Exists", "value": "other"}]),
                vec![taint("dedicated", "user1", "NoSchedule")],
                RUN,
            ),
            (
                "Gt/Lt tolerations never match (feature gate off)",
                json!([{"key": "level", "operator": "Gt", "value": "3"}, {"key": "level", "operator": "Lt", "value": "9"}]),
                vec![taint("level", "5", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "a Gt/Lt toleration is not an Equal one either",
                json!([{"key": "level", "operator": "Gt", "value": "5"}, {"key": "level", "operator": "Lt", "value": "5"}]),
                vec![taint("level", "5", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "unknown operator never matches",
                json!([{"key": "dedicated", "operator": "exists"}]),
                vec![taint("dedicated", "user1", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "effect must equal when set",
                json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
                vec![taint("dedicated", "user1", "NoExecute")],
                DO_NOT_RUN,
            ),
            (
                "key must equal when set",
                json!([{"key": "dedicated", "operator": "Exists"}]),
                vec![taint("dedicated2", "user1", "NoSchedule")],
                KEEP_EXISTING,
            ),
            ("PreferNoSchedule taints are ignored", json!([]), vec![taint("soft", "x", "PreferNoSchedule")], RUN),
            ("unknown taint effects are ignored", json!([]), vec![taint("odd", "x", "Sometimes")], RUN),
            (
                "a PreferNoSchedule toleration does not tolerate NoSchedule",
                json!([{"key": "dedicated", "operator": "Exists", "effect": "PreferNoSchedule"}]),
                vec![taint("dedicated", "user1", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "tolerationSeconds is ignored",
                json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]),
                vec![taint("dedicated", "user1", "NoExecute")],
                RUN,
            ),
            (
                "tolerationSeconds 0 is ignored too",
                json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}]),
                vec![taint("dedicated", "user1", "NoExecute")],
                RUN,
            ),
            (
                "empty key + Equal matches any key with that value",
                json!([{"operator": "Equal", "value": "x"}]),
                vec![taint("foo", "x", "NoSchedule"), taint("bar", "x", "NoExecute")],
                RUN,
            ),
            (
                "empty key + Equal with another value",
                json!([{"operator": "Equal", "value": "x"}]),
                vec![taint("foo", "y", "NoSchedule")],
                KEEP_EXISTING,
            ),
            (
                "several tolerations for one key: a later one matches",
                json!([{"key": "k", "value": "1"}, {"key": "k", "value": "2"}, {"key": "k", "value": "3"}, {"key": "j", "operator": "Exists"}]),
                vec![taint("k", "3", "NoSchedule")],
                RUN,
            ),
            (
                "untolerated NoSchedule and NoExecute",
                json!([]),
                vec![taint("a", "", "NoSchedule"), taint("b", "", "NoExecute")],
                DO_NOT_RUN,
            ),
            (
                "untolerated NoSchedule, tolerated NoExecute",
                json!([{"key": "b", "operator": "Exists"}]),
                vec![taint("a", "", "NoSchedule"), taint("b", "", "NoExecute")],
                KEEP_EXISTING,
            ),
        ];
        for (name, tolerations, taints, want) in rows {
            let ds = template(json!({"tolerations": tolerations}));
            assert_eq!(decide(&ds, &tainted(node("tainted", &[]), taints)), want, "{name}");
        }
    }

    #[test]
    fn default_tolerations_cover_node_lifecycle_taints() {
        let ds = template(json!({}));
        for (key, effect) in [
            (TAINT_NODE_NOT_READY, "NoExecute"),
            (TAINT_NODE_UNREACHABLE, "NoExecute"),
            (TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
            (TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
            (TAINT_NODE_PID_PRESSURE, "NoSchedule"),
            (TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
        ] {
            let n = tainted(node("n", &[]), vec![taint(key, "", effect)]);
            assert_eq!(decide(&ds, &n), RUN, "{key}:{effect}");
        }
        // The defaults are effect-specific: not-ready with NoSchedule is not covered.
        let n = tainted(node("n", &[]), vec![taint(TAINT_NODE_NOT_READY, "", "NoSchedule")]);
        assert_eq!(decide(&ds, &n), KEEP_EXISTING);
        // A user toleration with tolerationSeconds on not-ready is replaced by the infinite default.
        let user = template(json!({"tolerations": [
            {"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]}));
        let n = tainted(node("n", &[]), vec![taint(TAINT_NODE_NOT_READY, "", "NoExecute")]);
        assert_eq!(decide(&user, &n), RUN);
    }

    #[test]
    fn default_tolerations_table() {
        let expected = |host_network: bool| {
            let mut v = vec![
                (TAINT_NODE_NOT_READY, "NoExecute"),
                (TAINT_NODE_UNREACHABLE, "NoExecute"),
                (TAINT_NODE_DISK_PRESSURE, "NoSchedule"),
                (TAINT_NODE_MEMORY_PRESSURE, "NoSchedule"),
                (TAINT_NODE_PID_PRESSURE, "NoSchedule"),
                (TAINT_NODE_UNSCHEDULABLE, "NoSchedule"),
            ];
            if host_network {
                v.push((TAINT_NODE_NETWORK_UNAVAILABLE, "NoSchedule"));
            }
            v
        };
        for host_network in [false, true] {
            let got = default_tolerations(host_network);
            let summary: Vec<(&str, &str)> =
                got.iter().map(|t| (t.key.as_deref().unwrap(), t.effect.as_deref().unwrap())).collect();
            assert_eq!(summary, expected(host_network));
            for t in &got {
                assert_eq!(t.operator.as_deref(), Some("Exists"));
                assert_eq!(t.value, None);
                assert_eq!(t.toleration_seconds, None, "defaults tolerate forever");
            }
        }
    }

    #[test]
    fn add_default_tolerations_semantics() {
        // Empty spec: the six defaults; hostNetwork adds network-unavailable last.
        let mut s = spec(json!({}));
        add_default_tolerations(&mut s);
        assert_eq!(s.tolerations, Some(default_tolerations(false)));
        let mut s = spec(json!({"hostNetwork": true}));
        add_default_tolerations(&mut s);
        assert_eq!(s.tolerations, Some(default_tolerations(true)));

        // A user toleration identical by (key, operator, value, effect) is replaced in place, dropping its
        // tolerationSeconds; unrelated user tolerations stay in order.
        let custom = toleration(json!({"key": "dedicated", "operator": "Exists"}));
        let mut s = spec(json!({"tolerations": [
            {"key": TAINT_NODE_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
            {"key": "dedicated", "operator": "Exists"},
            {"key": TAINT_NODE_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "value": "", "tolerationSeconds": 30},
        ]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.clone().unwrap();
        let defaults = default_tolerations(false);
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], defaults[0], "not-ready replaced in place, tolerationSeconds dropped");
        assert_eq!(got[1], custom);
        assert_eq!(got[2], defaults[1], "unreachable replaced (absent value equals empty value)");
        assert_eq!(&got[3..], &defaults[2..]);
        assert!(got.iter().all(|t| t.toleration_seconds.is_none()));

        // Already identical: nothing duplicated, order kept; the helper is idempotent.
        let mut again = s.clone();
        add_default_tolerations(&mut again);
        assert_eq!(again, s);

        // Same key but another operator is not the same toleration: the default is appended, the user's kept.
        let mut s = spec(json!({"tolerations": [
            {"key": TAINT_NODE_NOT_READY, "operator": "Equal", "value": "", "effect": "NoExecute", "tolerationSeconds": 60}]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0].toleration_seconds, Some(60));
        assert_eq!(got[1], defaults[0]);

        // hostNetwork: a user network-unavailable toleration with seconds is replaced too.
        let mut s = spec(json!({"hostNetwork": true, "tolerations": [
            {"key": TAINT_NODE_NETWORK_UNAVAILABLE, "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]}));
        add_default_tolerations(&mut s);
        let got = s.tolerations.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], default_tolerations(true)[6]);
    }

    #[test]
    fn add_or_update_toleration_with_duplicates() {
        let default = default_tolerations(false).remove(0);
        let with_seconds = |s: i64| {
            let mut t = default.clone();
            t.toleration_seconds = Some(s);
            t
        };
        // Every matching entry is replaced when none is identical.
        let mut list = vec![with_seconds(1), with_seconds(2)];
        assert!(add_or_update_toleration(&mut list, &default));
        assert_eq!(list, vec![default.clone(), default.clone()]);
        // An identical entry anywhere means no change at all (upstream returns before committing).
        let mut list = vec![with_seconds(1), default.clone()];
        assert!(!add_or_update_toleration(&mut list, &default));
        assert_eq!(list, vec![with_seconds(1), default.clone()]);
    }

    // ----------------------------------------------------------------------------------------------------
    // explain(): reasons and sentences
    // ----------------------------------------------------------------------------------------------------

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
    fn one_policy_over_a_fleet() {
        // A compiled policy is reusable: the same decisions as fresh evaluations, node after node.
        let ds = template(json!({
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}, {"key": "gen", "operator": "Gt", "values": ["3"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["c"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]},
            ]}}},
        }));
        let policy = PlacementPolicy::new(&ds);
        let zones = ["a", "b", "c", "d"];
        let nodes: Vec<Node> = (0..40)
            .map(|i| {
                let gen_label = (i % 6).to_string();
                let mut labels = vec![("zone", zones[i % 4]), ("gen", gen_label.as_str())];
                if !i.is_multiple_of(3) {
                    labels.push(("pool", "gpu"));
                }
                let mut n = node(&format!("node-{i}"), &labels);
                if i.is_multiple_of(5) {
                    n.taints.push(taint("nvidia.com/gpu", "present", "NoSchedule"));
                }
                if i.is_multiple_of(7) {
                    n.taints.push(taint("maintenance", "", "NoExecute"));
                }
                n
            })
            .collect();
        let mut runs = 0;
        for n in &nodes {
            let placement = policy.evaluate(n);
            assert_eq!(placement, decide(&ds, n), "{}", n.name);
            let i: usize = n.name["node-".len()..].parse().unwrap();
            let gen_ok = i % 6 > 3;
            let affinity_ok = ((zones[i % 4] == "a" || zones[i % 4] == "b") && gen_ok) || zones[i % 4] == "c" || i == 7;
            let expected = if i.is_multiple_of(3) || !affinity_ok || i.is_multiple_of(7) { DO_NOT_RUN } else { RUN };
            assert_eq!(placement, expected, "{}", n.name);
            runs += usize::from(placement.should_run);
        }
        assert!(runs > 0, "the fleet case must exercise should_run");
        // The evaluator (what the planner uses) decides the same, node after node.
        let mut evaluator = policy.evaluator();
        for n in &nodes {
            assert_eq!(evaluator.evaluate(n), policy.evaluate(n), "{}", n.name);
        }
    }

    #[test]
    fn the_evaluator_reuses_label_lookups_only_for_the_same_keys() {
        let policy = PlacementPolicy::new(&template(json!({
            "nodeSelector": {"pool": "web"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "rack", "operator": "DoesNotExist"}]},
            ]}}},
        })));
        // Consecutive nodes whose keys differ in one key at the same position, in number, or not at all (values
        // differ): a reused lookup would read the wrong label or a missing one.
        let shapes: Vec<Vec<(&str, &str)>> = vec![
            vec![("pool", "web"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "b")],
            vec![("pool", "web"), ("zonf", "a")],
            vec![("pool", "web"), ("rack", "r1"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "a")],
            vec![("pool", "db"), ("zone", "a")],
            vec![("pool", "web")],
            vec![],
            vec![("a", "1"), ("pool", "web"), ("zone", "a")],
            vec![("pool", "web"), ("zone", "a")],
        ];
        let nodes: Vec<Node> = shapes.iter().enumerate().map(|(i, l)| node(&format!("n{i}"), l)).collect();
        let mut evaluator = policy.evaluator();
        let decided: Vec<bool> = nodes.iter().map(|n| evaluator.evaluate(n).should_run).collect();
        let fresh: Vec<bool> = nodes.iter().map(|n| policy.evaluate(n).should_run).collect();
        assert_eq!(decided, fresh);
        assert_eq!(decided, [true, false, false, false, true, false, false, false, true, true]);
    }

    // ----------------------------------------------------------------------------------------------------
    // Fast lookup internals: the one-pass label view must never change a decision
    // ----------------------------------------------------------------------------------------------------

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

    #[test]
    fn reason_is_machine_readable() {
        // Distinct variants compare unequal; fields are public for callers building their own messages.
        let a = Reason::NodeSelectorMismatch { key: "k".into(), want: "v".into(), got: None };
        let b = Reason::NodeSelectorMismatch { key: "k".into(), want: "v".into(), got: Some(String::new()) };
        assert_ne!(a, b);
        assert_eq!(b.sentence(), "node selector: want k=v, node has k=");
    }
}
