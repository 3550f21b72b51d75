#![no_main]
//! Arbitrary text as a `mcast sniff` filter expression: parsing never panics, an error points
//! inside the input, and what parses prints back to the same expression, which is then run
//! against the input's bytes as a frame.
use libfuzzer_sys::fuzz_target;
use mcast_core::packet::filter::Expr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Expr>() {
        Ok(e) => {
            assert_eq!(e.to_string().parse::<Expr>().as_ref(), Ok(&e));
            let _ = e.matches(data, true);
            let _ = e.matches(data, false);
            let f = e.capture_filter();
            if e.matches(data, true) {
                assert!(f.matches(data, true));
            }
        }
        Err(e) => {
            assert!(e.at + e.len <= text.len());
            assert!(text.is_char_boundary(e.at));
            let _ = e.underline(&text);
        }
    }
});
