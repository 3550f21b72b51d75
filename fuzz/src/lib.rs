//! What the fuzz targets share: [`Input`], a reader that turns libFuzzer's bytes into the
//! choices of a structured run (a sequence of datagrams, times and configurations).
//!
//! Every read succeeds: once the bytes run out, numbers read as 0 and byte strings as empty, so
//! any input is a valid run and libFuzzer's mutations stay meaningful.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A cursor over the fuzzer's bytes.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// One byte (0 when none is left).
    pub fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// A bool from one byte's low bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A big-endian `u16` (missing bytes read as 0).
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A number below `n` (`n` > 0), from one byte.
    pub fn below(&mut self, n: u8) -> u8 {
        self.u8() % n.max(1)
    }

    /// One of `choices`, picked by one byte.
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        let i = usize::from(self.u8()) % choices.len();
        choices[i]
    }

    /// `N` bytes (zero-padded when the input runs out).
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.u8();
        }
        out
    }

    /// A byte string of at most `max` bytes, its length read first (one byte for `max` up to
    /// 255, two above).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = if max <= 255 {
            usize::from(self.u8())
        } else {
            usize::from(self.u16())
        };
        let len = want.min(max).min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        head
    }

    /// One of a few hosts and ports, both families: streams are told apart by the source, so
    /// a small set makes the same stream come back.
    pub fn endpoint(&mut self) -> SocketAddr {
        let port = self.pick(&[5000, 5001, 40000]);
        let ip = match self.below(5) {
            0 => IpAddr::V4(Ipv4Addr::new(192, 168, 56, 3)),
            1 => IpAddr::V4(Ipv4Addr::new(192, 168, 56, 4)),
            2 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            3 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3)),
            _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, port)
    }
}

#[cfg(test)]
mod tests {
    use super::Input;

    #[test]
    fn reads_past_the_end_as_zero() {
        let mut input = Input::new(&[1, 2, 3]);
        assert_eq!(input.u16(), 0x0102);
        assert_eq!(input.u32(), 0x0300_0000);
        assert!(input.is_empty());
        assert_eq!(input.bytes(10), b"");
    }

    #[test]
    fn byte_strings_are_length_prefixed_and_bounded() {
        let mut input = Input::new(&[5, b'a', b'b', b'c', b'd', b'e', b'f']);
        assert_eq!(input.bytes(3), b"abc");
        assert_eq!(input.u8(), b'd');
    }
}
