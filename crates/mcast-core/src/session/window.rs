//! A fixed-size ring bitmap of which sequence numbers below the highest one have been seen.

/// Remembers, for the `size` sequence numbers ending at the highest one seen, which arrived.
///
/// Slot `seq % size` holds `seq`'s bit. Every slot inside the window describes exactly its
/// own sequence number: when the highest advances, the slots of the numbers entering the
/// window are cleared.
#[derive(Debug, Clone)]
pub(crate) struct SeqWindow {
    bits: Box<[u64]>,
    size: u64,
}

impl SeqWindow {
    /// The largest window: 2^24 sequence numbers, 2 MiB of bits.
    pub(crate) const MAX: u64 = 1 << 24;

    /// A window of `size` sequence numbers, rounded up to a multiple of 64 and kept within
    /// `64..=MAX`.
    pub(crate) fn new(size: u64) -> Self {
        let words = size.clamp(64, Self::MAX).div_ceil(64);
        Self {
            // At most 2^18 words: the conversion cannot fail on any platform Rust supports.
            bits: vec![0; usize::try_from(words).unwrap_or(1 << 10)].into_boxed_slice(),
            size: words * 64,
        }
    }

    /// How many sequence numbers the window spans.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let i = seq % self.size;
        // `i < size = 64 * bits.len()`, so the index fits.
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Whether `seq`'s bit is set. Meaningful only for `seq` inside the window.
    pub(crate) fn get(&self, seq: u64) -> bool {
        let (w, m) = self.slot(seq);
        self.bits.get(w).is_some_and(|word| word & m != 0)
    }

    /// Sets `seq`'s bit.
    pub(crate) fn set(&mut self, seq: u64) {
        let (w, m) = self.slot(seq);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= m;
        }
    }

    /// Clears the bits of the numbers `from..=to` as they enter the window.
    pub(crate) fn clear_range(&mut self, from: u64, to: u64) {
        if to < from {
            return;
        }
        if to - from >= self.size - 1 {
            self.bits.fill(0);
            return;
        }
        for seq in from..=to {
            let (w, m) = self.slot(seq);
            if let Some(word) = self.bits.get_mut(w) {
                *word &= !m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_rounds_up_to_words() {
        assert_eq!(SeqWindow::new(0).size(), 64);
        assert_eq!(SeqWindow::new(65).size(), 128);
        assert_eq!(SeqWindow::new(1024).size(), 1024);
        assert_eq!(SeqWindow::new(u64::MAX).size(), SeqWindow::MAX);
    }

    #[test]
    fn set_get_clear() {
        let mut w = SeqWindow::new(64);
        w.set(3);
        w.set(u64::MAX);
        assert!(w.get(3) && w.get(u64::MAX));
        assert!(!w.get(4));
        w.clear_range(67, 67); // same slot as 3
        assert!(!w.get(3));
        assert!(w.get(u64::MAX));
        w.clear_range(0, 1000);
        assert!(!w.get(u64::MAX));
    }
}
