//! IGMP and MLD messages, decoded into one shape and into words.

use std::fmt;
use std::net::IpAddr;

/// The protocol that carried a membership message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum MembershipProtocol {
    /// IGMP (IPv4, IP protocol 2).
    Igmp,
    /// MLD (IPv6, ICMPv6 types 130, 131, 132 and 143).
    Mld,
}

impl fmt::Display for MembershipProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Igmp => "IGMP",
            Self::Mld => "MLD",
        })
    }
}

/// What a membership message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum MessageKind {
    /// A router asks who listens (general, group-specific or group-and-source-specific).
    Query,
    /// A host reports its memberships (v1/v2: one group; IGMPv3/MLDv2: group records).
    Report,
    /// A host leaves a group: IGMPv2 Leave Group, MLDv1 Done.
    Leave,
    /// A message type this decoder does not know (the IGMP type byte).
    Unknown(u8),
}

/// The type of an IGMPv3 (RFC 3376 §4.2.12) or MLDv2 (RFC 3810 §5.2.12) group record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum RecordType {
    /// 1, `MODE_IS_INCLUDE`: current state, include the sources.
    ModeIsInclude,
    /// 2, `MODE_IS_EXCLUDE`: current state, exclude the sources.
    ModeIsExclude,
    /// 3, `CHANGE_TO_INCLUDE_MODE`: with no sources this is a leave.
    ChangeToInclude,
    /// 4, `CHANGE_TO_EXCLUDE_MODE`: with no sources this is an any-source join.
    ChangeToExclude,
    /// 5, `ALLOW_NEW_SOURCES`.
    AllowNewSources,
    /// 6, `BLOCK_OLD_SOURCES`.
    BlockOldSources,
    /// Any other value.
    Unknown(u8),
}

impl RecordType {
    /// Decodes the record type byte.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Self::ModeIsInclude,
            2 => Self::ModeIsExclude,
            3 => Self::ChangeToInclude,
            4 => Self::ChangeToExclude,
            5 => Self::AllowNewSources,
            6 => Self::BlockOldSources,
            other => Self::Unknown(other),
        }
    }

    /// The record type byte.
    pub fn code(&self) -> u8 {
        match self {
            Self::ModeIsInclude => 1,
            Self::ModeIsExclude => 2,
            Self::ChangeToInclude => 3,
            Self::ChangeToExclude => 4,
            Self::AllowNewSources => 5,
            Self::BlockOldSources => 6,
            Self::Unknown(c) => *c,
        }
    }
}

/// One group record of an IGMPv3 or MLDv2 report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupRecord {
    /// What the record says.
    pub record_type: RecordType,
    /// The group (as sent: not checked to be multicast).
    pub group: IpAddr,
    /// The sources.
    pub sources: Vec<IpAddr>,
}

impl GroupRecord {
    /// A record.
    pub fn new(record_type: RecordType, group: IpAddr, sources: Vec<IpAddr>) -> Self {
        Self {
            record_type,
            group,
            sources,
        }
    }
}

/// Writes `{a, b}`.
struct Sources<'a>(&'a [IpAddr]);

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        f.write_str("}")
    }
}

/// In words: `join 224.1.1.5 (exclude {})`, `leave 224.1.1.5 (include {})`,
/// `change 232.1.1.5 (include {10.0.0.1})`, `member 224.1.1.5 (exclude {})`,
/// `allow 232.1.1.5 {192.168.56.1}`, `block 232.1.1.5 {192.168.56.1}`,
/// `record type 9 224.1.1.5 {}`.
impl fmt::Display for GroupRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.group;
        let s = Sources(&self.sources);
        let empty = self.sources.is_empty();
        match self.record_type {
            RecordType::ModeIsInclude => write!(f, "member {g} (include {s})"),
            RecordType::ModeIsExclude => write!(f, "member {g} (exclude {s})"),
            RecordType::ChangeToInclude if empty => write!(f, "leave {g} (include {s})"),
            RecordType::ChangeToInclude => write!(f, "change {g} (include {s})"),
            RecordType::ChangeToExclude if empty => write!(f, "join {g} (exclude {s})"),
            RecordType::ChangeToExclude => write!(f, "change {g} (exclude {s})"),
            RecordType::AllowNewSources => write!(f, "allow {g} {s}"),
            RecordType::BlockOldSources => write!(f, "block {g} {s}"),
            RecordType::Unknown(t) => write!(f, "record type {t} {g} {s}"),
        }
    }
}

