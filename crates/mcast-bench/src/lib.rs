//! Criterion benches for mcast, and the few helpers they share.
//!
//! - `benches/codec.rs` measures the core alone: frame encode and decode, the sender's
//!   generated traffic, and the receiver's `handle_datagram`, one criterion group per
//!   configuration (`encode_len_64`, `decode_len_1400`, …) so results compare across runs.
//! - `benches/loopback.rs` measures send → receive over loopback through the engine the tool
//!   runs: mcast-sync's `SendDriver` into its `RecvDriver`, on the tool's socket setup.
//!
//! Run them with `cargo bench -p mcast-bench`; a quick look:
//! `cargo bench -p mcast-bench --bench codec -- --warm-up-time 1 --measurement-time 2`.
#![warn(missing_docs)]

use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};

/// Payload lengths the benches try: empty, small, a typical multicast sample, and near an
/// Ethernet MTU.
pub const PAYLOAD_LENS: [usize; 4] = [0, 64, 512, 1400];

/// How many datagrams one benchmark iteration handles.
pub const BATCH: usize = 64;

/// A deterministic payload of `len` bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The frame header values the benches use, around `payload`.
pub fn repr(seq: u64, payload: &[u8]) -> FrameRepr<'_> {
    FrameRepr {
        flags: Flags::empty(),
        session: SessionId(0x6d63_6173),
        seq: Seq(seq),
        sent_at_ns: 1_700_000_000_000_000_000 + seq,
        payload,
        tag: None,
    }
}

/// `n` encoded frames with sequence numbers `0..n`, each carrying `payload`.
pub fn frames(n: usize, payload: &[u8]) -> Vec<Vec<u8>> {
    (0..n as u64)
        .map(|seq| {
            let mut buf = Vec::new();
            // The payload lengths used here fit the 16-bit length field.
            frame::encode(&repr(seq, payload), &mut buf).expect("bench payloads fit a frame");
            buf
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_to_their_sequence_numbers() {
        let p = payload(100);
        let fs = frames(3, &p);
        for (i, f) in fs.iter().enumerate() {
            let r = frame::decode(f).unwrap();
            assert_eq!(r.seq, Seq(i as u64));
            assert_eq!(r.payload, &p[..]);
        }
    }
}
