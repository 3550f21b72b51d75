//! Output: human text on stdout, diagnostics on stderr, and the `--json` JSON Lines format.
//!
//! # The JSON Lines format
//!
//! With `--json`, every command prints one JSON object per line on stdout, each wrapped in the
//! same envelope, in the manner of ripgrep's `--json`:
//!
//! ```json
//! {"type": "recv", "data": {"group": "239.1.2.3", "port": 50001, "source": "127.0.0.1:40000", "len": 13, "payload": "Hello, World!", "utf8": true}}
//! ```
//!
//! `type` says what `data` holds. A consumer should ignore types and fields it does not know:
//! new ones may be added, existing ones keep their meaning.
//!
//! | `type`  | printed by            | when                                  | `data` fields |
//! |---------|-----------------------|---------------------------------------|---------------|
//! | `start` | `recv`                | once, after every join succeeded      | `groups` (as typed, ranges kept, e.g. `["239.1.0.1+1000"]`), `group_count`, `port`, `interface` (the interface joined on with an address of the group's family, `lo (127.0.0.1)`, `va (fe80::1)`; without `-i` the one the kernel's route lookup picks, `eth0 (192.0.2.2), the kernel's choice`), `sources` |
//! | `send`  | `send`                | after each datagram left              | `group`, `port`, `len` (bytes on the wire), `payload`, `utf8`, `payload_hex` (as in `recv`); with `--framed` (or `--key-file`) also `session`, `seq` (string), `sent_at_ns` (string) |
//! | `recv`  | `recv`                | for each datagram                     | `group` (its destination, `null` if unknown), `port`, `source` (`ip:port`), `len`, `payload` (lossy UTF-8 text, one trailing newline removed), `utf8` (whether the bytes were valid UTF-8), `payload_hex` (only when `utf8` is false: the exact payload bytes, every byte as two lowercase hex digits, nothing removed), `frame` (`null` for raw datagrams, else `session`, `seq` (string), `sent_at_ns` (string), `latency_ns` (`null` when the send time lies more than an hour from this host's clock, as a forged or zero stamp does, or the frame is suspect), `arrival`: `first`, `in_order`, `gap`, `reordered`, `duplicate`, `stale`, `suspect`, `new_epoch`) |
//! | `stray` | `recv`                | for each datagram that reached the port but was not sent to a joined group | `kind` (`unicast`, `broadcast`, `other_group`), `destination`, `port`, `source`, `len`, `payload`, `utf8`, `payload_hex` (as in `recv`). Never read as a frame, never counted as group traffic (nor by `-c`) |
//! | `gap`   | `recv`                | a framed stream misbehaved, or ended  | `event` (`gap`, `reordered`, `duplicate`, `stale`, `suspect` (a sequence number far from the stream: not counted), `new_epoch` (the stream started over), `end` (its end-of-session frame: `seq` one past the last sent, `count` the stream's loss), `malformed`; with `--key-file`, a datagram dropped by authentication: `unauthenticated`, `truncated`, `forged`, `tampered`, `replayed`), `source`, and as they apply `session`, `seq` (string: the first missing one for a gap), `count` (how many are missing), `error` |
//! | `stats` | `recv`                | once at the end, however it ended (not when stopped before every join was done) | `datagrams`, `bytes` (data only: end-of-session frames are not counted), `host_drops` (datagrams this host's kernel dropped, receive buffer full), `recv_buffer` (`null`, or with `--rcvbuf`: `requested`, `granted`, `rmem_max`, `forced`, `clamped`), `elapsed_ms`, `groups` (object: group → datagrams, with **every** joined group, `0` for one that received nothing, plus `"unknown"` when the destination of some datagrams could not be told), `distinct_groups` (how many of them received at least one datagram), `stray` (datagrams that reached the port without being sent to a joined group: `unicast`, `broadcast`, `other_group`, `bytes`; in no other count), `framed` (`null` when no frame arrived, else mcast-core's session `Stats`: `framed`, `lost`, `duplicates`, `reordered`, `streams` with per-stream delay and `first_seq`/`highest_seq` as strings, ...), `auth` (`null` without `--key-file`, else `authenticated` and the datagrams dropped, which count nowhere else: `unauthenticated`, `truncated`, `forged`, `tampered`, `replayed`) |
//! | `link`  | `recv`, `perf recv`, `ping` | the interface joined on changed | `interface` (its name), `index`, `state` (`down`: set down or lost its carrier, memberships kept; `up`: usable again; `gone`: deleted, memberships gone with it; `back`: an interface of that name exists again, with a new index, and every group was joined again there), `up`, `running`, `multicast` (its flags after the change); `back` adds `previous_index` and `rejoined` (groups joined again) or `error` (see `watch.rs`) |
//! | `end`   | `send`, `recv`        | last line                             | `reason` (see [How a command ends](#how-a-command-ends)), `exit_code`; `send` adds `datagrams`, `bytes`; `recv` stopped while joining adds `joined` (the joins done before it stopped) |
//! | `info`  | `info`                | once                                  | the core's `GroupInfo`: `group`, `family`, `scope`, `block`, `block_description`, `ssm`, `link_local`, `mac`, `mac_collisions`, `ipv6_flags`, `well_known` (what IANA assigned the group to, e.g. `"mDNS, multicast DNS (RFC 6762)"`, else `null`); `zone`, the interface after `%` (`ff02::1%eth0`), only when one was given |
//! | `start`, `interval`, `summary` | `perf send`, `perf recv` | see `perf/mod.rs` | throughput, loss, host drops, jitter, delay percentiles |
//! | `start`, `reply`, `end` | `ping --ssmping` | see `ssmping.rs` | per reply: path, seq, round trip, hop limit; at the end per server and path: sent, received, lost, round trip percentiles |
//! | `packet`| `sniff`               | for each captured packet              | see `sniff.rs` |
//! | `group` | `groups`              | for each joined group                 | see `groups.rs` |
//! | `iface` | `ifaces`              | for each interface                    | see `ifaces.rs` |
//!
//! In text mode (no `--json`) `recv` prints each payload on one line: one trailing line ending
//! is removed, control characters are escaped as Rust's `escape_debug` does (`\n`, `\t`,
//! `\u{1b}`), every other character that can reorder or hide text on a terminal (bidi
//! overrides and isolates such as U+202E and U+2066, zero-width characters such as U+200B,
//! every format character: see `escape.rs`) as `\u{202e}`, and bytes that are not UTF-8 as
//! `\xNN`; printable UTF-8 (backslashes included) is printed as it is, so `Hello, World!`
//! prints exactly. Only group traffic is printed: a datagram that reached the port without
//! being sent to a joined group (a unicast datagram to the port, a broadcast, another group)
//! is counted apart in the summary, noted once on stderr, and printed, marked
//! `[stray unicast to 127.0.0.1]`, only with `-v`.
//!
//! In JSON the same characters are written as `\uXXXX` escapes: the line shows nothing
//! hidden on a terminal, and a JSON reader gets the exact string back.
//!
//! Addresses are strings (`"224.1.1.5"`, `"127.0.0.1:40000"`), durations are integers with their
//! unit in the field name (`elapsed_ms`, `latency_ns`), timestamps are nanoseconds since the
//! Unix epoch.
//!
//! # Integers above 2^53
//!
//! JSON readers that hold numbers as doubles (JavaScript, jq 1.6) round integers above 2^53.
//! So the integers that can be that large, **64-bit sequence numbers (`seq`, `first_seq`,
//! `highest_seq`, an end's `first`/`end`) and wall-clock timestamps (`sent_at_ns`,
//! `time_ns`)**, are decimal strings: `"seq":"18446744073709551615"`,
//! `"sent_at_ns":"1764038400123456789"` (jq: `.data.frame.seq | tonumber` where precision does
//! not matter). Counters, byte counts and durations stay numbers: none reaches 2^53 in a
//! realistic run (9 PB of bytes; a delay is at most an hour). `mcast_core::json` holds the
//! rule.
//!
//! # Session ids
//!
//! A frame's session id (`session` in `send`, `recv`, `gap`, `stats` streams, and the `start`
//! records of `perf send` and `ping`) has one base everywhere: eight lowercase hex digits, a
//! string in JSON (`"session":"5e55a1b2"`) as in the text (`session 5e55a1b2`), so the two
//! can be matched by eye or by `grep`. `mcast_core::frame::SessionId` holds the rule (it still
//! reads a number, as records before this change wrote it).
//!
//! # How a command ends
//!
//! Every long-running command (`recv`, `send`, `perf send`, `perf recv`, `ping`, `ping
//! --ssmping`, `sniff`) ends the same way whatever stopped it: its summary (text) and its
//! last JSON record, `end`, whose `reason` is one of
//!
//! | `reason` | what stopped it | exit |
//! |----------|-----------------|-----:|
//! | `count` | `-c COUNT` items were sent or received (`ping`: every probe, and its answers or timeout) | 0 |
//! | `eof` | standard input ended (`send` without MESSAGE) | 0 |
//! | `duration` | `--duration` passed (`perf send`) | 0 |
//! | `ended` | every stream heard sent its end-of-session frames (`perf recv`) | 0 |
//! | `timeout` | `--timeout` passed | 1 when nothing (or fewer than `-c`) arrived, else 0 |
//! | `interrupted` | SIGINT (Ctrl-C) | 0 |
//! | `terminated` | SIGTERM (`kill`, `timeout`, systemd, `docker stop`) | 0 |
//! | `hangup` | SIGHUP (the terminal closed) | 0 |
//! | `stdout_closed` | the reader of stdout went away (`EPIPE`, `\| head -1`; a pipe or socket also while nothing is written) | 0 |
//! | `stdout_failed` | writing to stdout failed (`ENOSPC`: `> /dev/full`) | 1, `error: cannot write to standard output: …` |
//!
//! `exit_code` in the record is the exit status, as far as the command knows it (a
//! command's own failure, such as `ping` with no answer, makes it 1 whatever stopped it).
//! A stop is honoured within about a second even while stdout is blocked by a reader that
//! does not read: stdout goes through a writer thread ([`crate::stdout`]), and once a stop is
//! requested the output gets half a second to drain. What cannot reach stdout (closed,
//! failed, or still blocked) goes to stderr instead: the text summary, or with `--json` the
//! summary and `end` records (`recv`, `send` and `sniff`, whose summary is on stderr already,
//! leave their records out). A second signal exits at once, without summary, with 128 + its
//! number (130 for a second Ctrl-C, 143 for SIGTERM).

