//! The values typed on `mcast`'s command line that are not addresses: ports, counts, TTLs,
//! durations and sizes, each parsed for clap with a message that names the option and quotes
//! the value as typed.
//!
//! This file depends on std, humantime and mcast-core only, so that the fuzz crate's `cli`
//! target builds it as it is (`#[path]`): keep it that way.

use std::time::Duration;

// The value parsers name their argument and quote the value as typed (clap style,
// `'0'`) in every message: `main` prints a clap value-validation error as just
// `error: <message>`, so the message must stand alone.

/// A value as typed, in single quotes, control characters escaped (the message stays one line).
pub(crate) fn quoted(s: &str) -> String {
    format!("'{}'", s.escape_debug())
}

/// Parses a port for clap: 1–65535.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    let n: i128 = s
        .trim()
        .parse()
        .map_err(|_| format!("{} is not a port number: a UDP port is 1-65535", quoted(s)))?;
    match u16::try_from(n) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(format!("port {n} is out of range: a UDP port is 1-65535")),
    }
}

/// Parses `--source-port` for clap: 1–65535, named in the message.
pub(crate) fn parse_source_port(s: &str) -> Result<u16, String> {
    parse_port(s).map_err(|e| format!("--source-port: {e}"))
}

/// Splits socat's `GROUP:PORT` form: `239.1.2.3:5000`, `239.1.0.1+10:5000`,
/// `224.1.1.5,234.3.2.1:50001` (the port for every group), and for IPv6 the bracketed
/// `[ff02::1%eth0]:5000` (a bare IPv6 address keeps its colons: `ff15::1` has no port).
/// Returns the group text and the port, `None` when the text carries none.
pub(crate) fn split_group_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix('[') {
        let Some((group, rest)) = inner.split_once(']') else {
            return Err(format!(
                "{} has no closing ']': write [GROUP]:PORT, e.g. [ff02::1%eth0]:5000",
                quoted(s)
            ));
        };
        if rest.is_empty() {
            return Ok((group, None));
        }
        let Some(port) = rest.strip_prefix(':') else {
            return Err(format!(
                "{}: after [GROUP] comes :PORT, e.g. [ff02::1%eth0]:5000",
                quoted(s)
            ));
        };
        return parse_port(port).map(|p| (group, Some(p)));
    }
    // `ff02::1%eth0:5000`: the zone would swallow the port; the port goes after brackets.
    // The bracket form is written back only for text that prints on one line as it is.
    let printable = !t.chars().any(|c| c.is_control() || c.is_whitespace());
    if let Some((addr, zone)) = t.rsplit_once('%').filter(|_| printable) {
        if let Some((iface, port)) = zone.rsplit_once(':') {
            let named = !iface.is_empty() && !iface.contains([':', ',']);
            if named && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{}: an IPv6 group with a port goes in brackets: write [{addr}%{iface}]:{port}",
                    quoted(s)
                ));
            }
        }
    }
    match t.rsplit_once(':') {
        Some((group, port)) if !group.contains(':') => parse_port(port).map(|p| (group, Some(p))),
        _ => Ok((t, None)),
    }
}

/// Parses `-c/--count` for clap: a whole number, at least 1.
pub(crate) fn parse_count(s: &str) -> Result<u64, String> {
    let n: i128 = s.trim().parse().map_err(|_| {
        format!(
            "-c/--count {} is not a number: write a whole number like 10",
            quoted(s)
        )
    })?;
    if n < 1 {
        return Err(format!("-c/--count must be at least 1 (got {})", quoted(s)));
    }
    u64::try_from(n).map_err(|_| {
        format!(
            "-c/--count {} is too large (at most {})",
            quoted(s),
            u64::MAX
        )
    })
}

/// Parses `--ttl` for clap: 0–255.
pub(crate) fn parse_ttl(s: &str) -> Result<u8, String> {
    let n: i128 = s
        .trim()
        .parse()
        .map_err(|_| format!("--ttl {} is not a number: --ttl must be 0-255", quoted(s)))?;
    u8::try_from(n).map_err(|_| format!("--ttl must be 0-255 (got {})", quoted(s)))
}

/// Parses a humantime duration for clap (`500ms`, `5s`, `1m`). The messages do not name the
/// option: [`parse_interval`] and [`parse_timeout`] put its name in front.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "{} is negative: write a duration like 500ms, 5s or 1m",
            quoted(s)
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!(
            "{} is not a duration ({e}): write e.g. 500ms, 5s or 1m",
            quoted(s)
        )
    })
}

/// Parses a size in bytes for clap: `212992`, `64K`, `8M`, `1G` (binary multiples; `KiB`,
/// `MB`-style spellings are read the same).
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || {
        format!(
            "{} is not a size: write e.g. 212992, 64K, 8M or 1G",
            quoted(s)
        )
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|b| *b > 0)
        .ok_or_else(bad)
}

/// Parses `--interval` for clap: a duration, 0 allowed (no pause).
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| format!("--interval {e}"))
}

