//! The README's five-minute tour, walked as written, so that a newcomer who follows it meets
//! what it promises.
//!
//! The walk takes every ```` ```console ```` block of README.md: the tour under the heading
//! [`HEADING`], and the examples further down (```` ```sh ```` blocks, such as `cargo install`
//! and the lab, are not walked: CI runs the lab through `cargo xtask demo`). In a block:
//!
//! - a line `$ mcast ARGS…` is a command (words split as in the bad-input table: spaces separate,
//!   `'…'` and `"…"` quote); `$ sudo mcast …` needs root; a trailing ` &` runs it in the
//!   background, and the walk waits until it says `listening on` (on stderr) before going on;
//! - every other line is a line one of the block's commands prints, on stdout or stderr, in any
//!   order between commands; `…` in it stands for any text (ports, times, counts);
//! - and the other way round, every line the commands print is shown, unless the block has a
//!   line of only `…`, which stands for lines left out (a block once showed two of the three
//!   socket options `send --explain` prints, and passed).
//!
//! The `mcast` of the README is the binary this test suite built, and every command must exit 0.
//! A block needing root is skipped with a note when the test does not run as root (`CI=true`
//! makes that a failure: CI runs as root).
//!
//! The JSON that the tour's commands print, and that every command printing JSON prints when
//! run here apart (`info`, `groups`, `ifaces`, `send`, `recv`, `sniff` live and `-r`, `perf`,
//! `ping`; `ping --ssmping`, `link` and `stray` records where ssmping.rs, link.rs and
//! hostile.rs produce them), must match the table of the README's "JSON output" section: each
//! record type has a row naming the command, and that row names each field (see
//! [`unnamed_json`] for the levels checked).
//!
//! Network safety: the walk refuses, before running anything, a command of the tour that sends,
//! joins or captures without pinning the interface to loopback (`-i 127.0.0.1`, `-i lo`,
//! `-i ::1`), or that sends with a TTL other than 0.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::readme_table::words;
use crate::util::{mcast, Output, Proc};
use mcast_testkit::privilege::{is_root, on_ci};

/// The heading the tour follows.
const HEADING: &str = "## A five-minute tour";

/// The heading of the JSON section, whose code spans name every type and field.
const JSON_HEADING: &str = "## JSON output";

/// The interfaces a tour command may name.
const LOOPBACK: [&str; 3] = ["127.0.0.1", "lo", "::1"];

/// One command of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    /// The line's number in README.md (1-based).
    line: usize,
    /// The arguments after `mcast`.
    args: Vec<String>,
    /// Whether it runs in the background (a trailing `&`).
    background: bool,
    /// Whether it needs root (`sudo`).
    root: bool,
}

/// One ```` ```console ```` block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    steps: Vec<Step>,
    /// The lines it shows, with their line numbers.
    shown: Vec<(usize, String)>,
}

fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The text of the section under `heading`, up to the next `## ` heading.
fn section<'a>(readme: &'a str, heading: &str) -> Result<&'a str, String> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .ok_or_else(|| format!("README.md has no {heading:?} heading"))?;
    let body = &readme[start + heading.len() + 2..];
    Ok(&body[..body.find("\n## ").unwrap_or(body.len())])
}

