//! `cargo xtask fuzz`: builds the fuzz targets in `fuzz/` (their own workspace) with libFuzzer's
//! instrumentation and runs each for a while, without cargo-fuzz.
//!
//! The build passes the flags cargo-fuzz would: SanitizerCoverage (`-Cpasses=sancov-module`
//! with inline 8-bit counters, the PC table, compare tracing and stack depth), `--cfg fuzzing`,
//! debug assertions and overflow checks, in release mode, for the host triple named explicitly
//! so build scripts stay uninstrumented. With `--asan` it adds AddressSanitizer, a nightly flag
//! that the stable toolchain accepts under `RUSTC_BOOTSTRAP=1`; mcast-core has no `unsafe`, so
//! the default leaves it out and runs several times more inputs a second.
//!
//! The targets are the `[[bin]]`s of `fuzz/Cargo.toml`; each starts from its seeds in
//! `fuzz/seeds/<target>/`, copied into a scratch corpus under the target directory
//! (`<target-dir>/fuzz/corpus/<target>`, kept between runs), so new inputs never land in the
//! repository. A crash, a hang (`-timeout`) or an out-of-memory leaves its input in
//! `<target-dir>/fuzz/artifacts/<target>/`, and the report says how to replay it.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    lab::{project_root, target_dir},
    netns,
};

/// `cargo xtask fuzz [--seconds N] [TARGET]`
#[derive(clap::Args, Debug)]
pub(crate) struct Opt {
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = 60, value_name = "N")]
    seconds: u64,
    /// Build with AddressSanitizer too (slower; for code with `unsafe`).
    #[arg(long)]
    asan: bool,
    /// Build the targets and stop.
    #[arg(long)]
    build_only: bool,
    /// One target (default: every target in fuzz/Cargo.toml).
    target: Option<String>,
}

/// The fuzz crate's directory.
fn fuzz_dir() -> PathBuf {
    project_root().join("fuzz")
}

/// The names of the `[[bin]]` sections of a Cargo.toml, in order.
pub(crate) fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            let value = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"'));
            if let Some(name) = value {
                names.push(name.to_owned());
                in_bin = false;
            }
        }
    }
    names
}

/// Every fuzz target, from `fuzz/Cargo.toml`.
pub(crate) fn targets() -> Result<Vec<String>> {
    let manifest = fuzz_dir().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    Ok(bin_names(&text))
}

/// The seeds of `target` in the repository.
pub(crate) fn seed_dir(target: &str) -> PathBuf {
    fuzz_dir().join("seeds").join(target)
}

/// The RUSTFLAGS cargo-fuzz passes for libFuzzer on Linux.
fn rustflags(asan: bool) -> String {
    let mut flags = vec![
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "-Cllvm-args=-sanitizer-coverage-stack-depth",
        "--cfg",
        "fuzzing",
        "-Cdebug-assertions",
        "-Coverflow-checks",
    ];
    if asan {
        flags.push("-Zsanitizer=address");
    }
    flags.join(" ")
}

/// The host's target triple (`rustc -vV`).
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = netns::run(Command::new(rustc).arg("-vV"))?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV named no host triple")
}

/// Where the fuzz runs keep their corpora, findings and logs, and the instrumented build goes:
/// apart from the workspace's build, so the flags never meet.
fn build_dir() -> PathBuf {
    target_dir().join("fuzz")
}

/// Cargo's target directory for the build: with AddressSanitizer one of its own, so switching
/// between the two never rebuilds everything.
fn cargo_dir(asan: bool) -> PathBuf {
    if asan {
        build_dir().join("asan")
    } else {
        build_dir()
    }
}

/// Builds `targets` and returns the directory holding the binaries.
fn build(targets: &[String], asan: bool) -> Result<PathBuf> {
    let triple = host_triple()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(fuzz_dir())
        .args(["build", "--release", "--locked", "--target", &triple])
        .env("CARGO_TARGET_DIR", cargo_dir(asan))
        .env("RUSTFLAGS", rustflags(asan))
        // -Zsanitizer is a nightly flag; the stable toolchain takes it under RUSTC_BOOTSTRAP.
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null());
    for t in targets {
        cmd.args(["--bin", t]);
    }
    eprintln!(
        "fuzz: building {} (release, instrumented)",
        targets.join(", ")
    );
    let status = cmd
        .status()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(cargo_dir(asan).join(triple).join("release"))
}

