#![no_main]
//! Arbitrary bytes through iperf2's UDP header reader: it never panics, takes only datagrams
//! of at least the header's 16 bytes with a valid microsecond field, and reads the fields the
//! way its byte table says.
use libfuzzer_sys::fuzz_target;
use mcast_core::session::iperf::{IperfDatagram, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let parsed = IperfDatagram::parse(data);
    let word = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    if data.len() < HEADER_LEN {
        assert_eq!(parsed, None, "{} bytes cannot hold the header", data.len());
        return;
    }
    let (id, sec, usec, id2) = (word(0), word(4), word(8), word(12));
    let Some(h) = parsed else {
        assert!(usec >= 1_000_000, "a valid header was refused: {data:?}");
        return;
    };
    assert!(usec < 1_000_000);
    assert_eq!(
        h.sent_at_ns,
        u64::from(sec) * 1_000_000_000 + u64::from(usec) * 1_000
    );
    // The low 32 bits of the sequence number are always `id`.
    assert_eq!(h.seq as u64 as u32, id);
    if id2 != 0 {
        assert_eq!((h.seq as u64 >> 32) as u32, id2);
    }
    match h.end() {
        Some(end) => assert!(h.seq < 0 && end == h.seq.unsigned_abs()),
        None => assert!(h.seq >= 0),
    }
});
