#![no_main]
//! Arbitrary text into the `/proc/net/igmp` and `/proc/net/igmp6` parsers: they must never
//! panic, and every line is either used or reported.
use libfuzzer_sys::fuzz_target;
use mcast_core::proc::{parse_igmp, parse_igmp6, parse_igmp_with, Endian};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    for parsed in [
        parse_igmp(&text),
        parse_igmp_with(&text, Endian::Big),
        parse_igmp6(&text),
    ] {
        assert!(parsed.memberships().count() + parsed.errors.len() <= lines);
        for e in &parsed.errors {
            let _ = e.to_string();
        }
    }
});
