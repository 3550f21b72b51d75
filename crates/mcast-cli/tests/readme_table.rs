//! The README's bad-input table, run row by row, so it cannot drift from the tool.
//!
//! The table is the first one after the heading [`HEADING`] in README.md. Each row is
//!
//! ```text
//! | `mcast ARGS…` | `error: …`<br>`hint: …` | 2 |
//! ```
//!
//! The first cell is the command (words split on spaces; `'…'` or `"…"` quote a word). The
//! second holds, in order, every line the command prints on stderr that starts with `error:`,
//! `warning:`, `note:` or `hint:` (other lines, such as a receiver's summary, are not listed), one
//! code span each, joined by `<br>`; a span that ends in `…` matches any line starting with what
//! comes before it. A span holding a backtick is written with double backticks
//! (``` `` hint: see `mcast ifaces` `` ```). The third cell is the exit code.
//!
//! When the tool's messages change on purpose, `MCAST_BLESS=1 cargo test -p mcast-cli --test
//! tests readme` writes what the tool now prints into the second and third cells of every row
//! (spans ending in `…` are kept when they still match).
//!
//! Network safety: no row may send or join beyond this host. A row running `send`, `recv`,
//! `perf` or `ping` must pin `-i` to loopback (`127.0.0.1`, `::1`, `lo`) or give one that can
//! name no interface here (a multicast address, or a name no interface has), so it is refused
//! before any socket exists; the test refuses any other row before running it.

use std::path::PathBuf;

use crate::util;

/// The heading the table follows.
const HEADING: &str = "## When the input is wrong";

/// The stderr lines a row lists.
const LISTED: [&str; 4] = ["error:", "warning:", "note:", "hint:"];

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    /// The line's index in README.md.
    line: usize,
    /// The arguments after `mcast`.
    args: Vec<String>,
    /// The lines expected on stderr (see the module docs).
    lines: Vec<String>,
    /// The exit code.
    code: i32,
}

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// Splits a command into words: spaces separate, `'…'` and `"…"` quote.
pub(crate) fn words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, ' ') => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("unclosed quote in {command:?}"));
    }
    words.extend(word);
    Ok(words)
}

/// The text of the code spans in a cell, in order: `` `a` ``, ``` `` b `c` `` ```.
fn code_spans(cell: &str) -> Result<Vec<String>, String> {
    let mut spans = Vec::new();
    let mut rest = cell.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches("<br>").trim_start();
        if rest.is_empty() {
            break;
        }
        let ticks = rest.len() - rest.trim_start_matches('`').len();
        if ticks == 0 {
            return Err(format!("expected a code span at {rest:?}"));
        }
        let fence = &rest[..ticks];
        let body = &rest[ticks..];
        let end = body
            .find(fence)
            .ok_or_else(|| format!("unclosed code span at {rest:?}"))?;
        let text = &body[..end];
        // Markdown strips one space each side of a span that needs them (double backticks).
        let text = if ticks > 1 {
            text.strip_prefix(' ')
                .and_then(|t| t.strip_suffix(' '))
                .unwrap_or(text)
        } else {
            text
        };
        spans.push(text.to_owned());
        rest = body[end + ticks..].trim_start();
    }
    Ok(spans)
}

/// A line as a code span: double backticks when it holds a backtick, and `|` escaped so the
/// table keeps its cells.
fn span(line: &str) -> String {
    let line = line.replace('|', "\\|");
    if line.contains('`') {
        format!("`` {line} ``")
    } else {
        format!("`{line}`")
    }
}

