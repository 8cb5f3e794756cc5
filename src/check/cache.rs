//! The search's memory: which operations are linearized ([`Bitset`]), the model states seen so
//! far ([`StateTable`], so that the search moves `u32`s instead of cloning states), and the set
//! of visited (linearized set, state) configurations ([`VisitedSet`]).
//!
//! Everything is hashed with [`FastHasher`], a multiply-rotate hash in the style of rustc's
//! FxHash: the keys are our own bit patterns and strings from a file we were asked to check,
//! so speed matters and HashDoS resistance does not.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A fast non-cryptographic hasher for the search's tables.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut tail = [0; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

type FastBuild = BuildHasherDefault<FastHasher>;

/// A set of operation indices, one bit each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bitset(Box<[u64]>);

impl Bitset {
    /// An empty set able to hold `0..bits`.
    pub fn new(bits: usize) -> Bitset {
        Bitset(vec![0; bits.div_ceil(64)].into_boxed_slice())
    }

    /// Adds `bit`.
    pub fn set(&mut self, bit: u32) {
        self.0[(bit / 64) as usize] |= 1 << (bit % 64);
    }

    /// Removes `bit`.
    pub fn clear(&mut self, bit: u32) {
        self.0[(bit / 64) as usize] &= !(1 << (bit % 64));
    }
}

/// Model states by id: each distinct state is stored (and hashed for lookup) once.
#[derive(Debug)]
pub(crate) struct StateTable<S> {
    states: Vec<S>,
    ids: HashMap<S, u32, FastBuild>,
}

impl<S: Clone + Eq + Hash> StateTable<S> {
    /// An empty table.
    pub fn new() -> StateTable<S> {
        StateTable {
            states: Vec::new(),
            ids: HashMap::default(),
        }
    }

    /// The id of `state`, adding it if it is new.
    pub fn intern(&mut self, state: S) -> u32 {
        if let Some(&id) = self.ids.get(&state) {
            return id;
        }
        let id = self.states.len() as u32;
        self.states.push(state.clone());
        self.ids.insert(state, id);
        id
    }

    /// The state with id `id` (an id this table handed out).
    pub fn get(&self, id: u32) -> &S {
        &self.states[id as usize]
    }
}

/// The (linearized set, state id) configurations the search has reached.
#[derive(Debug, Default)]
pub(crate) struct VisitedSet {
    /// Each configuration as the bitset's words followed by the state id, so that lookups can
    /// borrow a scratch slice instead of building an owned key.
    seen: HashSet<Box<[u64]>, FastBuild>,
    scratch: Vec<u64>,
}

impl VisitedSet {
    /// Records a configuration: `true` if it was not seen before.
    pub fn insert(&mut self, linearized: &Bitset, state: u32) -> bool {
        self.scratch.clear();
        self.scratch.extend_from_slice(&linearized.0);
        self.scratch.push(u64::from(state));
        if self.seen.contains(self.scratch.as_slice()) {
            return false;
        }
        self.seen.insert(self.scratch.as_slice().into())
    }

    /// Number of configurations recorded.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_sets_and_clears_across_word_boundaries() {
        let mut bits = Bitset::new(130);
        let empty = bits.clone();
        for bit in [0, 63, 64, 129] {
            bits.set(bit);
        }
        assert_ne!(bits, empty);
        for bit in [0, 63, 64, 129] {
            bits.clear(bit);
        }
        assert_eq!(bits, empty);
    }

    #[test]
    fn state_table_gives_equal_states_one_id() {
        let mut table = StateTable::new();
        let a = table.intern("a".to_string());
        let b = table.intern("b".to_string());
        assert_ne!(a, b);
        assert_eq!(table.intern("a".to_string()), a);
        assert_eq!(table.get(b), "b");
    }

    #[test]
    fn visited_set_reports_only_new_configurations() {
        let mut visited = VisitedSet::default();
        let mut bits = Bitset::new(3);
        assert!(visited.insert(&bits, 0));
        assert!(!visited.insert(&bits, 0));
        assert!(visited.insert(&bits, 1));
        bits.set(2);
        assert!(visited.insert(&bits, 0));
        assert_eq!(visited.len(), 3);
    }

    #[test]
    fn fast_hasher_distinguishes_lengths_and_contents() {
        let hash = |bytes: &[u8]| {
            let mut hasher = FastHasher::default();
            hasher.write(bytes);
            hasher.finish()
        };
        assert_ne!(hash(b""), hash(b"\0"));
        assert_ne!(hash(b"ab"), hash(b"ba"));
        assert_ne!(hash(b"12345678"), hash(b"12345678\0"));
    }
}