/// A decoded IGMP (v1, v2, v3) or MLD (v1, v2) message.
///
/// Its `Display` is one line of words, alike for every version: `IGMPv2 query (general)`,
/// `IGMPv2 report: join 234.3.2.1`, `IGMPv2 leave 234.3.2.1`,
/// `IGMPv3 report: join 224.1.1.5 (exclude {})`, `MLDv1 leave ff15::2` (an MLDv1 Done),
/// `MLDv2 report: leave ff15::1 (include {})`. Several records are separated by `; `. A
/// [`PacketSummary`](super::PacketSummary) line names the sender and destination between the
/// name and the words: `IGMPv2 192.168.56.1 > 224.0.0.2 leave 224.1.1.5`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MembershipMessage {
    /// IGMP or MLD.
    pub protocol: MembershipProtocol,
    /// The protocol version the message belongs to (IGMP 1–3, MLD 1–2; 0 for an unknown type).
    pub version: u8,
    /// Query, report, leave.
    pub kind: MessageKind,
    /// The group of a v1/v2 report, a leave, or a group-specific query; `None` for a general
    /// query (group 0.0.0.0 or ::) and for IGMPv3/MLDv2 reports (see `records`).
    pub group: Option<IpAddr>,
    /// The sources of an IGMPv3/MLDv2 group-and-source-specific query.
    pub sources: Vec<IpAddr>,
    /// A query's maximum response time in milliseconds.
    pub max_resp_ms: Option<u32>,
    /// The group records of an IGMPv3/MLDv2 report.
    pub records: Vec<GroupRecord>,
    /// Whether the IGMP/ICMPv6 checksum is right (`None` when it could not be checked, e.g. the
    /// message is cut short).
    pub checksum_ok: Option<bool>,
    /// The message (or its record list) is cut short; what is here was decoded.
    pub truncated: bool,
}

impl MembershipMessage {
    /// A message with no group, sources or records.
    pub(crate) fn new(protocol: MembershipProtocol, version: u8, kind: MessageKind) -> Self {
        Self {
            protocol,
            version,
            kind,
            group: None,
            sources: Vec::new(),
            max_resp_ms: None,
            records: Vec::new(),
            checksum_ok: None,
            truncated: false,
        }
    }
}

impl MembershipMessage {
    /// Writes the message's name: `IGMPv3`, `MLDv1`, or `IGMP` / `MLD` for an unknown type.
    pub(crate) fn fmt_name(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            MessageKind::Unknown(_) => write!(f, "{}", self.protocol),
            _ => write!(f, "{}v{}", self.protocol, self.version),
        }
    }

    /// Writes what the message says, after its name: `query (general)`,
    /// `report: join 224.1.1.5 (exclude {})`, `leave 224.1.1.5`, `type 0x99`.
    pub(crate) fn fmt_words(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            MessageKind::Unknown(t) => write!(f, "type 0x{t:02x}"),
            MessageKind::Query => {
                f.write_str("query ")?;
                match self.group {
                    None => f.write_str("(general)")?,
                    Some(g) => write!(f, "{g}")?,
                }
                if !self.sources.is_empty() {
                    write!(f, " {}", Sources(&self.sources))?;
                }
                Ok(())
            }
            // IGMPv2 Leave Group and MLDv1 Done alike, as the v3 records say it.
            MessageKind::Leave => {
                f.write_str("leave")?;
                if let Some(g) = self.group {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MessageKind::Report => {
                f.write_str("report:")?;
                // IGMPv3 and MLDv2 reports carry group records; v1/v2 reports one group, which
                // they join.
                if let Some(g) = self.group {
                    write!(f, " join {g}")?;
                } else if self.records.is_empty() {
                    f.write_str(" no records")?;
                }
                for (i, r) in self.records.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    write!(f, "{sep}{r}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for MembershipMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_name(f)?;
        f.write_str(" ")?;
        self.fmt_words(f)
    }
}
