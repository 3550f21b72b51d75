//! The Ctrl-C registry: the labs alive in this process, the handler that tears them down, and
//! the lock that keeps building, recording and tearing down from overlapping.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex, MutexGuard, Once,
};

use super::teardown;

/// Prefixes of labs alive in this process, torn down by the Ctrl-C handler.
///
/// The lock also serialises building, recording and tearing down: the handler holds it from
/// taking the list until the process exits, and a lab holds it while it builds, while `lab up`
/// writes the state file, from [`Lab::keep`](super::Lab::keep) on, and while its guard tears it down. So the
/// handler and a guard never delete the same namespace, nothing is created after the handler
/// looked, and whoever holds the lock after a Ctrl-C sees [`INTERRUPTED`] and tears down.
static ACTIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Set by the Ctrl-C handler before it waits for [`ACTIVE`], so a thread holding the lock learns of
/// the interrupt and tears down itself ([`exit_if_interrupted`]) instead of going on.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub(super) fn active() -> MutexGuard<'static, Vec<String>> {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// After a Ctrl-C: tears down every registered lab (state file included) and exits with 130, the
/// lock still held so no guard or handler starts a second teardown. Otherwise returns.
pub(super) fn exit_if_interrupted(active: &mut MutexGuard<'static, Vec<String>>) {
    if !INTERRUPTED.load(Ordering::SeqCst) {
        return;
    }
    for prefix in active.drain(..) {
        for problem in teardown(&prefix) {
            eprintln!("warning: {problem}");
        }
    }
    std::process::exit(130);
}

/// Whether a Ctrl-C came: its handler is tearing the labs down and the process is about to exit.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Runs `start`, which starts something inside a lab (a process in a namespace), under the labs'
/// lock: a Ctrl-C's teardown either comes later and sees what `start` made, or came first, and
/// then this process tears down and exits instead of starting anything.
pub(crate) fn unless_interrupted<T>(start: impl FnOnce() -> T) -> T {
    let mut active = active();
    exit_if_interrupted(&mut active);
    start()
}

/// Installs the Ctrl-C handler (once per process): from here on a Ctrl-C tears down every
/// registered lab and exits with 130. `main` installs it before any lab work starts, so an
/// interrupt that comes early still exits 130; [`register`] installs it too.
pub(crate) fn install() {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            eprintln!("interrupted: tearing the lab down");
            exit_if_interrupted(&mut active());
        });
        if let Err(e) = installed {
            eprintln!(
                "warning: no Ctrl-C teardown ({e}); use `cargo xtask lab down` if interrupted"
            );
        }
    });
}

/// Registers the lab `prefix` for the Ctrl-C teardown (installing the handler if need be).
pub(super) fn register(prefix: &str) {
    install();
    active().push(prefix.to_owned());
}

/// Forgets `prefix`; returns whether it was still registered (not yet taken by the handler).
pub(super) fn unregister(active: &mut Vec<String>, prefix: &str) -> bool {
    let before = active.len();
    active.retain(|p| p != prefix);
    active.len() != before
}