use std::io::{self, Write};

use serde::Serialize;

/// The envelope around every JSON Lines record.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize + ?Sized> {
    #[serde(rename = "type")]
    kind: &'a str,
    data: &'a T,
}

/// Rounds to three decimals, for JSON figures that read well (`12.346` µs, not
/// `12.345678901`).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Queues one envelope line, `{"type": kind, "data": data}`, for stdout ([`crate::stdout`]).
///
/// Fails only when `data` cannot be serialised: a failing stdout ends the command through
/// the stop flag instead, and [`crate::stdout::finish`] reports it.
pub(crate) fn emit_json(kind: &str, data: &impl Serialize) -> io::Result<()> {
    crate::stdout::write(json_line(kind, data)?);
    Ok(())
}

/// One envelope line, newline included.
fn json_line(kind: &str, data: &(impl Serialize + ?Sized)) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(128);
    write_json(&mut buf, kind, data)?;
    Ok(buf)
}

/// Writes one envelope line to `w`.
pub(crate) fn write_json<W: Write + ?Sized>(
    w: &mut W,
    kind: &str,
    data: &(impl Serialize + ?Sized),
) -> io::Result<()> {
    // Hidden characters (bidi overrides, zero-width, ...) go out as `\uXXXX` escapes.
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, crate::escape::SafeJson);
    Envelope { kind, data }
        .serialize(&mut ser)
        .map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// Queues one line of text for stdout ([`crate::stdout`]).
