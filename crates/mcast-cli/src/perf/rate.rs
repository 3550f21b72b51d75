//! `--rate`: datagrams per second, a bit rate, or `max`.

use std::fmt;
use std::time::Duration;

/// What `--rate` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    /// As fast as the socket takes them.
    Max,
    /// Datagrams per second.
    Pps(u64),
    /// Bits per second of UDP payload; turned into datagrams per second with the size.
    Bits(u64),
}

impl Rate {
    /// Datagrams per second for datagrams of `size` bytes; `None` for `max`.
    pub(crate) fn pps(self, size: usize) -> Option<u64> {
        match self {
            Self::Max => None,
            Self::Pps(n) => Some(n),
            Self::Bits(b) => Some((b / (8 * size.max(1) as u64)).max(1)),
        }
    }

    /// The pacing interval for datagrams of `size` bytes; `None` for `max`. Rounded to the
    /// nanosecond, which keeps any rate up to 10^6/s within 0.05% of what was asked.
    pub(crate) fn interval(self, size: usize) -> Option<Duration> {
        self.pps(size)
            .map(|pps| Duration::from_nanos((1_000_000_000 + pps / 2) / pps))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Max => f.write_str("max"),
            Self::Pps(n) => write!(f, "{n} datagrams/s"),
            Self::Bits(b) => write!(f, "{} Mbit/s", *b as f64 / 1e6),
        }
    }
}

/// Parses `--rate` for clap: `max`, `20000`, `20k`, `1M` (datagrams per second), or
/// `100Mbit`, `1Gbit`, `500kbit`, `64000bit` (bits per second of payload).
pub(crate) fn parse_rate(s: &str) -> Result<Rate, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "--rate {s:?} is not a rate: write datagrams per second (20000, 20k, 1M), a bit rate (100Mbit, 1Gbit) or max"
        )
    };
    if t.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let lower = t.to_ascii_lowercase();
    let (body, bits) = match lower.strip_suffix("bit").or(lower.strip_suffix("bps")) {
        Some(b) => (b, true),
        None => (lower.as_str(), false),
    };
    let digits = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (num, unit) = body.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" if bits => 1_000_000_000,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 {
        return Err(format!(
            "--rate must be above 0 (got {s:?}); use max for as fast as possible"
        ));
    }
    if bits {
        Ok(Rate::Bits(v))
    } else if v > 100_000_000 {
        Err(format!(
            "--rate {s:?} is more than 100M datagrams/s; use max for as fast as possible"
        ))
    } else {
        Ok(Rate::Pps(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("20000"), Ok(Rate::Pps(20_000)));
        assert_eq!(parse_rate("20k"), Ok(Rate::Pps(20_000)));
        assert_eq!(parse_rate("1M"), Ok(Rate::Pps(1_000_000)));
        assert_eq!(parse_rate("100Mbit"), Ok(Rate::Bits(100_000_000)));
        assert_eq!(parse_rate("1Gbit"), Ok(Rate::Bits(1_000_000_000)));
        assert_eq!(parse_rate("500kbps"), Ok(Rate::Bits(500_000)));
        for bad in ["0", "fast", "-5", "1G", "10x", "", "999999999999"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bit_rates_become_datagrams_per_second() {
        assert_eq!(Rate::Bits(100_000_000).pps(1250), Some(10_000));
        assert_eq!(Rate::Bits(1).pps(1400), Some(1), "at least one a second");
        assert_eq!(Rate::Max.interval(64), None);
        assert_eq!(
            Rate::Pps(20_000).interval(64),
            Some(Duration::from_micros(50))
        );
        assert_eq!(
            Rate::Pps(3).interval(64),
            Some(Duration::from_nanos(333_333_333))
        );
    }
}
