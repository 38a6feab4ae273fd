//! Interned strings. Label keys and values, taint keys and node names repeat across thousands of nodes and
//! pods; an [`Atom`] stores each distinct string once, and two atoms are equal exactly when they point to the
//! same allocation, so matching compares pointers instead of bytes.
//!
//! The table is process-wide (nodes and pods are built outside any view) and holds one strong reference per
//! string; strings nobody else holds are swept when the table has doubled since the last sweep, so a fleet
//! whose nodes come and go does not grow it without bound.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

/// An interned, reference-counted string. One pointer wide.
#[derive(Clone)]
pub struct Atom(Arc<Box<str>>);

/// The table's entry: hashed and compared by content, so it can be looked up by `&str`.
struct Entry(Arc<Box<str>>);

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self.0).hash(state)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        **self.0 == **other.0
    }
}

impl Eq for Entry {}

#[derive(Default)]
struct Table {
    entries: HashSet<Entry>,
    /// Sweep when the table reaches this size.
    sweep_at: usize,
}

/// Below this many strings the table is never swept.
const MIN_SWEEP: usize = 4096;

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(Table { sweep_at: MIN_SWEEP, ..Table::default() }));

impl Atom {
    /// The atom of `s`, shared with every other atom of an equal string.
    pub fn new(s: &str) -> Atom {
        let mut table = TABLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = table.entries.get(s) {
            return Atom(Arc::clone(&entry.0));
        }
        if table.entries.len() >= table.sweep_at {
            // Only the table holds these; an atom cannot be cloned from the table without this lock.
            table.entries.retain(|e| Arc::strong_count(&e.0) > 1);
            table.sweep_at = (table.entries.len() * 2).max(MIN_SWEEP);
        }
        let arc = Arc::new(Box::<str>::from(s));
        table.entries.insert(Entry(Arc::clone(&arc)));
        Atom(arc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared allocation's address: equal exactly for equal atoms.
    #[inline]
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Whether this is the empty string, without reading the string (a cache miss in a loop over nodes).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.is(&EMPTY)
    }

    /// Pointer identity, which is string equality for atoms.
    pub fn is(&self, other: &Atom) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The empty string, shared so that defaults do not take the table's lock.
static EMPTY: LazyLock<Atom> = LazyLock::new(|| Atom::new(""));

impl Default for Atom {
    fn default() -> Self {
        EMPTY.clone()
    }
}

impl Deref for Atom {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Atom {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Atom {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.is(other)
    }
}

impl Eq for Atom {}

/// By content, so that `Borrow<str>` lookups in hash maps agree with it.
impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

/// By content: sorted output stays in string order.
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.is(other) { std::cmp::Ordering::Equal } else { self.as_str().cmp(other.as_str()) }
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Atom {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Atom> for str {
    fn eq(&self, other: &Atom) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Atom> for &str {
    fn eq(&self, other: &Atom) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Atom> for String {
    fn eq(&self, other: &Atom) -> bool {
        self == other.as_str()
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::new(s)
    }
}

impl From<&String> for Atom {
    fn from(s: &String) -> Self {
        Atom::new(s)
    }
}

impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::new(&s)
    }
}

impl From<&Atom> for String {
    fn from(a: &Atom) -> Self {
        a.as_str().to_owned()
    }
}

impl From<Atom> for String {
    fn from(a: Atom) -> Self {
        a.as_str().to_owned()
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_atom() {
        let a = Atom::new("topology.kubernetes.io/zone");
        let b = Atom::from(String::from("topology.kubernetes.io/zone"));
        assert!(a.is(&b));
        assert_eq!(a, b);
        assert_ne!(a, Atom::new("topology.kubernetes.io/region"));
        assert_eq!(a, "topology.kubernetes.io/zone");
        assert!(Atom::default().is_empty());
        assert!(Atom::new("").is_empty());
        assert!(!a.is_empty());
    }

    #[test]
    fn unused_strings_are_swept_and_held_ones_survive() {
        let held = Atom::new("atom-test-held");
        for i in 0..3 * MIN_SWEEP {
            drop(Atom::new(&format!("atom-test-transient-{i}")));
        }
        // A sweep ran at least once; the held atom is still the one the table hands out.
        assert!(Atom::new("atom-test-held").is(&held));
        let len = TABLE.lock().unwrap().entries.len();
        assert!(len < 3 * MIN_SWEEP, "table kept {len} strings");
    }
}
