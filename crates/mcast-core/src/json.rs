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
//! Binary formats (`is_human_readable() == false`) get the number. Reading accepts both a
//! decimal string and a number, so records written before or by other tools still load. Use
//! these functions with serde's `serialize_with` and `deserialize_with`:
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Record {
//!     #[serde(
//!         serialize_with = "mcast_core::json::u64_exact",
//!         deserialize_with = "mcast_core::json::u64_from_exact"
//!     )]
//!     sent_at_ns: u64,
//! }
//! let record = Record { sent_at_ns: 1_764_038_400_123_456_789 };
//! let json = serde_json::to_string(&record).unwrap();
//! assert_eq!(json, r#"{"sent_at_ns":"1764038400123456789"}"#);
//! assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
//! let number: Record = serde_json::from_str(r#"{"sent_at_ns":42}"#).unwrap();
//! assert_eq!(number.sent_at_ns, 42);
//! ```

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
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

/// Reads what [`u64_exact`] writes: a decimal string or a number.
pub fn u64_from_exact<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Exact;

    impl Visitor<'_> for Exact {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an unsigned 64-bit integer, as a number or a decimal string")
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
            u64::try_from(n).map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<u64, E> {
            s.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
        }
    }

    if d.is_human_readable() {
        d.deserialize_any(Exact)
    } else {
        d.deserialize_u64(Exact)
    }
}

/// Reads what [`option_u64_exact`] writes: `null`, a decimal string or a number.
pub fn option_u64_from_exact<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "u64_from_exact")] u64);

    Ok(<Option<Wrap> as serde::Deserialize>::deserialize(d)?.map(|Wrap(n)| n))
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