/// The cells of a table line (`| a | b |` → `["a", "b"]`), with `\|` (a `|` inside a cell)
/// unescaped.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().strip_prefix('|').unwrap_or(line.trim());
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cell.push('|');
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The rows of the table after [`HEADING`] in `readme`.
fn parse_table(readme: &str) -> Result<Vec<Row>, String> {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == HEADING)
        .ok_or_else(|| format!("README.md has no {HEADING:?} heading"))?;
    let mut rows = Vec::new();
    let mut seen_table = false;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if line.starts_with('#') {
            break;
        }
        if !line.starts_with('|') {
            if seen_table {
                break;
            }
            continue;
        }
        let first_line = !seen_table;
        seen_table = true;
        let c = cells(line);
        // The header and the rule under it.
        if first_line || c.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
            continue;
        }
        let bad = |why: String| format!("README.md line {}: {why}: {line}", i + 1);
        let [command, shown, code] = &c[..] else {
            return Err(bad("a row has three cells".into()));
        };
        let command = code_spans(command).map_err(bad)?;
        let [command] = &command[..] else {
            return Err(bad("the first cell is one code span".into()));
        };
        let words = words(command).map_err(bad)?;
        let Some((mcast, args)) = words.split_first().filter(|(m, _)| *m == "mcast") else {
            return Err(bad("the command starts with `mcast`".into()));
        };
        let _ = mcast;
        let lines = code_spans(shown).map_err(bad)?;
        if let Some(l) = lines
            .iter()
            .find(|l| !LISTED.iter().any(|p| l.starts_with(p)))
        {
            return Err(bad(format!(
                "{l:?} starts with none of {LISTED:?}: only those lines are listed"
            )));
        }
        let code = code
            .parse()
            .map_err(|_| bad(format!("exit code {code:?} is not a number")))?;
        rows.push(Row {
            line: i,
            args: args.to_vec(),
            lines,
            code,
        });
    }
    if rows.is_empty() {
        return Err(format!("no table rows after {HEADING:?}"));
    }
    Ok(rows)
}

/// Whether `-i VALUE` keeps a command on this host: loopback, or nothing that can name an
/// interface here (so the command is refused before it opens a socket).
fn stays_here(value: &str) -> bool {
    if ["127.0.0.1", "::1", "lo"].contains(&value) {
        return true;
    }
    if let Ok(ip) = value.parse::<std::net::IpAddr>() {
        return ip.is_multicast();
    }
    let name_like = !value.is_empty() && !value.bytes().all(|b| b.is_ascii_digit());
    name_like && value != "any" && !PathBuf::from("/sys/class/net").join(value).exists()
}

/// Refuses a row that could send or join beyond this host (see the module docs).
fn check_safe(row: &Row) -> Result<(), String> {
    let sub = row.args.first().map_or("", String::as_str);
    if !["send", "recv", "perf", "ping"].contains(&sub) {
        return Ok(());
    }
    let iface = row
        .args
        .windows(2)
        .find(|w| w[0] == "-i" || w[0] == "--interface")
        .map(|w| w[1].as_str());
    match iface {
        Some(v) if stays_here(v) => Ok(()),
        _ => Err(format!(
            "README.md line {}: `mcast {}` could reach beyond this host: pin -i to 127.0.0.1 or lo",
            row.line + 1,
            row.args.join(" ")
        )),
    }
}

/// Whether `got` is the line `want` describes (exact, or a prefix when it ends in `…`).
fn matches(want: &str, got: &str) -> bool {
    match want.strip_suffix('…') {
        Some(prefix) => got.starts_with(prefix),
        None => want == got,
    }
}

/// What a row's command printed: its listed lines and its exit code.
fn observe(row: &Row) -> (Vec<String>, i32) {
    let args: Vec<&str> = row.args.iter().map(String::as_str).collect();
    let out = util::run(&args);
    out.assert_no_panic();
    let listed = out
        .stderr
        .iter()
        .filter(|l| LISTED.iter().any(|p| l.starts_with(p)))
        .cloned()
        .collect();
    (listed, out.code())
}

/// The row's second and third cells for what was observed, keeping `…` spans that match.
fn blessed_cells(row: &Row, got: &[String], code: i32) -> String {
    let lines: Vec<String> = got
        .iter()
        .enumerate()
        .map(|(i, g)| match row.lines.get(i) {
            Some(w) if w.ends_with('…') && matches(w, g) => span(w),
            _ => span(g),
        })
        .collect();
    format!("{} | {code} |", lines.join("<br>"))
}

