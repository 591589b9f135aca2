//! A generational slab: entities addressed by index, with a generation that
//! makes a stale key (to a freed and reused slot) harmless.
//!
//! Events carry keys, never references; an event whose request has already
//! ended (a reply after its timeout, a completion after a crash) finds its key
//! stale and is ignored.

/// The address of a slab entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The slot it addresses (stable while its entry is live), for a side
    /// table beside the slab.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self.index as usize
    }

    /// A key no slab ever hands out (it would need 2^32 live entries): for
    /// a field that must hold a key and has none.
    pub const DANGLING: Key = Key {
        index: u32::MAX,
        generation: u32::MAX,
    };
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Storage for live entities of one kind; memory is bounded by the most that
/// were ever alive at once.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `value` and returns its key.
    #[inline]
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                debug_assert!(slot.value.is_none());
                // A free slot holds `None`: nothing to drop, and saying so
                // spares the drop check of the old value on every insert.
                std::mem::forget(slot.value.replace(value));
                Key {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index =
                    u32::try_from(self.slots.len()).expect("more than 4 billion live entities");
                self.slots.push(Slot {
                    generation: 0,
                    value: Some(value),
                });
                Key {
                    index,
                    generation: 0,
                }
            }
        }
    }

    /// The entry at `key`, if it is still live.
    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// The entry at `key`, mutably, if it is still live.
    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation == key.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Removes the entry at `key`, if it is still live.
    #[inline]
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Keys of the live entries for which `keep` holds, in slot order.
    pub fn keys_where(&self, mut keep: impl FnMut(&T) -> bool) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match &slot.value {
                Some(v) if keep(v) => Some(Key {
                    index: i as u32,
                    generation: slot.generation,
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_are_harmless() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(slab.get(a), None, "a stale key must not see the new entry");
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.keys_where(|_| true), vec![b]);
    }
}
