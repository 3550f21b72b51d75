#![no_main]
//! Arbitrary bytes through `mcast sniff`'s decoder and both of its printers (the one-line
//! summary and the hexdump), as smoltcp fuzzes its pretty-printer: one target covers the
//! Ethernet, IP, UDP, IGMP and MLD decoders.
use libfuzzer_sys::fuzz_target;
use mcast_core::packet::{hexdump, summarize, LinkType};

fuzz_target!(|data: &[u8]| {
    for link in [LinkType::Ethernet, LinkType::RawIp] {
        if let Ok(summary) = summarize(data, link) {
            let _ = summary.to_string();
            if let Some(m) = &summary.membership {
                let _ = m.to_string();
            }
        }
    }
    let dump = hexdump(data);
    assert_eq!(dump.lines().count(), data.len().div_ceil(16));
});