// issue #9 (bad-input table) — every row of the README's table is what the tool prints and
// the exit code it gives.
#[test]
fn readme_bad_input_table_matches_the_tool() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md is readable");
    let rows = parse_table(&readme).unwrap_or_else(|e| panic!("{e}"));
    for row in &rows {
        check_safe(row).unwrap_or_else(|e| panic!("{e}"));
    }
    let bless = std::env::var_os("MCAST_BLESS").is_some_and(|v| v == "1");
    let mut lines: Vec<String> = readme.lines().map(str::to_owned).collect();
    let mut failures = Vec::new();
    for row in &rows {
        let (got, code) = observe(row);
        let same = code == row.code
            && got.len() == row.lines.len()
            && row.lines.iter().zip(&got).all(|(w, g)| matches(w, g));
        if same {
            continue;
        }
        let line = &lines[row.line];
        let command_cell = &line[..line[1..].find('|').map_or(0, |p| p + 1)];
        let fixed = format!("{command_cell}| {}", blessed_cells(row, &got, code));
        failures.push(format!(
            "README.md line {}: `mcast {}`\n  expected: exit {} {:?}\n  got:      exit {code} {got:?}\n  row now:  {fixed}",
            row.line + 1,
            row.args.join(" "),
            row.code,
            row.lines,
        ));
        lines[row.line] = fixed;
    }
    if bless && !failures.is_empty() {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&path, text).expect("README.md is writable");
        println!(
            "MCAST_BLESS=1: rewrote {} row(s) of README.md:\n{}",
            failures.len(),
            failures.join("\n")
        );
        return;
    }
    assert!(
        failures.is_empty(),
        "{} row(s) of README.md's bad-input table differ from the tool (MCAST_BLESS=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn table_cells_parse() {
    assert_eq!(
        words("send 239.1.1.1 5000 'Hello, World!' -i lo").unwrap(),
        ["send", "239.1.1.1", "5000", "Hello, World!", "-i", "lo"]
    );
    assert_eq!(words("send \"\" x").unwrap(), ["send", "", "x"]);
    assert!(words("send 'x").is_err());
    assert_eq!(
        code_spans("`error: a`<br>`` hint: see `mcast ifaces` ``").unwrap(),
        ["error: a", "hint: see `mcast ifaces`"]
    );
    assert!(code_spans("error: a").is_err());
    assert_eq!(span("hint: see `x`"), "`` hint: see `x` ``");
    assert_eq!(span("error: a|b"), "`error: a\\|b`");
    assert_eq!(cells("| `a\\|b` | c |"), ["`a|b`", "c"]);
    assert!(matches(
        "error: interface not found…",
        "error: interface not found: x"
    ));
    assert!(!matches("error: a", "error: ab"));
    let readme = format!(
        "# x\n{HEADING}\n\ntext\n\n| you type | stderr | exit |\n|---|---|---:|\n\
         | `mcast recv -i lo` | `error: no`<br>`hint: yes` | 2 |\n\nafter\n| `mcast x` | | 0 |\n"
    );
    let rows = parse_table(&readme).unwrap();
    assert_eq!(
        rows,
        [Row {
            line: 7,
            args: vec!["recv".into(), "-i".into(), "lo".into()],
            lines: vec!["error: no".into(), "hint: yes".into()],
            code: 2,
        }]
    );
    let bad = readme.replace("`error: no`", "`listening on x`");
    assert!(parse_table(&bad)
        .unwrap_err()
        .contains("starts with none of"));
}

#[test]
fn rows_that_could_leave_the_host_are_refused() {
    let row = |args: &[&str]| Row {
        line: 0,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        lines: Vec::new(),
        code: 2,
    };
    for ok in [
        &["send", "224.1.1.5", "5000", "hi", "-i", "127.0.0.1"][..],
        &["recv", "224.1.1.5", "5000", "-i", "lo"],
        &["send", "224.1.1.5", "5000", "hi", "-i", "mcast-nosuch9"],
        &["send", "224.1.1.5", "5000", "hi", "-i", "224.0.0.1"],
        &["info", "8.8.8.8"],
        &["sned"],
    ] {
        assert!(check_safe(&row(ok)).is_ok(), "{ok:?}");
    }
    for bad in [
        &["send", "224.1.1.5", "5000", "hi"][..],
        &["recv", "224.1.1.5", "5000", "-i", "0.0.0.0"],
        &["recv", "224.1.1.5", "5000", "-i", "any"],
        &["ping", "224.1.1.5", "5000", "-i", "1"],
        &["perf", "send", "224.1.1.5", "5000", "-i", "192.168.56.3"],
    ] {
        assert!(check_safe(&row(bad)).is_err(), "{bad:?}");
    }
}