/// What one run of a target reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RunStats {
    /// Inputs executed (`stat::number_of_executed_units`).
    pub(crate) runs: Option<u64>,
    /// Coverage points reached (the last `cov:` figure).
    pub(crate) cov: Option<u64>,
    /// Features (the last `ft:` figure).
    pub(crate) features: Option<u64>,
    /// Peak memory (`stat::peak_rss_mb`).
    pub(crate) peak_rss_mb: Option<u64>,
    /// The input that failed, when libFuzzer wrote one (`Test unit written to …`).
    pub(crate) artifact: Option<String>,
}

/// The figure after `key` in `line` (`cov: 123 ft: …` → 123).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Reads libFuzzer's output (with `-print_final_stats=1`).
pub(crate) fn parse_log(log: &str) -> RunStats {
    let mut stats = RunStats::default();
    for line in log.lines() {
        if let Some(n) = number_after(line, "stat::number_of_executed_units:") {
            stats.runs = Some(n);
        }
        if let Some(n) = number_after(line, "stat::peak_rss_mb:") {
            stats.peak_rss_mb = Some(n);
        }
        if line.starts_with('#') {
            stats.cov = number_after(line, " cov: ").or(stats.cov);
            stats.features = number_after(line, " ft: ").or(stats.features);
        }
        if let Some(path) = line.split("Test unit written to ").nth(1) {
            stats.artifact = Some(path.trim().to_owned());
        }
    }
    stats
}

/// One target's result.
#[derive(Debug)]
struct Outcome {
    target: String,
    stats: RunStats,
    seconds: f64,
    corpus: usize,
    ok: bool,
    log: PathBuf,
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs the built `target` for `seconds` on its scratch corpus.
fn run_target(bin_dir: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let scratch = build_dir();
    let corpus = scratch.join("corpus").join(target);
    let artifacts = scratch.join("artifacts").join(target);
    let logs = scratch.join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for seed in files_in(&seed_dir(target)) {
        if let Some(name) = seed.file_name() {
            std::fs::copy(&seed, corpus.join(name))
                .with_context(|| format!("cannot copy {}", seed.display()))?;
        }
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut cmd = Command::new(bin_dir.join(target));
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        // One input may take at most 10 s, and 2 GiB: a hang or a leak is a finding.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    // libFuzzer stops itself; the bound only matters if it does not.
    let (status, killed) = netns::wait_or_kill(&mut child, Duration::from_secs(seconds + 120))?;
    let elapsed = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    Ok(Outcome {
        target: target.to_owned(),
        stats: parse_log(&text),
        seconds: elapsed,
        corpus: files_in(&corpus).len(),
        ok: status.success() && !killed,
        log: log_path,
    })
}

fn figure(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), crate::perf::report::thousands)
}

fn report(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| target | inputs run | inputs/s | coverage | corpus | result |\n|---|---:|---:|---:|---:|---|\n",
    );
    for o in outcomes {
        let rate = o
            .stats
            .runs
            .map(|r| (r as f64 / o.seconds.max(0.001)).round() as u64);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            o.target,
            figure(o.stats.runs),
            figure(rate),
            figure(o.stats.cov),
            o.corpus,
            if o.ok { "ok" } else { "FAILED" }
        );
    }
    out
}

