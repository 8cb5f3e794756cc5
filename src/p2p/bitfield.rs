//! A fixed-size piece bitfield in BitTorrent order (piece 0 is the high bit of byte 0).

/// Which pieces a peer holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bitfield {
    bits: Vec<u8>,
    len: u32,
}

impl Bitfield {
    /// `len` pieces, none held.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bits: vec![0; len.div_ceil(8) as usize],
            len,
        }
    }

    /// From wire bytes; `None` when the length is wrong or spare bits are set (BEP 3).
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<Bitfield> {
        if bytes.len() != len.div_ceil(8) as usize {
            return None;
        }
        let b = Bitfield {
            bits: bytes.to_vec(),
            len,
        };
        let spare = (b.bits.len() as u32 * 8) - len;
        if spare > 0 && b.bits.last().is_some_and(|l| l & ((1u8 << spare) - 1) != 0) {
            return None;
        }
        Some(b)
    }

    /// Number of pieces.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether there are no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `i` is held.
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bits[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Marks piece `i` held (ignored when out of range).
    pub fn set(&mut self, i: u32) {
        if i < self.len {
            self.bits[(i / 8) as usize] |= 0x80 >> (i % 8);
        }
    }

    /// Marks piece `i` missing.
    pub fn clear(&mut self, i: u32) {
        if i < self.len {
            self.bits[(i / 8) as usize] &= !(0x80 >> (i % 8));
        }
    }

    /// Pieces held.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// Whether every piece is held.
    pub fn is_complete(&self) -> bool {
        self.count() == self.len
    }

    /// Sets every bit set in `other` (same length; otherwise a no-op).
    pub fn union_with(&mut self, other: &Bitfield) {
        if other.len == self.len {
            self.bits
                .iter_mut()
                .zip(&other.bits)
                .for_each(|(a, b)| *a |= b);
        }
    }

    /// Wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Held pieces, in order.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_bittorrent_order_and_spare_bits_are_rejected() {
        let mut b = Bitfield::new(10);
        b.set(0);
        b.set(9);
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count(), 2);
        assert!(Bitfield::from_bytes(&[0x80, 0x40], 10).is_some());
        assert!(Bitfield::from_bytes(&[0x80, 0x20], 10).is_none());
        assert!(Bitfield::from_bytes(&[0x80], 10).is_none());
    }
}
