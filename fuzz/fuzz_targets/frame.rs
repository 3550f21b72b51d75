#![no_main]
//! Arbitrary bytes through the frame decoder: it never panics, and a datagram it accepts is
//! exactly the frame the encoder writes for what it decoded (the format has one spelling per
//! frame), end-of-session frames included.
use libfuzzer_sys::fuzz_target;
use mcast_core::frame::{self, EndOfSession, Frame, FrameRepr};

fuzz_target!(|data: &[u8]| {
    let decoded = frame::decode(data);
    if let Ok(f) = Frame::new_checked(data) {
        // The checked view and the decoder agree on what is a frame.
        if let Ok(repr) = FrameRepr::parse(&f) {
            assert_eq!(decoded, Ok(repr));
        }
    }
    let Ok(repr) = decoded else { return };
    assert_eq!(repr.buffer_len(), data.len());
    let mut buf = Vec::new();
    let len = frame::encode(&repr, &mut buf).expect("a decoded frame encodes");
    assert_eq!(len, data.len());
    assert_eq!(buf, data, "decode then encode gives back the same bytes");
    if let Some(Ok(end)) = EndOfSession::from_repr(&repr) {
        assert!(end.first <= end.end);
        assert_eq!(end.payload()[..], repr.payload[..]);
        assert_eq!(end.len(), end.end.0 - end.first.0);
    }
});
