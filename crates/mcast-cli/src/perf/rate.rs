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
    /// Datagrams per second for datagrams of `size` bytes; `None` for `max`. A bit rate that is
    /// not a whole number of datagrams a second stays fractional (1Mbit of 65000-byte
    /// datagrams: 1.923/s), as [`interval`](Self::interval) paces it.
    pub(crate) fn pps(self, size: usize) -> Option<f64> {
        match self {
            Self::Max => None,
            Self::Pps(n) => Some(n as f64),
            Self::Bits(b) => Some(b as f64 / (8 * size.max(1)) as f64),
        }
    }

    /// The pacing interval for datagrams of `size` bytes; `None` for `max`. A bit rate `b`
    /// paces one datagram every 8 × `size` / `b` seconds, not a whole number of datagrams per
    /// second, so any rate is kept, below one datagram a second too. Rounded to the
    /// nanosecond (at least 1 ns), which keeps any rate up to 10^6 datagrams/s within 0.05% of
    /// what was asked.
    pub(crate) fn interval(self, size: usize) -> Option<Duration> {
        const NS: u128 = 1_000_000_000;
        let (num, den) = match self {
            Self::Max => return None,
            Self::Pps(n) => (NS, u128::from(n.max(1))),
            Self::Bits(b) => (8 * size.max(1) as u128 * NS, u128::from(b.max(1))),
        };
        let ns = ((num + den / 2) / den).max(1);
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
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
        assert_eq!(Rate::Bits(100_000_000).pps(1250), Some(10_000.0));
        assert_eq!(
            Rate::Bits(100_000_000).interval(1250),
            Some(Duration::from_micros(100))
        );
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

    // A bit rate that is not a whole number of datagrams a second is paced as asked, not
    // rounded down to whole datagrams per second: 1Mbit of 65000-byte datagrams is one every
    // 0.52 s (1.923/s, not 1/s), 10bit of 28-byte ones one every 22.4 s (not 1/s).
    #[test]
    fn fractional_bit_rates_keep_their_rate() {
        assert_eq!(
            Rate::Bits(1_000_000).interval(65_000),
            Some(Duration::from_millis(520))
        );
        let pps = Rate::Bits(1_000_000).pps(65_000).unwrap();
        assert!((pps - 1_000_000.0 / 520_000.0).abs() < 1e-9, "{pps}");
        assert_eq!(
            Rate::Bits(10).interval(28),
            Some(Duration::from_millis(22_400))
        );
        assert_eq!(
            Rate::Bits(1).interval(1400),
            Some(Duration::from_secs(11_200))
        );
        // Bits per datagram over bits per second, rounded to the nanosecond.
        for (bits, size) in [(1_000_000, 1000), (999_999, 1400), (64_000, 1), (7, 3)] {
            let iv = Rate::Bits(bits).interval(size).unwrap().as_nanos() as f64;
            let exact = 8.0 * size as f64 * 1e9 / bits as f64;
            assert!((iv - exact).abs() <= 0.5, "{bits} {size}: {iv} vs {exact}");
        }
        // Faster than the nanosecond holds: paced at 1 ns, never unpaced by a zero interval.
        assert_eq!(
            Rate::Bits(u64::MAX).interval(28),
            Some(Duration::from_nanos(1))
        );
    }
}