pub(crate) fn line(text: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    crate::stdout::write(buf);
    Ok(())
}

/// Queues text for stdout as it is, without a line ending (a terminal's progress line).
pub(crate) fn raw(text: &str) -> io::Result<()> {
    crate::stdout::write(text.as_bytes().to_vec());
    Ok(())
}

/// A summary line: on stdout when stdout takes output and drained in time
/// ([`crate::stdout::settle`]), else on stderr (stdout closed, failed, or not read within
/// the grace after a stop request), so the summary is never lost.
pub(crate) fn final_line(text: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    final_bytes(buf);
    Ok(())
}

/// A summary or `end` record: on stdout when it takes output, else on stderr, as
/// [`final_line`].
pub(crate) fn final_json(kind: &str, data: &impl Serialize) -> io::Result<()> {
    final_bytes(json_line(kind, data)?);
    Ok(())
}

fn final_bytes(bytes: Vec<u8>) {
    if let Err(bytes) = crate::stdout::write_final(bytes) {
        let _ = io::stderr().lock().write_all(&bytes);
    }
}

/// Whether stdout takes output, once what was queued is out (waiting as long as the run
/// goes on, at most the grace after a stop request): records that are only worth writing
/// to stdout check it first.
pub(crate) fn stdout_ok() -> bool {
    crate::stdout::settle()
}

