//! MLD v1 and v2 (RFC 2710, RFC 3810), decoded by hand from the ICMPv6 message.
//!
//! etherparse 0.21 gives the ICMPv6 type, code and bytes but does not know MLD, so the layouts
//! are read here. `msg` is the whole ICMPv6 message, starting at the type byte; the IPv6
//! Hop-by-Hop header with the Router Alert option that every MLD message carries has already
//! been skipped by etherparse.
//!
//! | type | message | layout after the 4-byte ICMPv6 header |
//! |---|---|---|
//! | 130 | Query (v1: exactly 24 bytes, v2: 28 or more) | 4: Max Response Delay/Code (u16) · 6: reserved · 8: group (16) · v2 only: 24: S/QRV · 25: QQIC · 26: number of sources (u16) · 28: sources (16 each) |
//! | 131 | MLDv1 Report | 4: Max Response Delay · 6: reserved · 8: group |
//! | 132 | MLDv1 Done | the same as 131 |
//! | 143 | MLDv2 Report | 4: reserved · 6: number of records (u16) · 8: records |
//!
//! An MLDv2 group record is: 0: type · 1: aux data length (32-bit words) · 2: number of sources
//! (u16) · 4: group (16) · 20: sources (16 each) · then the aux data.

use std::net::{IpAddr, Ipv6Addr};

use super::membership::{
    GroupRecord, MembershipMessage, MembershipProtocol, MessageKind, RecordType,
};

/// ICMPv6 type of a Multicast Listener Query.
pub const MLD_QUERY: u8 = 130;
/// ICMPv6 type of an MLDv1 Multicast Listener Report.
pub const MLD_V1_REPORT: u8 = 131;
/// ICMPv6 type of an MLDv1 Multicast Listener Done.
pub const MLD_V1_DONE: u8 = 132;
/// ICMPv6 type of an MLDv2 Multicast Listener Report.
pub const MLD_V2_REPORT: u8 = 143;

/// Whether an ICMPv6 type is one of the four MLD messages.
pub fn is_mld(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        MLD_QUERY | MLD_V1_REPORT | MLD_V1_DONE | MLD_V2_REPORT
    )
}

/// The message is shorter than its fixed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let octets: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(octets))
}

/// `None` for the unspecified group of a general query.
fn query_group(a: Ipv6Addr) -> Option<IpAddr> {
    (!a.is_unspecified()).then_some(IpAddr::V6(a))
}

/// Reads up to `count` addresses from `b` starting at `at`; `false` if they do not all fit.
fn sources(b: &[u8], at: usize, count: usize, out: &mut Vec<IpAddr>) -> bool {
    for i in 0..count {
        match v6_at(b, at + 16 * i) {
            Some(a) => out.push(IpAddr::V6(a)),
            None => return false,
        }
    }
    true
}

/// The MLDv2 Maximum Response Code (RFC 3810 §5.1.3) in milliseconds.
fn mldv2_max_resp_ms(code: u16) -> u32 {
    if code < 0x8000 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 12) & 0x7);
        let mant = u32::from(code & 0x0fff);
        (mant | 0x1000) << (exp + 3)
    }
}

