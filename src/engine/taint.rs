//! A node's taints, interned: a taint is four words instead of a k8s-openapi `Taint` and its three heap
//! strings, and placement matches keys and effects by pointer.

use std::ops::Deref;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::atom::Atom;

/// One taint of a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeTaint {
    pub key: Atom,
    /// `None` when the taint has no value (kept apart from an empty one, as the API does).
    pub value: Option<Atom>,
    pub effect: Atom,
    /// Rarely set (the node lifecycle controller's NoExecute taints), so kept out of line.
    pub time_added: Option<Box<Time>>,
}

impl NodeTaint {
    /// The value, "" when absent.
    pub fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }

    pub fn to_k8s(&self) -> Taint {
        Taint {
            key: self.key.to_string(),
            value: self.value.as_ref().map(Atom::to_string),
            effect: self.effect.to_string(),
            time_added: self.time_added.as_deref().cloned(),
        }
    }
}

impl From<&Taint> for NodeTaint {
    fn from(t: &Taint) -> Self {
        NodeTaint {
            key: Atom::new(&t.key),
            value: t.value.as_deref().map(Atom::new),
            effect: Atom::new(&t.effect),
            time_added: t.time_added.clone().map(Box::new),
        }
    }
}

impl From<Taint> for NodeTaint {
    fn from(t: Taint) -> Self {
        NodeTaint::from(&t)
    }
}

/// `v1.TaintEffectNoSchedule`, interned once so that effects compare by pointer.
pub static NO_SCHEDULE: LazyLock<Atom> = LazyLock::new(|| Atom::new("NoSchedule"));
/// `v1.TaintEffectNoExecute`.
pub static NO_EXECUTE: LazyLock<Atom> = LazyLock::new(|| Atom::new("NoExecute"));

/// A node's taints, in the node's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Taints(Box<[NodeTaint]>);

impl Taints {
    /// Appends a taint (rebuilding the list: taints change rarely).
    pub fn push(&mut self, taint: impl Into<NodeTaint>) {
        let mut taints = std::mem::take(&mut self.0).into_vec();
        taints.push(taint.into());
        self.0 = taints.into_boxed_slice();
    }

    /// The taints as the API spells them.
    pub fn to_k8s(&self) -> Vec<Taint> {
        self.0.iter().map(NodeTaint::to_k8s).collect()
    }
}

impl Deref for Taints {
    type Target = [NodeTaint];
    fn deref(&self) -> &[NodeTaint] {
        &self.0
    }
}

impl<T: Into<NodeTaint>> FromIterator<T> for Taints {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Taints(iter.into_iter().map(Into::into).collect())
    }
}

impl From<Vec<Taint>> for Taints {
    fn from(taints: Vec<Taint>) -> Self {
        taints.into_iter().collect()
    }
}

impl From<Vec<NodeTaint>> for Taints {
    fn from(taints: Vec<NodeTaint>) -> Self {
        Taints(taints.into_boxed_slice())
    }
}

impl<'a> IntoIterator for &'a Taints {
    type Item = &'a NodeTaint;
    type IntoIter = std::slice::Iter<'a, NodeTaint>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