/// Prints `records` to stdout: with `json` one envelope line of type `kind` each, else the text
/// lines `render` makes of them.
pub(crate) fn records<T: Serialize>(
    json: bool,
    kind: &str,
    records: &[T],
    render: impl FnOnce(&[T]) -> Vec<String>,
) -> io::Result<()> {
    if json {
        for r in records {
            emit_json(kind, r)?;
        }
    } else {
        for l in render(records) {
            line(&l)?;
        }
    }
    Ok(())
}

/// The width of a text-table column: its widest cell, and at least its header's.
pub(crate) fn column_width(header: &str, cells: impl IntoIterator<Item = usize>) -> usize {
    cells.into_iter().max().unwrap_or(0).max(header.len())
}

/// Writes one diagnostic line to stderr, once stdout has caught up (unless it is stalled:
/// [`crate::stdout::catch_up`]); failures to write are ignored (there is nowhere left to
/// report them).
/// Nothing with `-q` ([`crate::logging`]).
pub(crate) fn note(text: &str) {
    if !crate::logging::quiet() {
        asked_for(text);
    }
}

/// A line on stderr that an option asked for (`--explain`): written as [`note`] writes, but
/// even under `-q`.
pub(crate) fn asked_for(text: &str) {
    crate::stdout::catch_up();
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A count and its noun, singular for one: `count(1, "byte")` is `1 byte`, `count(2, "byte")`
/// `2 bytes`, `count(2, "query")` `2 queries`. Every summary counts through this, so none says
/// "1 bytes".
pub(crate) fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        return format!("1 {noun}");
    }
    // A consonant and y: query, queries (but day, days).
    match noun.strip_suffix('y') {
        Some(stem) if stem.ends_with(|c: char| !"aeiou".contains(c)) => {
            format!("{n} {stem}ies")
        }
        _ => format!("{n} {noun}s"),
    }
}

