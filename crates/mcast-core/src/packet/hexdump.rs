//! A hexdump in scapy's layout (`scapy.utils.hexdump`).

use std::fmt::Write as _;

/// Formats `bytes` the way scapy's `hexdump(pkt)` prints them.
///
/// Each line holds 16 bytes: the offset as four lowercase hex digits (more past 0xffff), two
/// spaces, each byte as two uppercase hex digits followed by a space (three spaces for a missing
/// byte on the last line), one more space, then the bytes as ASCII with `.` for anything outside
/// 0x20..=0x7e. Lines are separated by `\n`, with no newline after the last; no bytes, no text.
///
/// ```
/// let s = mcast_core::packet::hexdump(b"\x01\x00\x5e\x01\x01\x05Hello, World!\xff");
/// assert_eq!(
///     s,
///     "0000  01 00 5E 01 01 05 48 65 6C 6C 6F 2C 20 57 6F 72  ..^...Hello, Wor\n\
///      0010  6C 64 21 FF                                      ld!."
/// );
/// ```
pub fn hexdump(bytes: &[u8]) -> String {
    // Per line: 6 (offset) + 48 (hex) + 1 + 16 (ASCII) + 1 (newline).
    let mut s = String::with_capacity(bytes.len().div_ceil(16) * 72);
    for (n, chunk) in bytes.chunks(16).enumerate() {
        if n > 0 {
            s.push('\n');
        }
        // Writing to a String cannot fail.
        let _ = write!(s, "{:04x}  ", n * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(s, "{b:02X} ");
                }
                None => s.push_str("   "),
            }
        }
        s.push(' ');
        s.extend(chunk.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        }));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_empty() {
        assert_eq!(hexdump(&[]), "");
    }

    #[test]
    fn exactly_one_line_has_no_newline() {
        let s = hexdump(&[0x41; 16]);
        assert_eq!(
            s,
            "0000  41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41  AAAAAAAAAAAAAAAA"
        );
    }

    #[test]
    fn boundaries_of_printable() {
        let s = hexdump(&[0x1f, 0x20, 0x7e, 0x7f, 0x80]);
        assert_eq!(
            s,
            "0000  1F 20 7E 7F 80                                   . ~.."
        );
    }

    #[test]
    fn offsets_past_0xffff_grow() {
        let s = hexdump(&[0u8; 0x10010]);
        assert!(s.ends_with(
            "\n10000  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................"
        ));
        assert_eq!(s.lines().count(), 0x1001);
    }
}
