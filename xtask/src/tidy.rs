//! Repository rules as tests, in rust-analyzer's tidy style.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::lab::project_root;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// The dependency names of the non-dev sections of a Cargo.toml (`[dependencies]`,
/// `[build-dependencies]`, `[target.'…'.dependencies]`, and `[dependencies.NAME]` tables).
pub(crate) fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            let dev = header.contains("dev-dependencies");
            if let Some((_, name)) = header.split_once("dependencies.") {
                if !dev {
                    deps.push(name.trim().to_owned());
                }
                in_deps = false;
            } else {
                in_deps = header.ends_with("dependencies") && !dev;
            }
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                deps.push(
                    name.trim()
                        .split('.')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned(),
                );
            }
        }
    }
    deps
}

#[test]
fn core_depends_on_no_io_crate() {
    let manifest = read(&project_root().join("crates/mcast-core/Cargo.toml"));
    let deps = normal_dependencies(&manifest);
    for banned in ["socket2", "tokio", "libc"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "mcast-core is sans-IO and must not depend on {banned} (its dependencies: {deps:?})"
        );
    }
}

#[test]
fn dependency_scan_sees_every_section_but_dev() {
    let toml = "[dependencies]\nthiserror.workspace = true\nserde = \"1\"\n\
                [dev-dependencies]\ntokio = \"1\"\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n\
                [dependencies.socket2]\nversion = \"0.6\"\n";
    assert_eq!(
        normal_dependencies(toml),
        ["thiserror", "serde", "libc", "socket2"]
    );
}

/// The lines of `text` outside items marked `#[cfg(test)]`, with their 0-based numbers. Test-only
/// code may read the clock (`Instant` has no other constructor for a virtual-time origin).
fn non_test_lines(text: &str) -> Vec<(usize, &str)> {
    let mut kept = Vec::new();
    let mut skipping = false;
    let mut depth = 0i64;
    let mut opened = false;
    for (i, line) in text.lines().enumerate() {
        if !skipping && line.trim() == "#[cfg(test)]" {
            (skipping, depth, opened) = (true, 0, false);
            continue;
        }
        if !skipping {
            kept.push((i, line));
            continue;
        }
        if is_comment(line) {
            continue;
        }
        for c in line.chars() {
            match c {
                '{' => (depth, opened) = (depth + 1, true),
                '}' => depth -= 1,
                _ => {}
            }
        }
        // The item ends where its braces close, or at `;` for `mod tests;`.
        if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
            skipping = false;
        }
    }
    kept
}

#[test]
fn cfg_test_items_are_skipped() {
    let text = "a\n#[cfg(test)]\n#[allow(x)]\nfn t() {\n  {b}\n}\nc\n#[cfg(test)]\nmod tests;\nd";
    let kept: Vec<&str> = non_test_lines(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(kept, ["a", "c", "d"]);
}

#[test]
fn core_never_reads_the_clock() {
    let mut offenders = Vec::new();
    for file in rust_files(&project_root().join("crates/mcast-core/src")) {
        let text = read(&file);
        for (i, line) in non_test_lines(&text) {
            if !is_comment(line)
                && (line.contains("Instant::now") || line.contains("SystemTime::now"))
            {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "mcast-core is sans-IO: take `now` as a parameter instead of\n{}",
        offenders.join("\n")
    );
}

/// The doc lines (`///`) right above line `idx`, skipping attributes.
fn docs_above<'a>(lines: &[&'a str], idx: usize) -> Vec<&'a str> {
    let mut docs = Vec::new();
    for line in lines[..idx].iter().rev().map(|l| l.trim()) {
        if let Some(doc) = line.strip_prefix("///") {
            docs.push(doc.trim());
        } else if !line.starts_with("#[") && !line.starts_with("#![") {
            break;
        }
    }
    docs
}

