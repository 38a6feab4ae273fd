//! The labels of a node or pod: interned key/value pairs in one allocation, sorted by key. A node's eight
//! labels take 128 bytes instead of a B-tree of sixteen heap strings, and a compiled policy finds a key by
//! comparing pointers.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Index;

use super::atom::Atom;

/// Interned labels, sorted by key, keys distinct.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LabelSet(Box<[(Atom, Atom)]>);

impl LabelSet {
    pub fn new() -> Self {
        LabelSet::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Atom, &Atom)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.0[i].1.as_str())
    }

    /// The value of an interned key: a pointer compare per label, no string read.
    pub fn get_atom(&self, key: &Atom) -> Option<&Atom> {
        self.0.iter().find(|(k, _)| k.is(key)).map(|(_, v)| v)
    }

    /// The value of the pair at `position` in key order.
    pub fn value_at(&self, position: usize) -> Option<&Atom> {
        self.0.get(position).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()
    }

    /// Sets a label; returns the value it replaced, as a map does.
    pub fn insert(&mut self, key: impl Into<Atom>, value: impl Into<Atom>) -> Option<Atom> {
        let (key, value) = (key.into(), value.into());
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                let mut pairs = std::mem::take(&mut self.0).into_vec();
                pairs.insert(i, (key, value));
                self.0 = pairs.into_boxed_slice();
                None
            }
        }
    }

    /// Removes a label; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Atom> {
        let i = self.position(key)?;
        let mut pairs = std::mem::take(&mut self.0).into_vec();
        let (_, value) = pairs.remove(i);
        self.0 = pairs.into_boxed_slice();
        Some(value)
    }

    pub fn clear(&mut self) {
        self.0 = Box::default();
    }

    /// The labels as an ordinary map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

/// As a map collects: a later pair wins over an earlier one with the same key.
impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut pairs: Vec<(Atom, Atom)> =
            iter.into_iter().map(|(k, v)| (Atom::new(k.as_ref()), Atom::new(v.as_ref()))).collect();
        // Stable, so equal keys keep their order and the last one is kept below.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Atom, Atom)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match out.last_mut() {
                Some(last) if last.0.is(&pair.0) => *last = pair,
                _ => out.push(pair),
            }
        }
        LabelSet(out.into_boxed_slice())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for LabelSet {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<&BTreeMap<String, String>> for LabelSet {
    fn from(map: &BTreeMap<String, String>) -> Self {
        map.iter().collect()
    }
}

impl From<BTreeMap<String, String>> for LabelSet {
    fn from(map: BTreeMap<String, String>) -> Self {
        map.iter().collect()
    }
}

impl Index<&str> for LabelSet {
    type Output = str;
    fn index(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| panic!("no label {key:?}"))
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut labels: LabelSet = [("zone", "a"), ("app", "x"), ("zone", "b")].into_iter().collect();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels.get("zone"), Some("b"), "the later pair wins");
        assert_eq!(labels.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["app", "zone"]);
        labels.insert("tier", "web");
        labels.insert("app", "y");
        assert_eq!(&labels["app"], "y");
        assert_eq!(labels.get_atom(&Atom::new("tier")).map(Atom::as_str), Some("web"));
        assert_eq!(labels.remove("zone").as_deref(), Some("b"));
        assert!(!labels.contains_key("zone"));
        assert_eq!(labels.to_map(), BTreeMap::from([("app".into(), "y".into()), ("tier".into(), "web".into())]));
        assert_eq!(labels, LabelSet::from([("tier", "web"), ("app", "y")]));
    }
}
