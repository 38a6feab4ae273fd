//! A small set of interned strings that finds a member in one probe. Atoms are compared by address, so the
//! set keeps a tiny table indexed by bits of the member addresses, with the bits chosen when the set is built
//! so that no two members share a bucket; a lookup is a shift, a mask and one compare.

use super::atom::Atom;

/// Stable indexes (insertion order) let compiled requirements refer to a member by position.
#[derive(Clone, Debug, Default)]
pub(crate) struct AtomSet {
    members: Vec<Atom>,
    /// (address, index) per bucket; address 0 marks an empty bucket. Empty when no collision-free layout was
    /// found (then lookups scan `members`).
    table: Box<[(usize, usize)]>,
    shift: u32,
    mask: usize,
}

/// Largest table tried, in bits; sets are a handful of label keys or values.
const MAX_TABLE_BITS: u32 = 10;

impl AtomSet {
    /// A set of the distinct `items`, in sorted order (deterministic).
    pub(crate) fn sorted<'a>(items: impl IntoIterator<Item = &'a String>) -> AtomSet {
        let mut atoms: Vec<Atom> = items.into_iter().map(|s| Atom::new(s)).collect();
        atoms.sort_unstable();
        atoms.dedup();
        let mut set = AtomSet { members: atoms, ..AtomSet::default() };
        set.index();
        set
    }

    /// The index of `s`, appending it when new.
    pub(crate) fn intern(&mut self, s: &str) -> usize {
        let atom = Atom::new(s);
        if let Some(index) = self.find(&atom) {
            return index;
        }
        self.members.push(atom);
        self.index();
        self.members.len() - 1
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    #[inline]
    pub(crate) fn find(&self, atom: &Atom) -> Option<usize> {
        let addr = atom.addr();
        if self.table.is_empty() {
            return self.members.iter().position(|member| member.addr() == addr);
        }
        let (member, index) = self.table[(addr >> self.shift) & self.mask];
        (member == addr).then_some(index)
    }

    pub(crate) fn contains(&self, atom: &Atom) -> bool {
        self.find(atom).is_some()
    }

    /// Picks the smallest table and the address bits that separate every member.
    fn index(&mut self) {
        self.table = Box::default();
        if self.members.is_empty() {
            return;
        }
        let min_bits = usize::BITS - (self.members.len() - 1).leading_zeros();
        for bits in min_bits.max(2)..=MAX_TABLE_BITS {
            let mask = (1usize << bits) - 1;
            // Heap addresses are 16-byte aligned: the low four bits never separate anything.
            for shift in 4..=24 {
                let mut table = vec![(0usize, 0usize); mask + 1];
                let separated = self.members.iter().enumerate().all(|(index, member)| {
                    let bucket = &mut table[(member.addr() >> shift) & mask];
                    let free = bucket.0 == 0;
                    *bucket = (member.addr(), index);
                    free
                });
                if separated {
                    self.table = table.into_boxed_slice();
                    self.shift = shift;
                    self.mask = mask;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_and_only_members() {
        let names: Vec<String> = (0..40).map(|i| format!("example.com/key-{i}")).collect();
        let set = AtomSet::sorted(&names);
        assert_eq!(set.len(), 40);
        for name in &names {
            let index = set.find(&Atom::new(name)).expect("member");
            assert_eq!(set.members[index].as_str(), name);
        }
        for i in 0..200 {
            assert!(!set.contains(&Atom::new(&format!("example.com/other-{i}"))));
        }
        let mut grown = AtomSet::default();
        assert_eq!(grown.intern("a"), 0);
        assert_eq!(grown.intern("b"), 1);
        assert_eq!(grown.intern("a"), 0);
        assert!(!grown.contains(&Atom::new("c")));
    }
}