/// Decodes an MLD message; `msg` starts at the ICMPv6 type byte. Types that are not MLD give
/// `Ok(None)`. Never panics and never reads past `msg`.
pub(crate) fn decode(msg: &[u8]) -> Result<Option<MembershipMessage>, Truncated> {
    use MembershipProtocol::Mld;
    let Some(&icmp_type) = msg.first() else {
        return Err(Truncated);
    };
    let m = match icmp_type {
        MLD_QUERY => {
            let delay = u16_at(msg, 4).ok_or(Truncated)?;
            let group = v6_at(msg, 8).ok_or(Truncated)?;
            match msg.len() {
                24 => {
                    let mut m = MembershipMessage::new(Mld, 1, MessageKind::Query);
                    m.group = query_group(group);
                    m.max_resp_ms = Some(u32::from(delay));
                    m
                }
                25..=27 => return Err(Truncated),
                _ => {
                    let mut m = MembershipMessage::new(Mld, 2, MessageKind::Query);
                    m.group = query_group(group);
                    m.max_resp_ms = Some(mldv2_max_resp_ms(delay));
                    let n = usize::from(u16_at(msg, 26).ok_or(Truncated)?);
                    m.truncated = !sources(msg, 28, n, &mut m.sources);
                    m
                }
            }
        }
        MLD_V1_REPORT | MLD_V1_DONE => {
            let kind = if icmp_type == MLD_V1_REPORT {
                MessageKind::Report
            } else {
                MessageKind::Leave
            };
            let mut m = MembershipMessage::new(Mld, 1, kind);
            m.group = Some(IpAddr::V6(v6_at(msg, 8).ok_or(Truncated)?));
            m
        }
        MLD_V2_REPORT => {
            let count = u16_at(msg, 6).ok_or(Truncated)?;
            let mut m = MembershipMessage::new(Mld, 2, MessageKind::Report);
            let mut at = 8;
            for _ in 0..count {
                let (Some(&rtype), Some(&aux_words), Some(nsrc), Some(group)) = (
                    msg.get(at),
                    msg.get(at + 1),
                    u16_at(msg, at + 2),
                    v6_at(msg, at + 4),
                ) else {
                    m.truncated = true;
                    break;
                };
                let nsrc = usize::from(nsrc);
                let mut srcs = Vec::new();
                let complete = sources(msg, at + 20, nsrc, &mut srcs);
                m.records.push(GroupRecord::new(
                    RecordType::from_code(rtype),
                    IpAddr::V6(group),
                    srcs,
                ));
                at += 20 + 16 * nsrc + 4 * usize::from(aux_words);
                if !complete || at > msg.len() {
                    m.truncated = true;
                    break;
                }
            }
            m
        }
        _ => return Ok(None),
    };
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_resp_code_floating_point() {
        assert_eq!(mldv2_max_resp_ms(10_000), 10_000);
        assert_eq!(mldv2_max_resp_ms(0x7fff), 0x7fff);
        // exp 0, mant 0: 0x1000 << 3
        assert_eq!(mldv2_max_resp_ms(0x8000), 0x1000 << 3);
        assert_eq!(mldv2_max_resp_ms(0xffff), 0x1fff << 10);
    }

    #[test]
    fn non_mld_type_is_none_and_empty_is_truncated() {
        assert_eq!(decode(&[133, 0, 0, 0, 0, 0, 0, 0]), Ok(None));
        assert_eq!(decode(&[]), Err(Truncated));
        assert_eq!(
            decode(&[MLD_V1_REPORT, 0, 0, 0, 0, 0, 0, 0, 0xff]),
            Err(Truncated)
        );
        assert_eq!(decode(&[MLD_QUERY; 26]), Err(Truncated));
    }

    #[test]
    fn v2_report_with_sources_and_aux_data() {
        let mut msg = vec![MLD_V2_REPORT, 0, 0, 0, 0, 0, 0, 2];
        // Record 1: ALLOW, 1 aux word, 1 source.
        msg.extend([5, 1, 0, 1]);
        msg.extend("ff3e::8000:1".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend("2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend([0xaa; 4]);
        // Record 2: BLOCK, no aux data, claims 2 sources but carries 1.
        msg.extend([6, 0, 0, 2]);
        msg.extend("ff3e::8000:2".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend("2001:db8::6".parse::<Ipv6Addr>().unwrap().octets());
        let m = decode(&msg).unwrap().unwrap();
        assert!(m.truncated);
        assert_eq!(m.records.len(), 2);
        assert_eq!(
            m.to_string(),
            "MLDv2 report: allow ff3e::8000:1 {2001:db8::5}; block ff3e::8000:2 {2001:db8::6}"
        );
    }
}
