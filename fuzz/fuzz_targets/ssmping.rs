#![no_main]
use libfuzzer_sys::fuzz_target;
use mcast_core::ssmping::{self, Message, MessageRepr};

// Whatever parses re-encodes to a message that parses to the same thing.
fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::new_checked(data) {
        let _ = msg.tlvs().count();
    }
    if let Ok(repr) = MessageRepr::parse(data) {
        let mut buf = Vec::new();
        ssmping::encode(&repr, &mut buf).expect("a parsed message re-encodes");
        assert_eq!(MessageRepr::parse(&buf), Ok(repr));
    }
});