/// Runs `cargo xtask fuzz`; returns the exit code.
pub(crate) fn run_cmd(opt: &Opt) -> Result<i32> {
    let all = targets()?;
    let chosen = match &opt.target {
        None => all,
        Some(t) if all.contains(t) => vec![t.clone()],
        Some(t) => bail!("no fuzz target {t}: choose one of {}", all.join(", ")),
    };
    let bin_dir = build(&chosen, opt.asan)?;
    if opt.build_only {
        outln!("fuzz: built {} in {}", chosen.join(", "), bin_dir.display());
        return Ok(0);
    }
    let mut outcomes = Vec::new();
    for target in &chosen {
        eprintln!("fuzz: running {target} for {} s", opt.seconds);
        let outcome = run_target(&bin_dir, target, opt.seconds)?;
        if !outcome.ok {
            let text = std::fs::read_to_string(&outcome.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!(
                "fuzz: {target} FAILED; the end of {}:",
                outcome.log.display()
            );
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
            if let Some(input) = &outcome.stats.artifact {
                eprintln!(
                    "fuzz: replay it with: {} {input}",
                    bin_dir.join(target).display()
                );
            }
        }
        outcomes.push(outcome);
    }
    out!("{}", report(&outcomes));
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.target.as_str())
        .collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!("fuzz: {} failed", failed.join(", "));
        Ok(1)
    }
}

/// One `[[package]]` of a Cargo.lock: name, version and its dependencies as written (`name` or
/// `name version`, perhaps with a source).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
struct LockedPackage {
    name: String,
    version: String,
    deps: Vec<String>,
}

#[cfg(test)]
fn parse_lock(text: &str) -> Vec<LockedPackage> {
    let mut packages: Vec<LockedPackage> = Vec::new();
    let mut in_deps = false;
    for line in text.lines().map(str::trim) {
        if line == "[[package]]" {
            packages.push(LockedPackage {
                name: String::new(),
                version: String::new(),
                deps: Vec::new(),
            });
            in_deps = false;
            continue;
        }
        let Some(package) = packages.last_mut() else {
            continue;
        };
        let value = |key: &str| {
            line.strip_prefix(key)
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_owned())
        };
        if let Some(name) = value("name") {
            package.name = name;
        } else if let Some(version) = value("version") {
            package.version = version;
        } else if line.starts_with("dependencies") {
            in_deps = true;
        } else if in_deps && line.starts_with('"') {
            package
                .deps
                .push(line.trim_end_matches(',').trim_matches('"').to_owned());
        } else if line == "]" {
            in_deps = false;
        }
    }
    packages
}