#[test]
fn every_core_poll_fn_says_when_to_call_it() {
    let mut offenders = Vec::new();
    for file in rust_files(&project_root().join("crates/mcast-core/src")) {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("pub fn poll_")
                && !docs_above(&lines, i)
                    .iter()
                    .any(|d| d.starts_with("# When to call"))
            {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "every `pub fn poll_*` needs a `# When to call` doc section (quinn's habit):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn docs_above_skips_attributes() {
    let lines = [
        "/// Next timeout.",
        "///",
        "/// # When to call",
        "#[must_use]",
        "pub fn poll_timeout() {}",
    ];
    assert_eq!(
        docs_above(&lines, 4),
        ["# When to call", "", "Next timeout."]
    );
}

#[test]
fn no_dbg_macro() {
    // Built from pieces so this file does not match itself.
    let needle = concat!("dbg", "!(");
    let mut offenders = Vec::new();
    for file in all_rust_files() {
        for (i, line) in read(&file).lines().enumerate() {
            if !is_comment(line) && line.contains(needle) {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "remove the debugging macros:\n{}",
        offenders.join("\n")
    );
}

/// The Rust files of every crate (sources, tests, benches, examples), of xtask and of the fuzz
/// targets.
fn all_rust_files() -> Vec<PathBuf> {
    let root = project_root();
    let mut dirs = vec![
        root.join("xtask/src"),
        root.join("fuzz/src"),
        root.join("fuzz/fuzz_targets"),
    ];
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates.flatten() {
            for sub in ["src", "tests", "benches", "examples"] {
                dirs.push(krate.path().join(sub));
            }
        }
    }
    dirs.iter().flat_map(|d| rust_files(d)).collect()
}

// A reader of the repository must find what a comment points to: no code or doc names the
// team's design notes, which live outside it.
#[test]
fn nothing_cites_documents_outside_the_repository() {
    // Built from pieces so this file does not match itself.
    let names = [concat!("DESIGN", ".md"), concat!("STYLE", ".md")];
    let root = project_root();
    let mut files = all_rust_files();
    for doc in ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"] {
        files.push(root.join(doc));
    }
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| f.exists()) {
        for (i, line) in read(file).lines().enumerate() {
            if names.iter().any(|n| line.contains(n)) {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "say what the reader needs in ARCHITECTURE.md or the rustdoc instead:\n{}",
        offenders.join("\n")
    );
}

/// The most crates `cargo tree -p mcast-async -e normal` may list, mcast-async itself included:
/// what a tokio user compiles with the default features (the weight target).
const MCAST_ASYNC_CRATE_BUDGET: usize = 25;

/// `cargo tree --prefix depth --no-dedupe` output as (depth, "name version") pairs.
fn tree_entries(tree: &str) -> Vec<(usize, String)> {
    tree.lines()
        .filter_map(|line| {
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            let depth = line[..digits].parse().ok()?;
            let mut words = line[digits..].split_whitespace();
            let name = words.next()?;
            let version = words.next().unwrap_or("");
            Some((depth, format!("{name} {version}")))
        })
        .collect()
}

/// The distinct crates of a tree, and, heaviest first, each direct dependency with the
/// distinct crates its subtree brings (itself included).
fn tree_weights(
    entries: &[(usize, String)],
) -> (BTreeSet<String>, Vec<(String, BTreeSet<String>)>) {
    let all: BTreeSet<String> = entries.iter().map(|(_, c)| c.clone()).collect();
    let mut direct: Vec<(String, BTreeSet<String>)> = Vec::new();
    for (depth, krate) in entries {
        match (depth, direct.last_mut()) {
            (0, _) => {}
            (1, _) => direct.push((krate.clone(), BTreeSet::from([krate.clone()]))),
            (_, Some((_, subtree))) => {
                subtree.insert(krate.clone());
            }
            (_, None) => {}
        }
    }
    direct.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    (all, direct)
}

#[test]
fn tree_weights_count_distinct_crates_and_rank_direct_dependencies() {
    let tree =
        "0app v0.1.0 (/x)\n1small v1.0.0\n1big v2.0.0\n2shared v1.0.0\n2leaf v0.3.1 (proc-macro)\n\
                1other v1.0.0\n2shared v1.0.0\n";
    let (all, direct) = tree_weights(&tree_entries(tree));
    assert_eq!(all.len(), 6, "{all:?}");
    let names: Vec<(&str, usize)> = direct.iter().map(|(n, s)| (n.as_str(), s.len())).collect();
    assert_eq!(
        names,
        [("big v2.0.0", 3), ("other v1.0.0", 2), ("small v1.0.0", 1)]
    );
}

// A tokio user of mcast-async compiles at most MCAST_ASYNC_CRATE_BUDGET crates with the
// default features: optional weight (authentication, packet capture, serde) stays behind
// features.
#[test]
fn mcast_async_stays_within_its_crate_budget() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = project_root().join("Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "mcast-async",
            "-e",
            "normal",
            "--prefix",
            "depth",
        ])
        .args(["--no-dedupe", "--offline", "--locked", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (all, direct) = tree_weights(&tree_entries(&String::from_utf8_lossy(&output.stdout)));
    assert!(all.len() > 5, "cargo tree listed too little: {all:?}");
    let heaviest: Vec<String> = direct
        .iter()
        .take(3)
        .map(|(krate, subtree)| {
            let list: Vec<&str> = subtree.iter().map(String::as_str).collect();
            format!("  {krate}: {} crates ({})", subtree.len(), list.join(", "))
        })
        .collect();
    assert!(
        all.len() <= MCAST_ASYNC_CRATE_BUDGET,
        "`cargo tree -p mcast-async -e normal` lists {} crates, more than {MCAST_ASYNC_CRATE_BUDGET}; \
         put the new weight behind a feature. Heaviest direct dependencies:\n{}",
        all.len(),
        heaviest.join("\n")
    );
}
