//! A small map for the receiver's per-stream and per-group counters, tuned for the hot path:
//! datagrams come in runs from one stream to one group, so the entry used last is checked
//! before any hashing.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;

// A fast, deterministic hasher (no random seed: the core draws no random numbers). The tables
// are bounded (`max_streams`, `max_groups`), so a flood of colliding keys costs little.
use foldhash::fast::FixedState;

/// Entries in a vector, an index from key to position, and the position used last.
#[derive(Debug, Clone)]
pub(crate) struct Table<K, V> {
    entries: Vec<(K, V)>,
    index: HashMap<K, usize, FixedState>,
    last: Cell<usize>,
}

impl<K: Copy + Eq + Hash, V> Table<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::with_hasher(FixedState::default()),
            last: Cell::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of `key`, the last one used first.
    fn position(&self, key: &K) -> Option<usize> {
        let last = self.last.get();
        match self.entries.get(last) {
            Some((k, _)) if k == key => Some(last),
            _ => {
                let i = *self.index.get(key)?;
                self.last.set(i);
                Some(i)
            }
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = self.position(key)?;
        self.entries.get(i).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.position(key)?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Inserts `value` under `key` (replacing an entry with that key) and returns it.
    pub(crate) fn insert(&mut self, key: K, value: V) -> &mut V {
        let i = match self.position(&key) {
            Some(i) => {
                self.entries[i].1 = value;
                i
            }
            None => {
                self.entries.push((key, value));
                let i = self.entries.len() - 1;
                self.index.insert(key, i);
                i
            }
        };
        self.last.set(i);
        &mut self.entries[i].1
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.entries.swap_remove(i);
        // The entry that was last now sits at `i`.
        if let Some((moved, _)) = self.entries.get(i) {
            if let Some(slot) = self.index.get_mut(moved) {
                *slot = i;
            }
        }
        self.last.set(0);
        Some(value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_through_inserts_and_removals() {
        let mut t: Table<u32, u32> = Table::new();
        let mut reference = std::collections::BTreeMap::new();
        // A deterministic mix of inserts, lookups and removals.
        let mut x: u32 = 7;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 50;
            match x % 4 {
                0 | 1 => {
                    *t.insert(key, key * 10) += 1;
                    reference.insert(key, key * 10 + 1);
                }
                2 => assert_eq!(t.remove(&key), reference.remove(&key)),
                _ => {
                    if let Some(v) = t.get_mut(&key) {
                        *v += 1;
                    }
                    if let Some(v) = reference.get_mut(&key) {
                        *v += 1;
                    }
                }
            }
            assert_eq!(t.len(), reference.len());
            assert_eq!(t.get(&key), reference.get(&key));
        }
        let mut all: Vec<(u32, u32)> = t.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_unstable();
        assert_eq!(all, reference.into_iter().collect::<Vec<_>>());
        assert_eq!(t.values().count(), t.len());
        let empty = t.values().next().is_none();
        assert_eq!(t.is_empty(), empty);
    }
}
