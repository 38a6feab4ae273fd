//! A pod's tolerations compiled once (`Toleration.ToleratesTaint` of `k8s.io/api/core/v1/toleration.go`),
//! grouped by key so that one probe finds every toleration for a taint key.

use k8s_openapi::api::core::v1::Toleration;

use crate::engine::atom::Atom;
use crate::engine::atom_set::AtomSet;
use crate::engine::daemonset_util::{
    TAINT_EFFECT_NO_EXECUTE, TAINT_EFFECT_NO_SCHEDULE, TOLERATION_OP_EQUAL, TOLERATION_OP_EXISTS,
};
use crate::engine::taint::NodeTaint;

/// The taint effects placement considers; PreferNoSchedule and unknown effects are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TaintEffect {
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
pub(super) struct TolerationTable {
    /// Empty-key tolerations: they apply to every taint key.
    any_key: Vec<TolerationMatcher>,
    /// Distinct non-empty keys; `by_key[i]` holds the matchers of `keys[i]`.
    keys: AtomSet,
    by_key: Vec<Vec<TolerationMatcher>>,
}

impl TolerationTable {
    pub(super) fn new(tolerations: &[Toleration]) -> Self {
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
    pub(super) fn tolerates(&self, taint: &NodeTaint, effect: TaintEffect) -> bool {
        self.any_key.iter().any(|m| m.tolerates(taint, effect))
            || self.keys.find(&taint.key).is_some_and(|i| self.by_key[i].iter().any(|m| m.tolerates(taint, effect)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::Placement;
    use super::super::fixtures::{DO_NOT_RUN, KEEP_EXISTING, RUN, decide, node, taint, tainted, template};
    use crate::engine::daemonset_util::{
        TAINT_NODE_DISK_PRESSURE, TAINT_NODE_MEMORY_PRESSURE, TAINT_NODE_NOT_READY, TAINT_NODE_PID_PRESSURE,
        TAINT_NODE_UNREACHABLE, TAINT_NODE_UNSCHEDULABLE,
    };
    use k8s_openapi::api::core::v1::Taint;

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
}
