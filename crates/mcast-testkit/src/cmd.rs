//! Running a program to completion, the failure in the panic message.

use std::process::Command;

/// Runs `args[0]` with the other `args` to completion and returns its stdout.
///
/// # Panics
///
/// When it cannot start or exits unsuccessfully (the message holds its stderr): a test's
/// set-up step that fails is a failed test.
///
/// ```
/// assert_eq!(mcast_testkit::cmd::sh(&["echo", "hi"]), "hi\n");
/// ```
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip ARGS…` through [`sh`]: its stdout; panics when it fails.
pub fn ip(args: &[&str]) -> String {
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push("ip");
    all.extend_from_slice(args);
    sh(&all)
}

/// Runs `args[0]` with the other `args` to completion and returns its stdout, whatever its
/// exit status (for polling a state that may not exist yet).
///
/// # Panics
///
/// When it cannot start.
pub fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
