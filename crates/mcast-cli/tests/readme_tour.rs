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
//! The JSON that the tour's commands print (and that `perf` and `ping` print, run here apart)
//! must use only record types and fields that the README's "JSON output" section names.
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

/// The names in code spans of the README's JSON section.
fn json_names(readme: &str) -> BTreeSet<String> {
    let text = section(readme, JSON_HEADING).unwrap_or_else(|e| panic!("{e}"));
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The record types and `data` fields of every JSON line in `outputs` that the README does not
/// name.
fn unnamed_json(names: &BTreeSet<String>, outputs: &[Output]) -> Vec<String> {
    let mut missing = BTreeSet::new();
    for line in outputs.iter().flat_map(|o| &o.stdout) {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let kind = record.get("type").and_then(Value::as_str).unwrap_or("?");
        if !names.contains(kind) {
            missing.insert(format!("type {kind:?}"));
        }
        if let Some(Value::Object(data)) = record.get("data") {
            for field in data.keys().filter(|f| !names.contains(*f)) {
                missing.insert(format!("{kind}.{field}"));
            }
        }
    }
    missing.into_iter().collect()
}

/// Runs one block and returns its commands' outputs.
fn walk(block: &Block) -> Vec<Output> {
    let mut background = Vec::new();
    let mut outputs = Vec::new();
    for step in &block.steps {
        let mut cmd = mcast();
        cmd.args(&step.args);
        let name = format!("README.md:{}: mcast {}", step.line, step.args.join(" "));
        let mut proc = Proc::spawn(&name, cmd);
        if step.background {
            proc.wait_listening();
            background.push((name, proc));
        } else {
            proc.close_stdin();
            let out = proc.finish();
            assert_eq!(out.code(), 0, "{name} failed:\n{}", out.stderr_text());
            out.assert_no_panic();
            outputs.push(out);
        }
    }
    for (name, proc) in background {
        let out = proc.finish();
        assert_eq!(out.code(), 0, "{name} failed:\n{}", out.stderr_text());
        out.assert_no_panic();
        outputs.push(out);
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
    let names = json_names(&readme);
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
            .flat_map(|o| o.stdout.iter().chain(&o.stderr))
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
        let unnamed = unnamed_json(&names, &outputs);
        assert!(
            unnamed.is_empty(),
            "README.md:{}: JSON the README's {JSON_HEADING:?} does not name: {unnamed:?}",
            block.line
        );
        walked += 1;
    }
    assert!(walked >= 5, "only {walked} blocks walked");
}

// issue #11 (README JSON) — the JSON section names every field perf and ping print.
#[test]
fn the_readme_names_every_json_field_of_perf_and_ping() {
    let names = json_names(&readme());
    let lo = "127.0.0.1";
    let mut perf_recv = Proc::mcast(&["perf", "recv", "239.1.2.3", "47761", "-i", lo, "--json"]);
    perf_recv.wait_listening();
    let perf_send = crate::util::run(&[
        "perf",
        "send",
        "239.1.2.3",
        "47761",
        "-i",
        lo,
        "--ttl",
        "0",
        "--rate",
        "1000",
        "--duration",
        "1100ms",
        "--json",
    ]);
    perf_send.assert_success();
    let perf_recv = perf_recv.finish_ok();
    let ping = ["239.1.2.3", "47762", "-i", lo, "--ttl", "0", "-c", "2"];
    let mut peer = Proc::mcast(&[&["ping"][..], &ping, &["--interval", "100ms"]].concat());
    peer.wait_listening();
    let pinger =
        crate::util::run(&[&["ping"][..], &ping, &["--interval", "100ms", "--json"]].concat());
    pinger.assert_success();
    peer.finish_ok();
    let outputs = [perf_send, perf_recv, pinger];
    for (out, kinds) in outputs.iter().zip([
        &["start", "interval", "summary", "end"][..],
        &["start", "interval", "summary", "end"],
        &["start", "answer", "end"],
    ]) {
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
    let unnamed = unnamed_json(&names, &outputs);
    assert!(
        unnamed.is_empty(),
        "fields the README's {JSON_HEADING:?} does not name: {unnamed:?}"
    );
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
