//! Shared harness for the session integration tests: a seeded sans-IO network emulator and a
//! sender → netem → receiver pair on virtual time.
#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part.

pub mod netem;
pub mod pair;

/// The origin of virtual time. `Instant` has no constructor, so the tests read the clock once
/// here and only ever add durations to it afterwards.
#[allow(clippy::disallowed_methods)]
pub fn time_origin() -> std::time::Instant {
    std::time::Instant::now()
}