/// An address as it goes before `:PORT`: IPv6 in brackets.
pub(crate) fn host(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// A payload as text: lossy UTF-8, one trailing line ending removed (the line we print adds its
/// own), and whether the bytes were valid UTF-8.
pub(crate) fn payload_text(bytes: &[u8]) -> (String, bool) {
    let trimmed = bytes
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(bytes);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    (String::from_utf8_lossy(trimmed).into_owned(), utf8)
}

/// A payload as one printable line: one trailing line ending removed (as in
/// [`payload_text`]), control characters escaped as [`char::escape_debug`] does (`\n`,
/// `\u{1b}`), every other character that can reorder or hide text (bidi overrides,
/// zero-width and format characters: [`crate::escape::is_hidden`]) as `\u{202e}`, and bytes
/// that are not UTF-8 as `\xNN`. Printable UTF-8 is left as it is.
pub(crate) fn payload_line(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let trimmed = bytes
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(bytes);
    let mut out = String::with_capacity(trimmed.len());
    for chunk in trimmed.utf8_chunks() {
        for c in chunk.valid().chars() {
            crate::escape::push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Bytes as lowercase hex, two digits each.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `payload_hex` field of `send`/`recv` records: the exact bytes in hex, only when they
/// are not valid UTF-8 (`utf8` as [`payload_text`] reported it).
pub(crate) fn payload_hex(bytes: &[u8], utf8: bool) -> Option<String> {
    (!utf8).then(|| hex(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 11 — "sent 1 byte", not "sent 1 bytes".
    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(count(1u64, "byte"), "1 byte");
        assert_eq!(count(0u64, "byte"), "0 bytes");
        assert_eq!(count(2u8, "datagram"), "2 datagrams");
        // Review fix — "1 queries unanswered" said ssmping's error.
        assert_eq!(count(1u64, "query"), "1 query");
        assert_eq!(count(3u64, "query"), "3 queries");
        assert_eq!(count(2u64, "day"), "2 days");
    }

    #[test]
    fn envelope_is_one_line_with_type_and_data() {
        let mut buf = Vec::new();
        write_json(&mut buf, "info", &serde_json::json!({"group": "224.1.1.5"})).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"type\":\"info\",\"data\":{\"group\":\"224.1.1.5\"}}\n"
        );
    }

    #[test]
    fn column_is_as_wide_as_its_widest_cell_or_header() {
        assert_eq!(column_width("NAME", [2, 7, 3]), 7);
        assert_eq!(column_width("NAME", [2]), 4);
        assert_eq!(column_width("NAME", []), 4);
    }

    #[test]
    fn payload_text_strips_one_line_ending_and_flags_bad_utf8() {
        assert_eq!(payload_text(b"hi\n"), ("hi".into(), true));
        assert_eq!(payload_text(b"hi\r\n"), ("hi".into(), true));
        assert_eq!(payload_text(b"hi\n\n"), ("hi\n".into(), true));
        assert_eq!(payload_text(b"a\xffb"), ("a\u{fffd}b".into(), false));
        assert_eq!(payload_text(b""), (String::new(), true));
    }

    // issue #2 (review) — one payload, one line: control characters and bad UTF-8 escaped,
    // printable text untouched.
    #[test]
    fn payload_line_escapes_controls_and_bad_utf8_only() {
        assert_eq!(payload_line(b"Hello, World!"), "Hello, World!");
        assert_eq!(payload_line(b"Hello, World!\n"), "Hello, World!");
        assert_eq!(
            payload_line(b"caf\xc3\xa9 \xe2\x9c\x93 C:\\x"),
            "caf\u{e9} \u{2713} C:\\x"
        );
        assert_eq!(payload_line(b"a\nb\r\n"), "a\\nb");
        assert_eq!(payload_line(b"a\tb\0"), "a\\tb\\0");
        assert_eq!(payload_line(b"\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(payload_line(b"\x7f"), "\\u{7f}");
        assert_eq!(payload_line("\u{9b}".as_bytes()), "\\u{9b}");
        assert_eq!(payload_line(b"a\xffb\xc3"), "a\\xffb\\xc3");
        assert_eq!(payload_line(b""), "");
        // issue #9 — bidi overrides, isolates and zero-width characters are escaped too.
        assert_eq!(
            payload_line("a\u{202e}b\u{2066}c\u{200b}d".as_bytes()),
            "a\\u{202e}b\\u{2066}c\\u{200b}d"
        );
        assert_eq!(payload_line("\u{feff}x".as_bytes()), "\\u{feff}x");
        for bytes in [&b"x\ny"[..], b"\r", b"\n\n", b"\x85\x0b\x0c"] {
            let line = payload_line(bytes);
            assert!(!line.chars().any(char::is_control), "{bytes:?} -> {line:?}");
        }
    }

    // issue #2 (review) — JSON carries the exact bytes when they are not UTF-8.
    #[test]
    fn payload_hex_only_for_bad_utf8() {
        assert_eq!(hex(b"\x00\xffA"), "00ff41");
        assert_eq!(payload_hex(b"hi\n", true), None);
        let bytes = b"a\xff\n";
        let (_, utf8) = payload_text(bytes);
        assert_eq!(payload_hex(bytes, utf8).as_deref(), Some("61ff0a"));
    }
}
