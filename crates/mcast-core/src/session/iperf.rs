//! iperf2's UDP datagrams, so a receiver counts the iperf clients people already run.
//!
//! iperf2 (`iperf -c GROUP -u`) starts every UDP datagram with this header (big-endian):
//!
//! | offset | size | field     | meaning                                                   |
//! |-------:|-----:|-----------|-----------------------------------------------------------|
//! | 0      | 4    | `id`      | the sequence number's low 32 bits                         |
//! | 4      | 4    | `tv_sec`  | send time, seconds since the Unix epoch                   |
//! | 8      | 4    | `tv_usec` | send time, microseconds (below 1,000,000)                 |
//! | 12     | 4    | `id2`     | the sequence number's high 32 bits (iperf 2.0.10 and later; 0 before) |
//!
//! The sequence number counts from 1 (0 in older versions). The client's last datagrams carry
//! the negated sequence number of the datagram that would have come next: the end of the
//! stream, repeated. With `id2` = 0 (32-bit iperf) the sign is `id`'s own.
//!
//! Raw datagrams carry no magic, so this is only tried when the receiver is told to
//! ([`ReceiverConfig::detect_iperf`](super::ReceiverConfig::detect_iperf)); a datagram shorter than 16
//! bytes, or with `tv_usec` of a million or more, is not taken for iperf's.

use super::SessionId;

/// The session id under which iperf2 streams are counted (ASCII `ipf2`): an iperf stream is
/// told apart from others by its source address and port alone.
pub const IPERF_SESSION: SessionId = SessionId(0x6970_6632);

/// The length of the iperf2 UDP header.
pub const HEADER_LEN: usize = 16;

/// One iperf2 datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IperfDatagram {
    /// The sequence number; negative in the client's final datagrams, where its magnitude is
    /// one past the last datagram sent.
    pub seq: i64,
    /// The send time in nanoseconds since the Unix epoch.
    pub sent_at_ns: u64,
}

impl IperfDatagram {
    /// Reads the header, or `None` when `bytes` cannot be an iperf2 datagram.
    ///
    /// ```
    /// use mcast_core::session::iperf::IperfDatagram;
    ///
    /// let mut d = [0u8; 100];
    /// d[..4].copy_from_slice(&7u32.to_be_bytes());
    /// d[4..8].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    /// d[8..12].copy_from_slice(&250_000u32.to_be_bytes());
    /// let h = IperfDatagram::parse(&d).unwrap();
    /// assert_eq!(h.seq, 7);
    /// assert_eq!(h.sent_at_ns, 1_700_000_000_250_000_000);
    /// ```
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        };
        let (id, sec, usec, id2) = (word(0)?, word(4)?, word(8)?, word(12)?);
        if usec >= 1_000_000 {
            return None;
        }
        let seq = if id2 == 0 {
            // 32-bit iperf: the sign is id's own.
            i64::from(id as i32)
        } else {
            ((u64::from(id2) << 32) | u64::from(id)) as i64
        };
        Some(Self {
            seq,
            sent_at_ns: u64::from(sec) * 1_000_000_000 + u64::from(usec) * 1_000,
        })
    }

    /// For a final datagram (negative sequence number): one past the last datagram sent.
    pub fn end(&self) -> Option<u64> {
        (self.seq < 0).then(|| self.seq.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(id: u32, id2: u32, usec: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        d[..4].copy_from_slice(&id.to_be_bytes());
        d[4..8].copy_from_slice(&0x6b0f_143a_u32.to_be_bytes());
        d[8..12].copy_from_slice(&usec.to_be_bytes());
        d[12..16].copy_from_slice(&id2.to_be_bytes());
        d
    }

    // Bytes as iperf 2.1.8 sent them (captured on loopback): data id 1, and the final datagram
    // after 52 data datagrams, -53 over both words.
    #[test]
    fn reads_iperf_2_1_headers() {
        let first = IperfDatagram::parse(&datagram(1, 0, 0x0008_a851)).unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.end(), None);
        assert_eq!(
            first.sent_at_ns,
            0x6b0f_143a * 1_000_000_000 + 0x0008_a851 * 1_000
        );
        let last = IperfDatagram::parse(&datagram(0xffff_ffcb, 0xffff_ffff, 0x0001_2f0d)).unwrap();
        assert_eq!((last.seq, last.end()), (-53, Some(53)));
    }

    #[test]
    fn reads_32_and_64_bit_sequence_numbers() {
        let old_final = IperfDatagram::parse(&datagram(0xffff_fff6, 0, 0)).unwrap();
        assert_eq!(old_final.end(), Some(10));
        let big = IperfDatagram::parse(&datagram(5, 2, 0)).unwrap();
        assert_eq!(big.seq, (2 << 32) + 5);
    }

    #[test]
    fn refuses_what_cannot_be_iperf() {
        assert_eq!(IperfDatagram::parse(&[0; 15]), None);
        assert_eq!(IperfDatagram::parse(&datagram(1, 0, 1_000_000)), None);
        assert!(IperfDatagram::parse(&datagram(1, 0, 999_999)).is_some());
    }
}
