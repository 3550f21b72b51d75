//! Logging and quiet (issue #11, part 5): `-v` / `-vv` / `RUST_LOG` log lines through
//! `tracing` on stderr, none by default; `-q` silences notes, never errors. And the
//! directories `completions --dir` and `man --dir` write into are created when missing
//! (issue #11, part 3).

use std::path::PathBuf;

use crate::util::{mcast, Output, Proc, LO};

/// Runs `mcast ARGS` with `RUST_LOG` set to `rust_log` (or unset), stdin empty.
fn run_logged(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = mcast();
    cmd.args(args);
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    let mut p = Proc::spawn(&format!("mcast {}", args.join(" ")), cmd);
    p.close_stdin();
    let out = p.finish();
    out.assert_no_panic();
    out
}

/// `mcast [PRE...] recv 239.1.5.61 PORT -i 127.0.0.1 --timeout 200ms`: joins, waits, times
/// out (exit 1, with its error line) and returns the output.
fn short_recv(pre: &[&str], port: &str, rust_log: Option<&str>) -> Output {
    let mut args = pre.to_vec();
    args.extend_from_slice(&["recv", "239.1.5.61", port, "-i", LO, "--timeout", "200ms"]);
    let out = run_logged(&args, rust_log);
    assert_eq!(out.code(), 1, "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains("error: timeout"),
        "{}",
        out.stderr_text()
    );
    out
}

/// The stderr lines that are log lines (`<timestamp> LEVEL target: …`).
fn log_lines(out: &Output) -> Vec<&str> {
    out.stderr
        .iter()
        .map(String::as_str)
        .filter(|l| {
            [" TRACE ", " DEBUG ", "  INFO ", "  WARN ", " ERROR "]
                .iter()
                .any(|level| l.contains(level))
        })
        .collect()
}

// issue #11 (logging) — off by default: no log line without -v or RUST_LOG.
#[test]
fn no_log_lines_by_default() {
    let out = short_recv(&[], "47561", None);
    assert!(log_lines(&out).is_empty(), "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains("listening on 239.1.5.61:47561"),
        "{}",
        out.stderr_text()
    );
}

// issue #11 (logging) — -v logs the join at info level, -vv adds mcast-sync's debug events
// (the join itself and the socket options), before or after the subcommand's name.
#[test]
fn verbose_logs_the_join() {
    let out = short_recv(&["-v"], "47562", None);
    let logs = log_lines(&out);
    assert!(
        logs.iter()
            .any(|l| l.contains("INFO mcast::adapter: joined") && l.contains("first=239.1.5.61")),
        "{}",
        out.stderr_text()
    );
    assert!(
        !logs.iter().any(|l| l.contains("DEBUG")),
        "{}",
        out.stderr_text()
    );

    let out = run_logged(
        &[
            "recv",
            "239.1.5.61",
            "47563",
            "-i",
            LO,
            "--timeout",
            "200ms",
            "-vv",
        ],
        None,
    );
    let logs = log_lines(&out);
    assert!(
        logs.iter()
            .any(|l| l.contains("DEBUG mcast_sync::setup::join: join group=239.1.5.61")),
        "{}",
        out.stderr_text()
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("option=\"IP_PKTINFO\" ok=true")),
        "{}",
        out.stderr_text()
    );
}

// issue #11 (logging) — RUST_LOG works without -v, and names what it shows.
#[test]
fn rust_log_selects_the_events() {
    let out = short_recv(&[], "47564", Some("debug"));
    assert!(
        log_lines(&out)
            .iter()
            .any(|l| l.contains("DEBUG mcast_sync::setup::join: join group=239.1.5.61")),
        "{}",
        out.stderr_text()
    );
    let out = short_recv(&[], "47565", Some("mcast_sync=debug"));
    let logs = log_lines(&out);
    assert!(
        logs.iter().any(|l| l.contains("mcast_sync::setup::join")),
        "{}",
        out.stderr_text()
    );
    assert!(
        !logs.iter().any(|l| l.contains(" mcast::")),
        "the CLI's events were not asked for: {}",
        out.stderr_text()
    );
}

// issue #11 (logging) — -q silences notes (here send's note about an empty stdin, and recv's
// "listening on" line) but never the error.
#[test]
fn quiet_silences_notes_not_errors() {
    let args = ["send", "239.1.5.61", "47566", "-i", LO, "--ttl", "0"];
    let out = run_logged(&args, None);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains("stdin was empty"),
        "{}",
        out.stderr_text()
    );
    let mut quiet = vec!["-q"];
    quiet.extend_from_slice(&args);
    let out = run_logged(&quiet, None);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);

    let out = short_recv(&["-q"], "47567", None);
    assert!(
        !out.stderr_text().contains("listening on"),
        "{}",
        out.stderr_text()
    );

    // What an option asked for is not a note: `--explain` prints under -q too.
    let explained = [
        "-q",
        "send",
        "239.1.5.61",
        "47566",
        "x",
        "-i",
        LO,
        "--ttl",
        "0",
        "--explain",
    ];
    let out = run_logged(&explained, None);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    assert!(
        out.stderr
            .iter()
            .any(|l| l == "socket option IPPROTO_IP IP_MULTICAST_TTL=0"),
        "{:?}",
        out.stderr
    );
}

// Review fix — recv's own -q is described as the global one is: errors and hints still print
// (it said "Print nothing on stderr").
#[test]
fn recv_quiet_help_says_what_still_prints() {
    let out = run_logged(&["recv", "--help"], None);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    let help = out.stdout_text();
    assert!(!help.contains("Print nothing on stderr"), "{help}");
    let at = help.find("--quiet").expect("recv --help lists --quiet");
    let quiet = help[at..].split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        quiet.contains("Errors (with their hints) and stdout still print"),
        "{quiet}"
    );
}

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mcast-docs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// issue #11 (set-up) — `man --dir` creates a missing nested directory and writes a page per
// subcommand into it.
#[test]
fn man_dir_is_created() {
    let scratch = Scratch::new("man");
    let dir = scratch.0.join("share/man/man1");
    let out = run_logged(&["man", "--dir", dir.to_str().unwrap()], None);
    assert_eq!(out.code(), 0, "{}", out.stderr_text());
    for page in [
        "mcast.1",
        "mcast-recv.1",
        "mcast-send.1",
        "mcast-completions.1",
    ] {
        let len = std::fs::metadata(dir.join(page)).map_or(0, |m| m.len());
        assert!(len > 0, "{page} missing or empty in {}", dir.display());
    }
    assert!(
        out.stderr_text().contains("man pages to"),
        "{}",
        out.stderr_text()
    );
}

// issue #11 (set-up) — `completions SHELL --dir` creates a missing nested directory and writes
// the script under the shell's file name.
#[test]
fn completions_dir_is_created() {
    let scratch = Scratch::new("completions");
    for (shell, file, needle) in [
        ("bash", "mcast.bash", "complete -F"),
        ("zsh", "_mcast", "#compdef mcast"),
        ("fish", "mcast.fish", "complete -c mcast"),
    ] {
        let dir = scratch.0.join(shell).join("completions");
        let out = run_logged(
            &["completions", shell, "--dir", dir.to_str().unwrap()],
            None,
        );
        assert_eq!(out.code(), 0, "{}", out.stderr_text());
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{shell}: {file} in {}: {e}", dir.display()));
        assert!(
            text.contains(needle),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        assert!(
            text.contains("sniff"),
            "{shell} completions lack the subcommands"
        );
    }
}