/// Parses `--timeout` for clap: a duration longer than zero (a zero timeout would give up
/// before the first wait).
pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| format!("--timeout {e}"))?;
    if d.is_zero() {
        return Err(format!(
            "--timeout must be longer than 0 (got {}): write e.g. 500ms or 5s, or leave it out to wait until Ctrl-C",
            quoted(s)
        ));
    }
    Ok(d)
}

/// Parses `--size` for clap: a framed datagram's UDP payload in bytes, the frame header
/// included, from the header alone (28) to the IPv4 UDP limit (65,507).
pub(crate) fn parse_frame_size(s: &str) -> Result<usize, String> {
    let header = mcast_core::frame::HEADER_LEN;
    let max = mcast_core::session::SenderConfig::MAX_UDP_PAYLOAD_V4;
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("--size {s:?} is not a number of bytes ({header}-{max})"))?;
    if !(header..=max).contains(&n) {
        return Err(format!(
            "--size must be {header}-{max} bytes, the {header}-byte frame header included (got {n})"
        ));
    }
    Ok(n)
}

/// Parses a duration longer than zero for the option `name` (its name goes into the message).
pub(crate) fn parse_positive(name: &str, s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| format!("{name} {e}"))?;
    if d.is_zero() {
        return Err(format!(
            "{name} {} is too short: it must be longer than 0, e.g. 1ms, 500ms or 5s",
            quoted(s)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 11 — socat's GROUP:PORT form, IPv6 in brackets with its zone.
    #[test]
    fn group_port_splits_like_socat() {
        assert_eq!(
            split_group_port("239.1.2.3:5000"),
            Ok(("239.1.2.3", Some(5000)))
        );
        assert_eq!(split_group_port("239.1.2.3"), Ok(("239.1.2.3", None)));
        assert_eq!(
            split_group_port("224.1.1.5,234.3.2.1:50001"),
            Ok(("224.1.1.5,234.3.2.1", Some(50001)))
        );
        assert_eq!(
            split_group_port("239.1.0.1+10:5000"),
            Ok(("239.1.0.1+10", Some(5000)))
        );
        assert_eq!(
            split_group_port("[ff02::1%lo]:5000"),
            Ok(("ff02::1%lo", Some(5000)))
        );
        assert_eq!(split_group_port("[ff15::1]"), Ok(("ff15::1", None)));
        assert_eq!(split_group_port("ff15::1"), Ok(("ff15::1", None)));
        // Review fix — a zone followed by :PORT is answered with the bracket form.
        for (written, bracketed) in [
            ("ff02::1:3%va:5000", "[ff02::1:3%va]:5000"),
            ("ff02::1%lo,ff02::2%lo:5000", "[ff02::1%lo,ff02::2%lo]:5000"),
        ] {
            let e = split_group_port(written).unwrap_err();
            assert!(e.ends_with(&format!("write {bracketed}")), "{e}");
            assert!(e.contains("goes in brackets"), "{e}");
        }
        // Found by the fuzz target: text that does not print on one line is never written
        // back unquoted, so the message stays one line.
        // (Such text is handed on whole, as the group, whose parser quotes it.)
        assert_eq!(
            split_group_port("ff02::1%l\no:5000"),
            Ok(("ff02::1%l\no:5000", None))
        );
        assert_eq!(
            split_group_port("ff02::1%lo,ff02::2"),
            Ok(("ff02::1%lo,ff02::2", None))
        );
        assert_eq!(split_group_port("ff02::1%2"), Ok(("ff02::1%2", None)));
        assert_eq!(split_group_port("ff02::1%lo"), Ok(("ff02::1%lo", None)));
        assert_eq!(
            split_group_port("239.1.2.3:70000").unwrap_err(),
            "port 70000 is out of range: a UDP port is 1-65535"
        );
        assert!(split_group_port("239.1.2.3:")
            .unwrap_err()
            .contains("not a port"));
        assert!(split_group_port("[ff15::1")
            .unwrap_err()
            .contains("no closing ']'"));
        assert!(split_group_port("[ff15::1]5000")
            .unwrap_err()
            .contains("comes :PORT"));
    }

    /// Found by the fuzz crate's `cli` target: a value holding a line break made a two-line
    /// error (and wrote control characters to the terminal raw).
    #[test]
    fn refusals_are_one_line_whatever_was_typed() {
        let e = parse_positive("--report", "00\nM").unwrap_err();
        assert_eq!(
            e,
            "--report '00\\nM' is too short: it must be longer than 0, e.g. 1ms, 500ms or 5s"
        );
        // (Surrounding white space is trimmed, so "0\r" is a TTL of 0: only refusals count.)
        for bad in ["1\n2", "\u{1b}[2J", "0\r"] {
            for e in [
                parse_port(bad),
                parse_count(bad).map(|_| 0),
                parse_ttl(bad).map(u16::from),
                parse_size(bad).map(|_| 0),
                parse_frame_size(bad).map(|_| 0),
                parse_timeout(bad).map(|_| 0),
                parse_positive("--duration", bad).map(|_| 0),
                split_group_port(bad).map(|_| 0),
                parse_source_port(bad),
            ] {
                if let Err(e) = e {
                    assert!(!e.contains(['\n', '\r', '\u{1b}']), "{e:?}");
                }
            }
        }
    }
}