/// Checks that a tour command stays on this host (see the module docs).
fn check_safe(args: &[String]) -> Result<(), String> {
    let touches_network = matches!(
        args.first().map(String::as_str),
        Some("send" | "recv" | "perf" | "ping" | "sniff")
    );
    if !touches_network {
        return Ok(());
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    match value("-i") {
        Some(iface) if LOOPBACK.contains(&iface) => {}
        other => return Err(format!("-i must name loopback, not {other:?}")),
    }
    let sends = matches!(args[0].as_str(), "send" | "ping")
        || (args[0] == "perf" && args.get(1).is_some_and(|a| a == "send"));
    if sends && value("--ttl") != Some("0") {
        return Err("a command that sends must give --ttl 0".into());
    }
    Ok(())
}

/// Parses one `$ …` line.
fn step(line: usize, command: &str) -> Result<Step, String> {
    let (command, background) = match command.trim_end().strip_suffix(" &") {
        Some(c) => (c, true),
        None => (command.trim_end(), false),
    };
    let words = words(command)?;
    let (root, words) = match words.split_first() {
        Some((sudo, rest)) if sudo == "sudo" => (true, rest),
        _ => (false, &words[..]),
    };
    let Some((program, args)) = words.split_first() else {
        return Err("an empty command".into());
    };
    if program != "mcast" {
        return Err(format!("a tour command runs `mcast`, not {program:?}"));
    }
    check_safe(args)?;
    Ok(Step {
        line,
        args: args.to_vec(),
        background,
        root,
    })
}

/// The README's console blocks.
fn parse_tour(readme: &str) -> Result<Vec<Block>, String> {
    if !readme.lines().any(|l| l.trim() == HEADING) {
        return Err(format!("README.md has no {HEADING:?} heading"));
    }
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    let mut in_other_fence = false;
    for (i, line) in readme.lines().enumerate() {
        let number = i + 1;
        if let Some(block) = current.as_mut() {
            if line.trim() == "```" {
                blocks.push(current.take().expect("a block"));
            } else if let Some(command) = line.strip_prefix("$ ") {
                block
                    .steps
                    .push(step(number, command).map_err(|e| format!("README.md:{number}: {e}"))?);
            } else if !line.trim().is_empty() {
                block.shown.push((number, line.trim().to_owned()));
            }
        } else if in_other_fence {
            in_other_fence = line.trim() != "```";
        } else if line.trim() == "```console" {
            current = Some(Block {
                line: number,
                steps: Vec::new(),
                shown: Vec::new(),
            });
        } else if line.trim_start().starts_with("```") {
            in_other_fence = true;
        }
    }
    if current.is_some() {
        return Err("the tour's last console block is not closed".into());
    }
    Ok(blocks)
}

/// Whether `line` reads as `pattern`, where `…` stands for any text.
fn shows(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    let line = line.trim();
    let (first, rest) = pieces.split_first().expect("split yields one piece");
    let Some(mut tail) = line.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for piece in middle {
        match tail.find(piece) {
            Some(at) => tail = &tail[at + piece.len()..],
            None => return false,
        }
    }
    tail.ends_with(last)
}

/// The lines the block's commands printed that the block does not show, unless the block shows
/// a line of only `…` (it leaves lines out).
fn unshown<'a>(block: &Block, printed: &[&'a String]) -> Vec<&'a str> {
    if block.shown.iter().any(|(_, pattern)| pattern == "…") {
        return Vec::new();
    }
    printed
        .iter()
        .filter(|line| {
            !line.trim().is_empty() && !block.shown.iter().any(|(_, pattern)| shows(pattern, line))
        })
        .map(|line| line.as_str())
        .collect()
}

/// One row of the README's JSON table: a record type, the commands that print it, and the
/// names in code spans of its fields cell (fields, the fields of objects inside them, values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonRow {
    kind: String,
    commands: Vec<String>,
    names: BTreeSet<String>,
}

