//! Characters that must never reach a terminal raw from a datagram, and their escapes.
//!
//! Anyone on the LAN can send to a group, so a payload is hostile text. Besides control
//! characters (which move the cursor or start escape sequences), Unicode has characters that
//! reorder or hide what a terminal shows, the "Trojan Source" trick (CVE-2021-42574): a
//! right-to-left override (U+202E) makes `abc\u{202e}fed` read as `abcdef`; a zero-width
//! space (U+200B) or a tag character (U+E0041) is invisible. [`is_hidden`] names all of them;
//! text output escapes them as `\u{202e}`, and JSON output writes them as `\u202e` escapes,
//! which a JSON reader turns back into the same character.

use std::io::{self, Write};

/// Whether `c` can reorder, hide or restyle text on a terminal, so that it must be escaped:
///
/// - control characters (C0, DEL, C1: `char::is_control`);
/// - every format character (general category Cf, Unicode 15.1): bidirectional embeddings,
///   overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
///   zero-width characters (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen, tag characters
///   (U+E0001, U+E0020–U+E007F) and the rest;
/// - the line and paragraph separators (U+2028, U+2029);
/// - the other default-ignorable code points, which render as nothing: the combining grapheme
///   joiner (U+034F), Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), Khmer inherent vowels
///   (U+17B4, U+17B5), Mongolian free variation selectors (U+180B–U+180F), the reserved
///   U+2065, U+FFF0–U+FFF8 and all of U+E0000–U+E0FFF, and the variation selectors
///   U+FE00–U+FE0D. U+FE0E and U+FE0F (text and emoji presentation) stay: emoji use them.
pub(crate) fn is_hidden(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    let u = u32::from(c);
    if u < 0xad {
        return false;
    }
    HIDDEN.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// The ranges [`is_hidden`] names besides control characters, ascending.
const HIDDEN: &[(u32, u32)] = &[
    (0x00ad, 0x00ad),
    (0x034f, 0x034f),
    (0x0600, 0x0605),
    (0x061c, 0x061c),
    (0x06dd, 0x06dd),
    (0x070f, 0x070f),
    (0x0890, 0x0891),
    (0x08e2, 0x08e2),
    (0x115f, 0x1160),
    (0x17b4, 0x17b5),
    (0x180b, 0x180f),
    (0x200b, 0x200f),
    (0x2028, 0x202e),
    (0x2060, 0x206f),
    (0x3164, 0x3164),
    (0xfe00, 0xfe0d),
    (0xfeff, 0xfeff),
    (0xffa0, 0xffa0),
    (0xfff0, 0xfffb),
    (0x110bd, 0x110bd),
    (0x110cd, 0x110cd),
    (0x13430, 0x1343f),
    (0x1bca0, 0x1bca3),
    (0x1d173, 0x1d17a),
    (0xe0000, 0xe0fff),
];

/// Appends `c` to `out` as text output shows it: a hidden character escaped as
/// [`char::escape_debug`] does for controls (`\n`, `\t`, `\0`, `\u{1b}`) and as `\u{202e}`
/// for the others; any other character as it is.
pub(crate) fn push_char(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_debug());
    } else if is_hidden(c) {
        out.extend(c.escape_unicode());
    } else {
        out.push(c);
    }
}

/// A compact `serde_json` formatter that also escapes every [hidden](is_hidden) character in
/// strings (`\u202e`, surrogate pairs above U+FFFF), so that a JSON line shown on a terminal
/// cannot reorder or hide text. serde_json itself escapes only `"`, `\` and U+0000–U+001F.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_hidden(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0_u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for w in HIDDEN.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{w:x?}");
        }
    }

    // issue #9 — the characters the issue names, and their neighbours that stay.
    #[test]
    fn bidi_zero_width_and_format_characters_are_hidden() {
        for c in [
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
            '\u{e0001}',
            '\u{1d173}',
            '\u{13439}',
            '\u{3164}',
            '\u{fe00}',
            '\u{e0100}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\0',
            '\n',
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            'a',
            ' ',
            '\\',
            '\u{e9}',
            '\u{2713}',
            '\u{2027}',
            '\u{202f}',
            '\u{2070}',
            '\u{fe0f}',
            '\u{fe0e}',
            '\u{1f600}',
            '\u{5d0}',
            '\u{627}',
            '\u{ac}',
            '\u{ae}',
            '\u{f0000}',
        ] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    fn json_line(s: &str) -> String {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeJson);
        serde::Serialize::serialize(&s, &mut ser).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_escapes_hidden_characters_and_keeps_the_value() {
        let s = "a\u{202e}b\u{2066}c\u{200b}d\u{e0041}e\u{85}\u{7f}\u{1b}";
        let line = json_line(s);
        assert_eq!(
            line,
            r#""a\u202eb\u2066c\u200bd\udb40\udc41e\u0085\u007f\u001b""#
        );
        assert_eq!(serde_json::from_str::<String>(&line).unwrap(), s);
    }

    /// Characters that favour the dangerous ranges, and any others.
    fn risky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            (0x0_u32..0x100).prop_filter_map("a char", char::from_u32),
            (0x2000_u32..0x2070).prop_filter_map("a char", char::from_u32),
            (0xfe00_u32..0x10000).prop_filter_map("a char", char::from_u32),
            (0xe0000_u32..0xe0200).prop_filter_map("a char", char::from_u32),
            any::<char>(),
        ]
    }

    proptest! {
        // issue #9 — escaped text never holds a hidden character, and JSON written with the
        // safe formatter neither, while it still reads back as the same string.
        #[test]
        fn escaped_output_never_holds_a_hidden_character(
            chars in proptest::collection::vec(risky_char(), 0..40),
            junk in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let s: String = chars.into_iter().collect();
            let mut bytes = s.clone().into_bytes();
            bytes.extend_from_slice(&junk);
            let line = crate::output::payload_line(&bytes);
            prop_assert!(!line.chars().any(is_hidden), "{:?} -> {:?}", s, line);
            let json = json_line(&s);
            prop_assert!(!json.chars().any(is_hidden), "{:?} -> {:?}", s, json);
            prop_assert_eq!(serde_json::from_str::<String>(&json).unwrap(), s);
        }
    }
}
