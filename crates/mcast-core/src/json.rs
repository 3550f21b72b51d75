//! How 64-bit integers that may exceed 2^53 are written in human-readable formats (JSON).
//!
//! JSON has one number type, and many readers hold it as an IEEE double: JavaScript's
//! `JSON.parse`, jq up to 1.6, spreadsheets. Such a reader rounds any integer above 2^53
//! (9,007,199,254,740,992): a send time of `1764038400123456789` ns comes back as
//! `1764038400123456800`, sequence number 2^64-1 as 2^64. So the integers that can be that
//! large, **64-bit sequence numbers and wall-clock timestamps in nanoseconds**, are written as
//! decimal strings (`"1764038400123456789"`), which every reader keeps exact; counters and
//! durations stay numbers (a counter of datagrams or bytes would take years, a delay far
//! longer than [`crate::session::ReceiverConfig::max_delay`], to reach 2^53).
//!
//! Binary formats (`is_human_readable() == false`) get the number. Use these functions with
//! serde's `serialize_with`:
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Record {
//!     #[serde(serialize_with = "mcast_core::json::u64_exact")]
//!     sent_at_ns: u64,
//! }
//! let json = serde_json::to_string(&Record { sent_at_ns: 1_764_038_400_123_456_789 }).unwrap();
//! assert_eq!(json, r#"{"sent_at_ns":"1764038400123456789"}"#);
//! ```

use serde::Serializer;

/// Writes `n` as a decimal string in human-readable formats, as a number otherwise.
pub fn u64_exact<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.collect_str(n)
    } else {
        s.serialize_u64(*n)
    }
}

/// [`u64_exact`] for an optional value (`None` is `null`).
pub fn option_u64_exact<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => u64_exact(n, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct R {
        #[serde(serialize_with = "u64_exact")]
        a: u64,
        #[serde(serialize_with = "option_u64_exact")]
        b: Option<u64>,
        #[serde(serialize_with = "option_u64_exact")]
        c: Option<u64>,
    }

    #[test]
    fn large_integers_survive_a_double_reader() {
        let r = R {
            a: u64::MAX,
            b: Some((1 << 53) + 1),
            c: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"a":"18446744073709551615","b":"9007199254740993","c":null}"#
        );
        // What a double-based reader would have made of the number 2^53 + 1.
        assert_ne!(((1_u64 << 53) + 1) as f64 as u64, (1 << 53) + 1);
    }
}