/// The code spans of `text`.
fn spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The cells of a table row, split on `|` outside code spans.
fn cells(line: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let (mut start, mut in_code) = (0, false);
    for (i, c) in line.char_indices() {
        match c {
            '`' => in_code = !in_code,
            '|' if !in_code => {
                cells.push(line[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    cells.push(line[start..].trim());
    cells
}

/// The rows of the table in the README's JSON section: `| `TYPE` | `COMMAND`, … | FIELDS |`.
fn json_table(readme: &str) -> Result<Vec<JsonRow>, String> {
    let text = section(readme, JSON_HEADING)?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells = cells(line);
        let [_, kind, commands, fields, ..] = cells[..] else {
            return Err(format!("a JSON table row without three cells: {line:?}"));
        };
        let kind = spans(kind).collect::<Vec<_>>();
        let [kind] = kind[..] else {
            return Err(format!("a JSON table row names one type: {line:?}"));
        };
        if kind == "type" {
            continue;
        }
        let commands: Vec<String> = spans(commands).map(str::to_owned).collect();
        if commands.is_empty() {
            return Err(format!("a JSON table row names no command: {line:?}"));
        }
        rows.push(JsonRow {
            kind: kind.to_owned(),
            commands,
            names: spans(fields).map(str::to_owned).collect(),
        });
    }
    if rows.is_empty() {
        return Err(format!("README.md's {JSON_HEADING:?} has no table"));
    }
    Ok(rows)
}

/// The README's JSON table.
pub(crate) fn readme_json_table() -> Vec<JsonRow> {
    json_table(&readme()).unwrap_or_else(|e| panic!("{e}"))
}

/// The name the JSON table gives the command `mcast ARGS` in its "printed by" column: `recv`,
/// `perf send`, `ping --ssmping`.
fn command_name(args: &[&str]) -> String {
    match args {
        ["perf", sub, ..] => format!("perf {sub}"),
        ["ping", rest @ ..] if rest.contains(&"--ssmping") => "ping --ssmping".to_owned(),
        [first, ..] => (*first).to_owned(),
        [] => String::new(),
    }
}

/// Whether an object is a map keyed by addresses (groups, peers, servers; `stats.groups` may
/// add `"unknown"`) rather than a record with fields.
fn keyed_by_address(object: &serde_json::Map<String, Value>) -> bool {
    !object.is_empty()
        && object
            .keys()
            .all(|k| k == "unknown" || k.parse::<std::net::IpAddr>().is_ok())
}

/// What the README's JSON table leaves out of the JSON lines that `mcast ARGS` printed in
/// `out`: a record type with no row naming the command, or a field its row does not name.
///
/// The levels checked: the record's `type`; each field of `data`; and each field of an object
/// directly inside `data` (or of objects in an array directly inside it), which the row names
/// too (in parentheses, as `recv`'s `frame`). An object keyed by addresses (`stats.groups`,
/// ping's `peers`) is a map: its keys are data, and what lies below it is not checked. Deeper
/// levels are documented in the rustdoc the README points to.
pub(crate) fn unnamed_json(table: &[JsonRow], args: &[&str], out: &Output) -> Vec<String> {
    let command = command_name(args);
    let mut missing = BTreeSet::new();
    for line in &out.stdout {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let kind = record.get("type").and_then(Value::as_str).unwrap_or("?");
        let rows: Vec<&JsonRow> = table
            .iter()
            .filter(|r| r.kind == kind && r.commands.contains(&command))
            .collect();
        if rows.is_empty() {
            missing.insert(format!(
                "`{command}`: record type `{kind}` (no row of this type names `{command}`)"
            ));
            continue;
        }
        let named = |name: &str| rows.iter().any(|r| r.names.contains(name));
        let Some(Value::Object(data)) = record.get("data") else {
            continue;
        };
        for (field, value) in data {
            if !named(field) {
                missing.insert(format!("`{command}` `{kind}` record: field `{field}`"));
            }
            let inner: Vec<&serde_json::Map<String, Value>> = match value {
                Value::Object(o) if !keyed_by_address(o) => vec![o],
                Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
                _ => Vec::new(),
            };
            for key in inner.iter().flat_map(|o| o.keys()) {
                if !named(key) {
                    missing.insert(format!(
                        "`{command}` `{kind}` record: field `{field}.{key}`"
                    ));
                }
            }
        }
    }
    missing.into_iter().collect()
}

/// Asserts that the README's JSON section names every record and field of `mcast ARGS`'s
/// JSON output `out` (see [`unnamed_json`]), and that there was some.
pub(crate) fn assert_readme_names_json(args: &[&str], out: &Output) {
    assert!(
        out.stdout.iter().any(|l| l.starts_with("{\"type\":")),
        "mcast {} printed no JSON:\n{}",
        args.join(" "),
        out.stdout_text()
    );
    let unnamed = unnamed_json(&readme_json_table(), args, out);
    assert!(
        unnamed.is_empty(),
        "README.md's {JSON_HEADING:?} does not name what `mcast {}` prints:\n{}",
        args.join(" "),
        unnamed.join("\n")
    );
}

/// Runs one block and returns its commands' arguments and outputs.
fn walk(block: &Block) -> Vec<(Vec<String>, Output)> {
    let mut background = Vec::new();
    let mut outputs = Vec::new();
    for step in &block.steps {
        let mut cmd = mcast();
        cmd.args(&step.args);
        let name = format!("README.md:{}: mcast {}", step.line, step.args.join(" "));
        let mut proc = Proc::spawn(&name, cmd);
        if step.background {
            proc.wait_listening();
            background.push((name, &step.args, proc));
        } else {
            proc.close_stdin();
            let out = proc.finish();
            assert_eq!(out.code(), 0, "{name} failed:\n{}", out.stderr_text());
            out.assert_no_panic();
            outputs.push((step.args.clone(), out));
        }
    }
    for (name, args, proc) in background {
        let out = proc.finish();
        assert_eq!(out.code(), 0, "{name} failed:\n{}", out.stderr_text());
        out.assert_no_panic();
        outputs.push((args.clone(), out));
    }
    outputs
}

// issue #11 (README tour) — following the README top to bottom works without guessing.
#[test]
fn the_readme_console_blocks_run_as_written() {
    let readme = readme();
    let blocks = parse_tour(&readme).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        blocks.len() >= 6,
        "the tour has send/recv, info, JSON, sniff, perf and ping blocks: {blocks:#?}"
    );
    let table = json_table(&readme).unwrap_or_else(|e| panic!("{e}"));
    let mut walked = 0;
    for block in &blocks {
        assert!(
            !block.steps.is_empty(),
            "README.md:{}: a console block with no command",
            block.line
        );
        if block.steps.iter().any(|s| s.root) && !is_root() {
            assert!(
                !on_ci(),
                "README.md:{}: needs root, and CI=true",
                block.line
            );
            eprintln!("skipping README.md:{}: it needs root", block.line);
            continue;
        }
        let outputs = walk(block);
        let printed: Vec<&String> = outputs
            .iter()
            .flat_map(|(_, o)| o.stdout.iter().chain(&o.stderr))
            .collect();
        for (line, pattern) in &block.shown {
            assert!(
                printed.iter().any(|l| shows(pattern, l)),
                "README.md:{line}: no command of the block printed {pattern:?}; they printed:\n{}",
                printed
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        let unshown = unshown(block, &printed);
        assert!(
            unshown.is_empty(),
            "README.md:{}: lines the block's commands print that it does not show (a line of \
             only `…` stands for lines left out):\n{}",
            block.line,
            unshown.join("\n")
        );
        let unnamed: Vec<String> = outputs
            .iter()
            .flat_map(|(args, out)| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                unnamed_json(&table, &args, out)
            })
            .collect();
        assert!(
            unnamed.is_empty(),
            "README.md:{}: JSON the README's {JSON_HEADING:?} does not name:\n{}",
            block.line,
            unnamed.join("\n")
        );
        walked += 1;
    }
    assert!(walked >= 5, "only {walked} blocks walked");
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mcast-json-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("a UTF-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that `out` has a record of each of `kinds`.
fn assert_records(out: &Output, kinds: &[&str]) {
    for kind in kinds {
        assert!(
            out.stdout
                .iter()
                .any(|l| l.starts_with(&format!("{{\"type\":\"{kind}\""))),
            "no {kind} record:\n{}",
            out.stdout_text()
        );
    }
}

/// Starts `mcast ARGS` in the background and waits until it listens.
fn listening(args: &[&str]) -> Proc {
    let mut proc = Proc::mcast(args);
    proc.wait_listening();
    proc
}

// issue #11 (README JSON), review (JSON docs): the section left out `info`'s `well_known`,
// sniff's `packet` records, ping's `interval`, `ping --ssmping`'s records, and the `group` and
// `iface` records. Every command that can run here runs with --json (with a key, so `auth`
// objects are filled in), and each record type and field it prints must be named in the row
// for that record and command. `ping --ssmping` is checked against ssmpingd in ssmping.rs,
// `link` records in link.rs, `stray` records in hostile.rs.
#[test]
fn the_readme_names_every_json_record_and_field() {
    let table = readme_json_table();
    let lo = "127.0.0.1";
    let dir = Scratch::new("readme");
    let key = dir.path("group.key");
    crate::util::run(&["keygen", &key]).assert_success();
    let mut checked: Vec<(Vec<String>, Output, &[&str])> = Vec::new();
    let mut check = |args: &[&str], out: Output, kinds: &'static [&'static str]| {
        out.assert_success();
        checked.push((args.iter().map(|a| (*a).to_owned()).collect(), out, kinds));
    };

    for group in ["224.1.1.5", "224.0.0.251", "ff02::1", "ff02::1%lo"] {
        let args = ["info", group, "--json"];
        check(&args, crate::util::run(&args), &["info"]);
    }
    check(
        &["groups", "--json"],
        crate::util::run(&["groups", "--json"]),
        &["group"],
    );
    check(
        &["ifaces", "--json"],
        crate::util::run(&["ifaces", "--json"]),
        &["iface"],
    );

    // recv with a key and a receive buffer: a perf stream (its end frames give a `gap` end),
    // a keyed `send`, and a plain one (dropped: an `unauthenticated` gap).
    let recv = [
        "recv",
        "239.1.2.3",
        "47763",
        "-i",
        lo,
        "--json",
        "--key-file",
        &key,
        "--rcvbuf",
        "256K",
        "--timeout",
        "2s",
    ];
    let keyed_recv = listening(&recv);
    let perf = [
        "perf",
        "send",
        "239.1.2.3",
        "47763",
        "-i",
        lo,
        "--ttl",
        "0",
        "--rate",
        "100",
        "--duration",
        "100ms",
        "--key-file",
        &key,
    ];
    crate::util::run(&perf).assert_success();
    let send = [
        "send",
        "239.1.2.3",
        "47763",
        "hi",
        "-i",
        lo,
        "--ttl",
        "0",
        "--key-file",
        &key,
        "--json",
    ];
    check(&send, crate::util::run(&send), &["send", "end"]);
    let plain = [
        "send",
        "239.1.2.3",
        "47763",
        "plain",
        "-i",
        lo,
        "--ttl",
        "0",
    ];
    crate::util::run(&plain).assert_success();
    check(
        &recv,
        keyed_recv.finish(),
        &["start", "recv", "gap", "stats", "end"],
    );

    // Bytes that are not UTF-8, from stdin: `payload_hex` on both ends.
    let recv = ["recv", "239.1.2.3", "47764", "-i", lo, "--json", "-c", "1"];
    let raw_recv = listening(&recv);
    let send = [
        "send",
        "239.1.2.3",
        "47764",
        "-i",
        lo,
        "--ttl",
        "0",
        "--json",
    ];
    let mut sender = Proc::mcast(&send);
    sender.write_stdin(b"\xff\xfe\n");
    sender.close_stdin();
    check(&send, sender.finish(), &["send", "end"]);
    check(&recv, raw_recv.finish(), &["start", "recv", "stats", "end"]);

    let perf_recv = [
        "perf",
        "recv",
        "239.1.2.3",
        "47765",
        "-i",
        lo,
        "--json",
        "--key-file",
        &key,
        "--rcvbuf",
        "256K",
    ];
    let receiver = listening(&perf_recv);
    let perf_send = [
        "perf",
        "send",
        "239.1.2.3",
        "47765",
        "-i",
        lo,
        "--ttl",
        "0",
        "--rate",
        "1000",
        "--duration",
        "1100ms",
        "--json",
        "--key-file",
        &key,
    ];
    check(
        &perf_send,
        crate::util::run(&perf_send),
        &["start", "interval", "summary", "end"],
    );
    check(
        &perf_recv,
        receiver.finish(),
        &["start", "interval", "summary", "end"],
    );

    // ping at 100 ms prints an `answer` per answer; faster, an `interval` each second.
    for (port, interval, count, kinds) in [
        ("47766", "100ms", "2", &["start", "answer", "end"][..]),
        ("47767", "10ms", "120", &["start", "interval", "end"]),
    ] {
        let ping = [
            "ping",
            "239.1.2.3",
            port,
            "-i",
            lo,
            "--ttl",
            "0",
            "-c",
            count,
            "--interval",
            interval,
            "--key-file",
            &key,
        ];
        let peer = listening(&ping);
        let json = [&ping[..], &["--json"]].concat();
        let out = crate::util::run(&json);
        peer.finish_ok();
        check(&json, out, kinds);
    }

    if is_root() {
        let pcap = dir.path("tour.pcap");
        let sniff = [
            "sniff",
            "-i",
            "lo",
            "-c",
            "2",
            "--json",
            "--hexdump",
            "-w",
            &pcap,
            "udp",
            "port",
            "47768",
        ];
        let sniffer = listening(&sniff);
        let send = [
            "send",
            "239.1.2.3",
            "47768",
            "hi",
            "-i",
            lo,
            "--ttl",
            "0",
            "--framed",
            "-c",
            "2",
        ];
        crate::util::run(&send).assert_success();
        check(&sniff, sniffer.finish(), &["packet", "end"]);
        let read = ["sniff", "-r", &pcap, "-e", "--json"];
        check(&read, crate::util::run(&read), &["packet", "end"]);
    } else {
        assert!(!on_ci(), "sniffing needs root, and CI=true");
        eprintln!("the_readme_names_every_json_record_and_field: not root, sniff left out");
    }

    let mut unnamed = BTreeSet::new();
    for (args, out, kinds) in &checked {
        assert_records(out, kinds);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        unnamed.extend(unnamed_json(&table, &args, out));
    }
    assert!(
        unnamed.is_empty(),
        "README.md's {JSON_HEADING:?} does not name:\n{}",
        unnamed.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_json_check_names_what_the_readme_leaves_out() {
    let readme = "# x\n## JSON output\n\n| `type` | printed by | `data` fields |\n|---|---|---|\n| `start` | `ping` | `group`, `peers` (`x`), `auth` (`verified`) |\n| `end` | `recv`, `ping` | `reason` |\n";
    let table = json_table(readme).expect("parses");
    assert_eq!(table.len(), 2, "{table:#?}");
    assert_eq!(table[1].commands, ["recv", "ping"]);
    let out = |lines: &[&str]| Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(0),
        stdout: lines.iter().map(|l| (*l).to_owned()).collect(),
        stderr: Vec::new(),
    };
    let printed = out(&[
        r#"{"type":"start","data":{"group":"g","peers":{"127.0.0.1":{"y":1}},"auth":{"verified":1,"forged":0},"extra":1}}"#,
        r#"{"type":"end","data":{"reason":"count","packets":2}}"#,
        r#"{"type":"reply","data":{}}"#,
    ]);
    assert_eq!(
        unnamed_json(&table, &["ping", "239.1.2.3", "5000"], &printed),
        [
            "`ping` `end` record: field `packets`",
            "`ping` `start` record: field `auth.forged`",
            "`ping` `start` record: field `extra`",
            "`ping`: record type `reply` (no row of this type names `ping`)",
        ]
    );
    // The same records from `ping --ssmping`, whose rows are its own.
    let ssm = unnamed_json(&table, &["ping", "--ssmping", "10.0.0.1"], &printed);
    assert!(
        ssm.contains(
            &"`ping --ssmping`: record type `start` (no row of this type names `ping --ssmping`)"
                .to_owned()
        ),
        "{ssm:?}"
    );
    assert_eq!(command_name(&["perf", "recv", "239.1.2.3"]), "perf recv");
    assert_eq!(command_name(&["sniff", "-r", "x.pcap"]), "sniff");
}

#[test]
fn a_pattern_reads_ellipses_as_any_text() {
    assert!(shows(
        "received … datagrams in …",
        "received 3 datagrams in 1s"
    ));
    assert!(shows("… / IP / UDP", "12:00:00.1 Ether / IP / UDP"));
    assert!(shows("exact", "  exact  "));
    assert!(!shows("exact", "exactly"));
    assert!(!shows("a … c", "a b d"));
    assert!(!shows("b …", "a b c"));
}

#[test]
fn the_tour_refuses_commands_that_leave_the_host() {
    let bad = |c: &str| step(1, c).expect_err(c);
    bad("mcast send 239.1.2.3 5000 hi --ttl 0");
    bad("mcast send 239.1.2.3 5000 hi -i eth0 --ttl 0");
    bad("mcast send 239.1.2.3 5000 hi -i 127.0.0.1");
    bad("mcast perf send 239.1.2.3 5000 -i 127.0.0.1 --ttl 1");
    bad("sudo mcast sniff -i eth0 -c 1");
    bad("cargo run");
    let ok = step(7, "sudo mcast sniff -i lo -c 1 &").expect("a loopback capture");
    assert!(ok.root && ok.background);
    assert_eq!(ok.args, ["sniff", "-i", "lo", "-c", "1"]);
    step(1, "mcast info 224.1.1.5").expect("info sends nothing");
}

#[test]
fn the_tour_parser_reads_blocks_and_skips_sh_fences() {
    let text = "# x\n## A five-minute tour\n```sh\n$ not a step\n```\n```console\n$ mcast info 224.1.1.5\nmac: …\n```\n## Next\n```console\n$ mcast info 1\n```\n";
    let blocks = parse_tour(text).expect("parses");
    assert_eq!(blocks.len(), 2, "{blocks:#?}");
    assert_eq!(blocks[0].steps[0].args, ["info", "224.1.1.5"]);
    assert_eq!(blocks[0].shown, [(8, "mac: …".to_owned())]);
    assert_eq!(blocks[1].steps[0].args, ["info", "1"]);
    assert!(blocks[1].shown.is_empty());
    assert!(parse_tour("## Another heading\n").is_err());
}

#[test]
fn a_block_shows_every_line_printed_or_says_it_leaves_some_out() {
    let text = "## A five-minute tour\n```console\n$ mcast send 239.1.2.3 5 hi -i 127.0.0.1 --ttl 0 --explain\nsocket option IPPROTO_IP IP_MULTICAST_TTL=0\nsocket option IPPROTO_IP IP_MULTICAST_IF=…\n```\n";
    let block = &parse_tour(text).expect("parses")[0];
    let printed: Vec<String> = [
        "socket option IPPROTO_IP IP_MULTICAST_TTL=0",
        "socket option IPPROTO_IP IP_MULTICAST_LOOP=1",
        "socket option IPPROTO_IP IP_MULTICAST_IF=127.0.0.1",
        "",
    ]
    .map(String::from)
    .into();
    let printed: Vec<&String> = printed.iter().collect();
    assert_eq!(
        unshown(block, &printed),
        ["socket option IPPROTO_IP IP_MULTICAST_LOOP=1"]
    );
    let mut excerpt = block.clone();
    excerpt.shown.push((9, "…".into()));
    assert!(unshown(&excerpt, &printed).is_empty());
}