/// The packages `roots` depend on in `lock`, themselves included, as `name version`.
#[cfg(test)]
fn closure(lock: &[LockedPackage], roots: &[String]) -> std::collections::BTreeSet<String> {
    let find = |dep: &str| {
        let mut words = dep.split_whitespace();
        let (n, v) = (words.next().unwrap_or(""), words.next());
        lock.iter()
            .find(|p| p.name == n && v.is_none_or(|v| p.version == v))
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<&LockedPackage> = roots.iter().filter_map(|r| find(r)).collect();
    while let Some(p) = todo.pop() {
        if seen.insert(format!("{} {}", p.name, p.version)) {
            todo.extend(p.deps.iter().filter_map(|d| find(d)));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz crate is its own workspace with its own lock file, which goes stale when
    /// mcast-core gains or changes a dependency (and then `--locked` builds fail in CI). It must
    /// hold mcast-core's dependencies at the versions the workspace's lock has.
    #[test]
    fn the_fuzz_lock_matches_mcast_core() {
        let read = |p: &str| {
            let path = project_root().join(p);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        };
        // mcast-core's entry in the workspace's lock lists its dev-dependencies too: start
        // from what its manifest says it needs. An optional dependency behind a feature the
        // fuzz crate does not enable (serde) is in no part of the fuzz lock, and need not be.
        let manifest = read("crates/mcast-core/Cargo.toml");
        let fuzz_lock = parse_lock(&read("fuzz/Cargo.lock"));
        let optional = |dep: &str| {
            manifest
                .lines()
                .map(str::trim)
                .any(|l| l.starts_with(&format!("{dep} ")) && l.contains("optional = true"))
        };
        let deps: Vec<String> = crate::tidy::normal_dependencies(&manifest)
            .into_iter()
            .filter(|d| !optional(d) || fuzz_lock.iter().any(|p| &p.name == d))
            .collect();
        assert!(
            deps.iter().any(|d| d == "etherparse"),
            "the fuzz targets decode packets: {deps:?}"
        );
        let root = closure(&parse_lock(&read("Cargo.lock")), &deps);
        let fuzz = closure(&fuzz_lock, &deps);
        assert!(root.len() > 1, "{root:?}");
        let missing: Vec<&String> = root.difference(&fuzz).collect();
        let extra: Vec<&String> = fuzz.difference(&root).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "fuzz/Cargo.lock is stale: mcast-core needs {missing:?} there and not {extra:?}; \
             run `cargo update --manifest-path fuzz/Cargo.toml -w`, then \
             `cargo update --manifest-path fuzz/Cargo.toml -p NAME --precise VERSION` for any \
             version that differs from Cargo.lock's"
        );
    }

    #[test]
    fn lock_files_are_read_with_their_dependencies() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n\
                    dependencies = [\n \"b\",\n \"c 2.0.0\",\n]\n\n\
                    [[package]]\nname = \"b\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"c\"\nversion = \"1.0.0\"\n\n\
                    [[package]]\nname = \"c\"\nversion = \"2.0.0\"\nsource = \"registry+x\"\n";
        let packages = parse_lock(lock);
        assert_eq!(packages.len(), 4);
        assert_eq!(packages[0].deps, ["b", "c 2.0.0"]);
        let deps: Vec<String> = closure(&packages, &["a".into()]).into_iter().collect();
        assert_eq!(deps, ["a 1.0.0", "b 0.1.0", "c 2.0.0"]);
    }

    #[test]
    fn bins_are_read_from_the_manifest() {
        let toml = "[package]\nname = \"mcast-fuzz\"\n[lib]\npath = \"src/lib.rs\"\n\
                    [[bin]]\nname = \"frame\"\npath = \"x\"\n[[bin]]\npath = \"y\"\nname=\"ping\"\n";
        assert_eq!(bin_names(toml), ["frame", "ping"]);
    }

    #[test]
    fn libfuzzer_output_gives_the_figures() {
        let log = "INFO: Seed: 1\n\
                   #2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #1048576\tpulse  cov: 345 ft: 1200 corp: 80/2Kb lim: 4096 exec/s: 349525 rss: 60Mb\n\
                   Done 2000000 runs in 6 second(s)\n\
                   stat::number_of_executed_units: 2000001\n\
                   stat::average_exec_per_sec:     333333\n\
                   stat::peak_rss_mb:              61\n";
        let stats = parse_log(log);
        assert_eq!(stats.runs, Some(2_000_001));
        assert_eq!(stats.cov, Some(345));
        assert_eq!(stats.features, Some(1200));
        assert_eq!(stats.peak_rss_mb, Some(61));
        assert_eq!(stats.artifact, None);
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='/t/a/'; Test unit written to /t/a/crash-da39a3ee\n";
        assert_eq!(
            parse_log(crash).artifact.as_deref(),
            Some("/t/a/crash-da39a3ee")
        );
    }

    /// Every target has its source file and at least one seed, and every seed directory
    /// belongs to a target: a target added without seeds, or renamed, fails here.
    #[test]
    fn every_target_has_seeds() {
        let targets = targets().expect("fuzz/Cargo.toml is readable");
        assert!(targets.len() >= 8, "{targets:?}");
        for t in &targets {
            let source = fuzz_dir().join("fuzz_targets").join(format!("{t}.rs"));
            assert!(source.is_file(), "{} is missing", source.display());
            assert!(
                !files_in(&seed_dir(t)).is_empty(),
                "fuzz target {t} has no seeds in {}",
                seed_dir(t).display()
            );
        }
        for dir in std::fs::read_dir(fuzz_dir().join("seeds")).expect("fuzz/seeds exists") {
            let name = dir.expect("a directory entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                targets.iter().any(|t| *t == name),
                "fuzz/seeds/{name} belongs to no target"
            );
        }
    }
}
