//! IGMP v1, v2 and v3 (RFC 1112, 2236, 3376), decoded with etherparse's [`IgmpSlice`].
//!
//! etherparse 0.21 parses every IGMP message we need (queries of all three versions, v1/v2
//! reports, v2 leaves, v3 reports with their group records), so this module only turns its
//! slices into a [`MembershipMessage`]. The query version follows RFC 3376 §7.1: an 8-byte query
//! with a zero Max Resp Code is IGMPv1, other 8-byte queries are IGMPv2, 12 bytes or more IGMPv3.

use std::net::{IpAddr, Ipv4Addr};

use etherparse::IgmpSlice;

use super::membership::{
    GroupRecord, MembershipMessage, MembershipProtocol, MessageKind, RecordType,
};

fn v4(octets: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(octets))
}

/// `None` for the all-zero group of a general query.
fn query_group(octets: [u8; 4]) -> Option<IpAddr> {
    (octets != [0; 4]).then(|| v4(octets))
}

/// Decodes an IGMP message parsed by etherparse.
pub(crate) fn decode(igmp: &IgmpSlice<'_>) -> MembershipMessage {
    use MembershipProtocol::Igmp;
    let mut msg = match igmp {
        IgmpSlice::MembershipQuery(q) => {
            let max = q.max_response_time();
            let version = if max == 0 { 1 } else { 2 };
            let mut m = MembershipMessage::new(Igmp, version, MessageKind::Query);
            m.group = query_group(q.group_address().octets);
            // IGMPv1 has no Max Resp Time (10 s fixed); v2 counts tenths of a second.
            m.max_resp_ms = Some(if max == 0 {
                10_000
            } else {
                u32::from(max) * 100
            });
            m
        }
        IgmpSlice::MembershipQueryWithSources(q) => {
            let mut m = MembershipMessage::new(Igmp, 3, MessageKind::Query);
            m.group = query_group(q.group_address().octets);
            m.max_resp_ms = Some(u32::from(q.max_response_code().as_10th_secs()) * 100);
            m.sources = q.source_addresses().map(v4).collect();
            m
        }
        IgmpSlice::MembershipReportV1(r) => {
            let mut m = MembershipMessage::new(Igmp, 1, MessageKind::Report);
            m.group = Some(v4(r.group_address().octets));
            m
        }
        IgmpSlice::MembershipReportV2(r) => {
            let mut m = MembershipMessage::new(Igmp, 2, MessageKind::Report);
            m.group = Some(v4(r.group_address().octets));
            m
        }
        IgmpSlice::LeaveGroup(l) => {
            let mut m = MembershipMessage::new(Igmp, 2, MessageKind::Leave);
            m.group = Some(v4(l.group_address().octets));
            m
        }
        IgmpSlice::MembershipReportV3(r) => {
            let mut m = MembershipMessage::new(Igmp, 3, MessageKind::Report);
            for rec in r.group_records() {
                match rec {
                    Ok(rec) => m.records.push(GroupRecord::new(
                        RecordType::from_code(rec.record_type().0),
                        v4(rec.multicast_address()),
                        rec.source_addresses().map(v4).collect(),
                    )),
                    Err(_) => {
                        m.truncated = true;
                        break;
                    }
                }
            }
            m
        }
        IgmpSlice::Unknown(u) => MembershipMessage::new(Igmp, 0, MessageKind::Unknown(u.type_u8())),
    };
    msg.checksum_ok = Some(igmp.is_checksum_valid());
    msg
}
