//! The ssmping protocol: the queries and replies of `ssmping`, `asmping` and `ssmpingd`, as
//! bytes in and bytes out, and [`Pinger`], the client's state machine.
//!
//! `ssmpingd` listens on UDP port 4321 ([`PORT`]). A client sends it unicast queries; the
//! server answers each one twice, with the same bytes: unicast to the client, and multicast
//! from its own address to a group, to the client's own port. The group is the one the query
//! names, or by default the SSM group [`SSM_GROUP_V4`] (`232.43.211.234`) or [`SSM_GROUP_V6`]
//! (`ff3e::4321:1234`). The client joins (server, group) for SSM (`ssmping`) or (*, group) for
//! ASM (`asmping`) beforehand, and times both answers. The server sends with a TTL / hop limit
//! of 64 ([`SERVER_HOP_LIMIT`]), so what is left of it on arrival tells how many routers each
//! answer crossed ([`distance`]).
//!
//! This is the dialect of ssmping 0.9.1, the `ssmpingd` Debian ships, as captured from it on
//! the wire (the golden bytes in the tests are such a capture). RFC 6450, the Multicast Ping
//! Protocol, grew out of these tools; this module makes no claim about its servers.
//!
//! # Layout
//!
//! A message is one type byte followed by TLVs; every multi-byte field is big-endian.
//!
//! | offset | size | field   | meaning |
//! |-------:|-----:|---------|---------|
//! | 0      | 1    | `type`  | `Q` (`0x51`, [`QUERY`]) from the client, `A` (`0x41`, [`REPLY`]) from the server |
//! | 1      | 2    | `t`     | the first TLV's type |
//! | 3      | 2    | `l`     | its value's length `L` |
//! | 5      | `L`  | `v`     | its value; the next TLV follows at `5 + L`, and so on to the end of the datagram |
//!
//! The TLVs ([`tlv`]):
//!
//! | `t` | name | `l` | value |
//! |----:|------|----:|-------|
//! | 1 | `PID`              | 4      | the client's identifier (the reference client sends its process id) |
//! | 2 | `SEQ`              | 4      | the query's sequence number (the reference client starts at 1) |
//! | 3 | `TIMESTAMP`        | 8      | when the client sent the query: seconds, then microseconds, since the Unix epoch, 4 bytes each |
//! | 4 | `GROUP`            | 5 / 17 | the group to answer on: an address family byte (1 IPv4, 2 IPv6), then the address |
//! | 5 | `REQUEST_VERSION`  | 0      | "tell me your version" |
//! | 6 | `VERSION`          | ≥ 1    | the server's version, text (`0.9.1 (20080418) [asm][size]`) |
//! | 7 | `REPLY_SIZE`       | 2      | the size the client wants replies to have |
//! | 8 | `PAD`              | any    | zeros, to make a reply as long as `REPLY_SIZE` asked |
//!
//! A reply is the query with its type byte changed to `A`, every TLV echoed in order, and
//! `VERSION` (when asked for) and `PAD` (when a size was asked for) appended. A datagram is
//! exactly a type byte and whole TLVs: a TLV header or value cut short is
//! [`SsmpingError::Truncated`]. TLVs of unknown types are skipped.
//!
//! Two rules of the server shape what a client sends:
//!
//! - `ssmpingd` reads a query's TLVs only up to `GROUP`, so `REQUEST_VERSION` and
//!   `REPLY_SIZE` must come before it. [`MessageRepr::emit`] writes the TLVs in the order of the
//!   table (`GROUP` after both), as the reference client does.
//! - It answers only groups whose last byte is 234 (IPv4) or whose last four bytes are
//!   `43 21 12 34` (IPv6), and ignores other queries after their unicast answer
//!   ([`server_accepts`]). `asmping` forces the user's group into that shape ([`asm_group`]).
//!
//! # Promises
//!
//! - [`Message::new_checked`] and [`MessageRepr::parse`] never panic, never allocate and never
//!   read past the datagram; anything malformed is an [`SsmpingError`].
//! - [`MessageRepr::emit`] never panics: on a short buffer it returns an error and writes
//!   nothing.
//!
//! # Two layers
//!
//! In the style of smoltcp: [`Message`] is a checked view over the bytes with a [`Tlv`]
//! iterator, and [`MessageRepr`] the parsed message with [`parse`](MessageRepr::parse),
//! [`buffer_len`](MessageRepr::buffer_len) and [`emit`](MessageRepr::emit); [`encode`] writes
//! into a `Vec`.
//!
//! ```
//! use mcast_core::ssmping::{self, Kind, MessageRepr, Timestamp};
//!
//! let query = MessageRepr {
//!     pid: Some(4242),
//!     seq: Some(1),
//!     timestamp: Some(Timestamp { secs: 1_700_000_000, micros: 250 }),
//!     group: Some(ssmping::SSM_GROUP_V4.into()),
//!     ..MessageRepr::new(Kind::Query)
//! };
//! let mut buf = Vec::new();
//! ssmping::encode(&query, &mut buf).unwrap();
//! assert_eq!(buf.len(), 38);
//! assert_eq!(buf[0], b'Q');
//! assert_eq!(MessageRepr::parse(&buf), Ok(query));
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::Group;

mod pinger;

pub use pinger::{
    Ignored, Path, PathStats, Pinger, PingerConfig, Query, Reply, RttPercentiles, WINDOW,
};

/// The UDP port `ssmpingd` listens on.
pub const PORT: u16 = 4321;

/// The type byte of a query, `Q`.
pub const QUERY: u8 = b'Q';

/// The type byte of a reply, `A`.
pub const REPLY: u8 = b'A';

/// The IPv4 group `ssmpingd` answers on when a query names none: `232.43.211.234`, in the SSM
/// range.
pub const SSM_GROUP_V4: Ipv4Addr = Ipv4Addr::new(232, 43, 211, 234);

/// The IPv6 group `ssmpingd` answers on when a query names none: `ff3e::4321:1234`, SSM with
/// global scope.
pub const SSM_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0x4321, 0x1234);

/// The TTL / hop limit `ssmpingd` sends its replies with.
pub const SERVER_HOP_LIMIT: u8 = 64;

/// The length of a TLV's header: type and length, two bytes each.
pub const TLV_HEADER_LEN: usize = 4;

/// The TLV types ssmping 0.9.1 knows.
pub mod tlv {
    /// The client's identifier, 4 bytes.
    pub const PID: u16 = 1;
    /// The query's sequence number, 4 bytes.
    pub const SEQ: u16 = 2;
    /// The client's send time: seconds and microseconds since the Unix epoch, 4 bytes each.
    pub const TIMESTAMP: u16 = 3;
    /// The group to answer on: a family byte (1 IPv4, 2 IPv6) and the address.
    pub const GROUP: u16 = 4;
    /// "Tell me your version", no value.
    pub const REQUEST_VERSION: u16 = 5;
    /// The server's version, text.
    pub const VERSION: u16 = 6;
    /// The size the client wants replies to have, 2 bytes.
    pub const REPLY_SIZE: u16 = 7;
    /// Zeros that make a reply as long as asked.
    pub const PAD: u16 = 8;
}

/// The address family byte of an IPv4 group in a `GROUP` TLV (IANA's number for IPv4).
const FAMILY_V4: u8 = 1;
/// The address family byte of an IPv6 group in a `GROUP` TLV.
const FAMILY_V6: u8 = 2;

/// The group `ssmpingd` answers on by default, for the server's address family.
pub fn default_group(v6: bool) -> Group {
    let addr = if v6 {
        IpAddr::V6(SSM_GROUP_V6)
    } else {
        IpAddr::V4(SSM_GROUP_V4)
    };
    Group::new(addr).expect("the default ssmping groups are multicast addresses")
}

/// Whether `ssmpingd` answers on `group`: an IPv4 group whose last byte is 234, or an IPv6
/// group whose last four bytes are `43 21 12 34`. Only the address's tail is checked, as the
/// server checks it.
pub fn server_accepts(group: IpAddr) -> bool {
    match group {
        IpAddr::V4(g) => g.octets()[3] == 234,
        IpAddr::V6(g) => g.octets()[12..] == [0x43, 0x21, 0x12, 0x34],
    }
}

/// `group` with its tail forced into the shape `ssmpingd` answers on, as `asmping` does: the
/// last byte set to 234 (IPv4), or the last four bytes to `43 21 12 34` (IPv6).
pub fn asm_group(group: IpAddr) -> IpAddr {
    match group {
        IpAddr::V4(g) => {
            let [a, b, c, _] = g.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 234))
        }
        IpAddr::V6(g) => {
            let mut o = g.octets();
            o[12..].copy_from_slice(&[0x43, 0x21, 0x12, 0x34]);
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

/// How many routers a reply crossed, from the TTL / hop limit it arrived with: the distance
/// from the nearest usual initial value at or above it (64, `ssmpingd`'s, else 128, else 255).
/// The reference client's `dist`.
pub fn distance(hop_limit: u8) -> u8 {
    let initial = match hop_limit {
        0..=SERVER_HOP_LIMIT => SERVER_HOP_LIMIT,
        65..=128 => 128,
        _ => 255,
    };
    initial - hop_limit
}

/// Whether a message is a query or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Kind {
    /// `Q`: from a client to `ssmpingd`.
    Query,
    /// `A`: from `ssmpingd`, unicast and multicast.
    Reply,
}

impl Kind {
    /// The type byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Query => QUERY,
            Self::Reply => REPLY,
        }
    }

    /// The kind of a type byte, if it is one.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            QUERY => Some(Self::Query),
            REPLY => Some(Self::Reply),
            _ => None,
        }
    }
}

/// A client's send time as the `TIMESTAMP` TLV carries it: a `struct timeval`, seconds and
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch (the field wraps in 2106).
    pub secs: u32,
    /// Microseconds within the second (below 1,000,000 from a sane client; not checked).
    pub micros: u32,
}

impl Timestamp {
    /// The timestamp of a wall-clock time in nanoseconds since the Unix epoch (microseconds
    /// rounded down, seconds wrapping as the field does).
    pub fn from_unix_ns(ns: u64) -> Self {
        Self {
            secs: (ns / 1_000_000_000) as u32,
            micros: ((ns % 1_000_000_000) / 1_000) as u32,
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub fn as_unix_ns(self) -> u64 {
        u64::from(self.secs) * 1_000_000_000 + u64::from(self.micros) * 1_000
    }
}

/// Why bytes are not an ssmping message, or a message cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SsmpingError {
    /// The datagram is empty: not even a type byte.
    #[error("empty datagram: an ssmping message starts with a type byte")]
    Empty,
    /// The type byte is neither `Q` nor `A`.
    #[error("type byte {0:#04x} is neither a query ('Q') nor a reply ('A')")]
    UnknownKind(u8),
    /// A TLV's header or value runs past the end of the datagram.
    #[error("TLV at offset {offset} is cut short: it needs {need} bytes, {left} are left")]
    Truncated {
        /// Where the TLV starts.
        offset: usize,
        /// How many bytes its header and value need.
        need: usize,
        /// How many bytes the datagram has from `offset` on.
        left: usize,
    },
    /// A TLV of a known type has a length its type does not allow.
    #[error("TLV of type {kind} has length {len}: {expected}")]
    BadLength {
        /// The TLV type.
        kind: u16,
        /// Its length.
        len: u16,
        /// What the type allows, in words.
        expected: &'static str,
    },
    /// A `GROUP` TLV names an address family other than 1 (IPv4) and 2 (IPv6).
    #[error("GROUP TLV has address family {0} (1 is IPv4, 2 is IPv6)")]
    UnknownFamily(u8),
    /// A value is too long for a TLV's 16-bit length field.
    #[error("a {what} of {len} bytes is too long for a TLV (at most 65535)")]
    TooLong {
        /// What is too long.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The buffer given to [`MessageRepr::emit`] is shorter than the message.
    #[error("buffer of {got} bytes is too short for a {need}-byte message")]
    BufferTooShort {
        /// The message's length.
        need: usize,
        /// The buffer's length.
        got: usize,
    },
}

/// One TLV of a message: its type and its value, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The TLV type (see [`tlv`]).
    pub kind: u16,
    /// The value.
    pub value: &'a [u8],
}

/// Reads the TLV at `offset`, or says why there is none: `Ok(None)` at the end of `bytes`.
fn tlv_at(bytes: &[u8], offset: usize) -> Result<Option<(Tlv<'_>, usize)>, SsmpingError> {
    let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let truncated = |need| SsmpingError::Truncated {
        offset,
        need,
        left: rest.len(),
    };
    let (Some(&[t0, t1]), Some(&[l0, l1])) = (rest.get(0..2), rest.get(2..4)) else {
        return Err(truncated(TLV_HEADER_LEN));
    };
    let kind = u16::from_be_bytes([t0, t1]);
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let end = TLV_HEADER_LEN + len;
    let value = rest.get(TLV_HEADER_LEN..end).ok_or(truncated(end))?;
    Ok(Some((Tlv { kind, value }, offset + end)))
}

/// The TLVs of a checked [`Message`], in order, unknown types included.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        // The message was checked whole, so an error cannot happen here; it ends the walk.
        let (tlv, next) = tlv_at(self.bytes, self.offset).ok().flatten()?;
        self.offset = next;
        Some(tlv)
    }
}

/// A checked view of an ssmping message: a known type byte followed by whole TLVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    bytes: &'a [u8],
    kind: Kind,
}

impl<'a> Message<'a> {
    /// Checks that `bytes` is a type byte followed by whole TLVs (values of known types are
    /// checked by [`MessageRepr::parse`], not here).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, SsmpingError> {
        let &first = bytes.first().ok_or(SsmpingError::Empty)?;
        let kind = Kind::from_byte(first).ok_or(SsmpingError::UnknownKind(first))?;
        let mut offset = 1;
        while let Some((_, next)) = tlv_at(bytes, offset)? {
            offset = next;
        }
        Ok(Self { bytes, kind })
    }

    /// Whether it is a query or a reply.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its TLVs, in order.
    pub fn tlvs(&self) -> TlvIter<'a> {
        TlvIter {
            bytes: self.bytes,
            offset: 1,
        }
    }

    /// The bytes it views.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A parsed ssmping message: every TLV ssmping 0.9.1 knows, each optional.
///
/// When a type occurs twice the first one counts; TLVs of unknown types are skipped (a
/// [`Message`] still shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRepr<'a> {
    /// Query or reply.
    pub kind: Kind,
    /// `PID`: the client's identifier.
    pub pid: Option<u32>,
    /// `SEQ`: the query's sequence number.
    pub seq: Option<u32>,
    /// `TIMESTAMP`: the client's send time.
    pub timestamp: Option<Timestamp>,
    /// `REQUEST_VERSION`: the client asks for the server's version.
    pub request_version: bool,
    /// `REPLY_SIZE`: the size the client wants replies to have.
    pub reply_size: Option<u16>,
    /// `GROUP`: the group to answer on (not checked to be multicast: the bytes as sent).
    pub group: Option<IpAddr>,
    /// `VERSION`: the server's version text, as bytes.
    pub version: Option<&'a [u8]>,
    /// `PAD`: how many bytes of padding.
    pub pad: Option<u16>,
}

impl<'a> MessageRepr<'a> {
    /// A message of `kind` without TLVs.
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            pid: None,
            seq: None,
            timestamp: None,
            request_version: false,
            reply_size: None,
            group: None,
            version: None,
            pad: None,
        }
    }

    /// Parses a datagram.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SsmpingError> {
        let msg = Message::new_checked(bytes)?;
        let mut repr = Self::new(msg.kind());
        for Tlv { kind, value } in msg.tlvs() {
            let bad = |expected| SsmpingError::BadLength {
                kind,
                len: value.len() as u16,
                expected,
            };
            match kind {
                tlv::PID => {
                    let v = u32::from_be_bytes(value.try_into().map_err(|_| bad("4 bytes"))?);
                    repr.pid.get_or_insert(v);
                }
                tlv::SEQ => {
                    let v = u32::from_be_bytes(value.try_into().map_err(|_| bad("4 bytes"))?);
                    repr.seq.get_or_insert(v);
                }
                tlv::TIMESTAMP => {
                    let v: [u8; 8] = value.try_into().map_err(|_| bad("8 bytes"))?;
                    let [s0, s1, s2, s3, u0, u1, u2, u3] = v;
                    repr.timestamp.get_or_insert(Timestamp {
                        secs: u32::from_be_bytes([s0, s1, s2, s3]),
                        micros: u32::from_be_bytes([u0, u1, u2, u3]),
                    });
                }
                tlv::GROUP => {
                    let g = parse_group(value)
                        .map_err(|e| e.unwrap_or_else(|| bad("5 bytes for IPv4, 17 for IPv6")))?;
                    repr.group.get_or_insert(g);
                }
                tlv::REQUEST_VERSION => {
                    if !value.is_empty() {
                        return Err(bad("no value"));
                    }
                    repr.request_version = true;
                }
                tlv::VERSION => {
                    if value.is_empty() {
                        return Err(bad("at least 1 byte"));
                    }
                    repr.version.get_or_insert(value);
                }
                tlv::REPLY_SIZE => {
                    let v = u16::from_be_bytes(value.try_into().map_err(|_| bad("2 bytes"))?);
                    repr.reply_size.get_or_insert(v);
                }
                tlv::PAD => {
                    repr.pad.get_or_insert(value.len() as u16);
                }
                _ => {}
            }
        }
        Ok(repr)
    }

    /// The message's length in bytes.
    pub fn buffer_len(&self) -> usize {
        let tlv = |len: usize| TLV_HEADER_LEN + len;
        1 + self.pid.map_or(0, |_| tlv(4))
            + self.seq.map_or(0, |_| tlv(4))
            + self.timestamp.map_or(0, |_| tlv(8))
            + if self.request_version { tlv(0) } else { 0 }
            + self.reply_size.map_or(0, |_| tlv(2))
            + self.group.map_or(0, |g| tlv(group_len(g)))
            + self.version.map_or(0, |v| tlv(v.len()))
            + self.pad.map_or(0, |p| tlv(usize::from(p)))
    }

    /// Writes the message to the front of `buf` and returns its length: the type byte, then
    /// the TLVs in the order of the [layout table](self#layout) (`PID`, `SEQ`, `TIMESTAMP`,
    /// `REQUEST_VERSION`, `REPLY_SIZE`, `GROUP`, `VERSION`, `PAD`), the order of the reference
    /// client and server. On an error nothing is written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, SsmpingError> {
        if let Some(v) = self.version {
            if v.len() > usize::from(u16::MAX) {
                return Err(SsmpingError::TooLong {
                    what: "version",
                    len: v.len(),
                });
            }
        }
        let need = self.buffer_len();
        let got = buf.len();
        let out = buf
            .get_mut(..need)
            .ok_or(SsmpingError::BufferTooShort { need, got })?;
        out[0] = self.kind.byte();
        let mut w = Writer { out, at: 1 };
        if let Some(pid) = self.pid {
            w.tlv(tlv::PID, &pid.to_be_bytes());
        }
        if let Some(seq) = self.seq {
            w.tlv(tlv::SEQ, &seq.to_be_bytes());
        }
        if let Some(t) = self.timestamp {
            let mut v = [0; 8];
            v[..4].copy_from_slice(&t.secs.to_be_bytes());
            v[4..].copy_from_slice(&t.micros.to_be_bytes());
            w.tlv(tlv::TIMESTAMP, &v);
        }
        if self.request_version {
            w.tlv(tlv::REQUEST_VERSION, &[]);
        }
        if let Some(size) = self.reply_size {
            w.tlv(tlv::REPLY_SIZE, &size.to_be_bytes());
        }
        match self.group {
            Some(IpAddr::V4(g)) => {
                let mut v = [FAMILY_V4; 5];
                v[1..].copy_from_slice(&g.octets());
                w.tlv(tlv::GROUP, &v);
            }
            Some(IpAddr::V6(g)) => {
                let mut v = [FAMILY_V6; 17];
                v[1..].copy_from_slice(&g.octets());
                w.tlv(tlv::GROUP, &v);
            }
            None => {}
        }
        if let Some(v) = self.version {
            w.tlv(tlv::VERSION, v);
        }
        if let Some(pad) = self.pad {
            w.zeros(tlv::PAD, usize::from(pad));
        }
        debug_assert_eq!(w.at, need, "buffer_len and emit agree");
        Ok(need)
    }
}

impl fmt::Display for MessageRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Query => "query",
            Kind::Reply => "reply",
        };
        f.write_str(kind)?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, " seq={seq}")?;
        }
        if let Some(g) = self.group {
            write!(f, " group={g}")?;
        }
        Ok(())
    }
}

/// Writes TLVs into a buffer known to be long enough (`emit` checked `buffer_len`).
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn header(&mut self, kind: u16, len: usize) {
        let len = len as u16;
        self.out[self.at..self.at + 2].copy_from_slice(&kind.to_be_bytes());
        self.out[self.at + 2..self.at + 4].copy_from_slice(&len.to_be_bytes());
        self.at += TLV_HEADER_LEN;
    }

    fn tlv(&mut self, kind: u16, value: &[u8]) {
        self.header(kind, value.len());
        self.out[self.at..self.at + value.len()].copy_from_slice(value);
        self.at += value.len();
    }

    fn zeros(&mut self, kind: u16, len: usize) {
        self.header(kind, len);
        self.out[self.at..self.at + len].fill(0);
        self.at += len;
    }
}

/// The value length of a `GROUP` TLV for `group`: the family byte and the address.
fn group_len(group: IpAddr) -> usize {
    match group {
        IpAddr::V4(_) => 5,
        IpAddr::V6(_) => 17,
    }
}

/// A `GROUP` TLV's address: `Err(None)` for a length its family does not allow (the caller
/// names it), `Err(Some(_))` for an unknown family.
fn parse_group(value: &[u8]) -> Result<IpAddr, Option<SsmpingError>> {
    match value.split_first() {
        Some((&FAMILY_V4, addr)) => <[u8; 4]>::try_from(addr)
            .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .map_err(|_| None),
        Some((&FAMILY_V6, addr)) => <[u8; 16]>::try_from(addr)
            .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .map_err(|_| None),
        Some((&family, _)) => Err(Some(SsmpingError::UnknownFamily(family))),
        None => Err(None),
    }
}

/// Writes `repr` into `buf` (cleared first) and returns its length.
pub fn encode(repr: &MessageRepr<'_>, buf: &mut Vec<u8>) -> Result<usize, SsmpingError> {
    buf.clear();
    buf.resize(repr.buffer_len(), 0);
    let n = repr.emit(buf)?;
    buf.truncate(n);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A query of Debian's `ssmping` 0.9.1 (`ssmping -c 3 10.99.0.1`), its first, as captured
    /// on the client's veth: the UDP payload of 10.99.0.2:59126 → 10.99.0.1:4321.
    const QUERY_V4: [u8; 38] = [
        0x51, // 'Q'
        0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x5e, 0x58, // PID 24152
        0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // SEQ 1
        0x00, 0x03, 0x00, 0x08, 0x6b, 0x0f, 0x1c, 0x8f, 0x00, 0x04, 0x23, 0x7f, // TIMESTAMP
        0x00, 0x04, 0x00, 0x05, 0x01, 0xe8, 0x2b, 0xd3, 0xea, // GROUP IPv4 232.43.211.234
    ];

    /// `ssmpingd`'s answer to it (unicast and multicast alike): the query with 'A' for 'Q'.
    fn reply_v4() -> [u8; 38] {
        let mut r = QUERY_V4;
        r[0] = b'A';
        r
    }

    /// `ssmping -6 -v -s 100 fd99::1`'s query: REQUEST_VERSION and REPLY_SIZE before GROUP.
    const QUERY_V6: [u8; 60] = [
        0x51, // 'Q'
        0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x5f, 0xc4, // PID 24516
        0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // SEQ 1
        0x00, 0x03, 0x00, 0x08, 0x6b, 0x0f, 0x1c, 0x9a, 0x00, 0x0a, 0xb2, 0x71, // TIMESTAMP
        0x00, 0x05, 0x00, 0x00, // REQUEST_VERSION
        0x00, 0x07, 0x00, 0x02, 0x00, 0x64, // REPLY_SIZE 100
        0x00, 0x04, 0x00, 0x11, 0x02, // GROUP IPv6
        0xff, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x43, 0x21, 0x12, 0x34, // ff3e::4321:1234
    ];

    /// `ssmpingd`'s 100-byte answer: the query echoed, then VERSION and 4 bytes of PAD.
    fn reply_v6() -> Vec<u8> {
        let mut r = QUERY_V6.to_vec();
        r[0] = b'A';
        r.extend_from_slice(&[0x00, 0x06, 0x00, 0x1c]);
        r.extend_from_slice(b"0.9.1 (20080418) [asm][size]");
        r.extend_from_slice(&[0x00, 0x08, 0x00, 0x04, 0, 0, 0, 0]);
        r
    }

    fn query_v4_repr() -> MessageRepr<'static> {
        MessageRepr {
            pid: Some(24152),
            seq: Some(1),
            timestamp: Some(Timestamp {
                secs: 0x6b0f_1c8f,
                micros: 0x0004_237f,
            }),
            group: Some(IpAddr::V4(SSM_GROUP_V4)),
            ..MessageRepr::new(Kind::Query)
        }
    }

    #[test]
    fn golden_query_and_reply_v4() {
        assert_eq!(MessageRepr::parse(&QUERY_V4), Ok(query_v4_repr()));
        let mut buf = Vec::new();
        assert_eq!(encode(&query_v4_repr(), &mut buf), Ok(38));
        assert_eq!(buf, QUERY_V4);
        let reply = reply_v4();
        let parsed = MessageRepr::parse(&reply).unwrap();
        assert_eq!(
            parsed,
            MessageRepr {
                kind: Kind::Reply,
                ..query_v4_repr()
            }
        );
        encode(&parsed, &mut buf).unwrap();
        assert_eq!(buf, reply);
        assert_eq!(
            parsed.to_string(),
            "reply pid=24152 seq=1 group=232.43.211.234"
        );
    }

    #[test]
    fn golden_query_and_reply_v6_with_version_and_size() {
        let query = MessageRepr::parse(&QUERY_V6).unwrap();
        assert!(query.request_version);
        assert_eq!(query.reply_size, Some(100));
        assert_eq!(query.group, Some(IpAddr::V6(SSM_GROUP_V6)));
        assert_eq!(query.timestamp.unwrap().micros, 0x000a_b271);
        let mut buf = Vec::new();
        encode(&query, &mut buf).unwrap();
        assert_eq!(
            buf, QUERY_V6,
            "GROUP comes after REQUEST_VERSION and REPLY_SIZE"
        );

        let bytes = reply_v6();
        assert_eq!(bytes.len(), 100, "the server padded to the size asked");
        let reply = MessageRepr::parse(&bytes).unwrap();
        assert_eq!(reply.kind, Kind::Reply);
        assert_eq!(reply.version, Some(&b"0.9.1 (20080418) [asm][size]"[..]));
        assert_eq!(reply.pad, Some(4));
        assert_eq!(reply.buffer_len(), 100);
        encode(&reply, &mut buf).unwrap();
        assert_eq!(buf, bytes);
        let kinds: Vec<u16> = Message::new_checked(&bytes)
            .unwrap()
            .tlvs()
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds, [1, 2, 3, 5, 7, 4, 6, 8]);
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(MessageRepr::parse(&[]), Err(SsmpingError::Empty));
        assert_eq!(
            MessageRepr::parse(b"X"),
            Err(SsmpingError::UnknownKind(b'X'))
        );
        assert_eq!(MessageRepr::parse(b"Q"), Ok(MessageRepr::new(Kind::Query)));
        // A header cut short, then a value cut short.
        assert_eq!(
            MessageRepr::parse(&QUERY_V4[..3]),
            Err(SsmpingError::Truncated {
                offset: 1,
                need: 4,
                left: 2
            })
        );
        assert_eq!(
            MessageRepr::parse(&QUERY_V4[..37]),
            Err(SsmpingError::Truncated {
                offset: 29,
                need: 9,
                left: 8
            })
        );
        let bad_seq = [b'A', 0, 2, 0, 3, 1, 2, 3];
        assert!(matches!(
            MessageRepr::parse(&bad_seq),
            Err(SsmpingError::BadLength {
                kind: 2,
                len: 3,
                ..
            })
        ));
        let bad_family = [b'A', 0, 4, 0, 5, 9, 1, 2, 3, 4];
        assert_eq!(
            MessageRepr::parse(&bad_family),
            Err(SsmpingError::UnknownFamily(9))
        );
        let short_v6 = [b'A', 0, 4, 0, 5, 2, 1, 2, 3, 4];
        assert!(matches!(
            MessageRepr::parse(&short_v6),
            Err(SsmpingError::BadLength { kind: 4, .. })
        ));
        let empty_version = [b'A', 0, 6, 0, 0];
        assert!(MessageRepr::parse(&empty_version).is_err());
        let rqver_with_value = [b'Q', 0, 5, 0, 1, 0];
        assert!(MessageRepr::parse(&rqver_with_value).is_err());
    }

    #[test]
    fn unknown_tlvs_are_skipped_and_the_first_of_a_kind_counts() {
        let bytes = [
            b'A', 0x12, 0x34, 0, 2, 0xaa, 0xbb, // unknown type 0x1234
            0, 2, 0, 4, 0, 0, 0, 7, // SEQ 7
            0, 2, 0, 4, 0, 0, 0, 8, // SEQ 8, ignored
        ];
        let repr = MessageRepr::parse(&bytes).unwrap();
        assert_eq!(repr.seq, Some(7));
        let msg = Message::new_checked(&bytes).unwrap();
        assert_eq!(
            msg.tlvs().next(),
            Some(Tlv {
                kind: 0x1234,
                value: &[0xaa, 0xbb]
            })
        );
        assert_eq!(msg.tlvs().count(), 3);
    }

    #[test]
    fn emit_refuses_short_buffers_and_writes_nothing() {
        let mut buf = [0xee; 37];
        assert_eq!(
            query_v4_repr().emit(&mut buf),
            Err(SsmpingError::BufferTooShort { need: 38, got: 37 })
        );
        assert!(buf.iter().all(|&b| b == 0xee));
        let long = vec![b'v'; 70_000];
        let repr = MessageRepr {
            version: Some(&long),
            ..MessageRepr::new(Kind::Reply)
        };
        let mut big = vec![0; 80_000];
        assert!(matches!(
            repr.emit(&mut big),
            Err(SsmpingError::TooLong {
                what: "version",
                ..
            })
        ));
    }

    #[test]
    fn server_group_rules_and_asm_groups() {
        assert!(server_accepts(SSM_GROUP_V4.into()));
        assert!(server_accepts(SSM_GROUP_V6.into()));
        assert!(server_accepts("239.1.2.234".parse().unwrap()));
        assert!(!server_accepts("239.1.2.3".parse().unwrap()));
        assert!(!server_accepts("ff3e::1".parse().unwrap()));
        assert_eq!(
            asm_group("239.1.2.3".parse().unwrap()),
            "239.1.2.234".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            asm_group("ff15::1".parse().unwrap()),
            "ff15::4321:1234".parse::<IpAddr>().unwrap()
        );
        for g in ["239.9.9.9", "ff05::abcd:ef01", "224.0.0.0"] {
            assert!(server_accepts(asm_group(g.parse().unwrap())), "{g}");
        }
        assert_eq!(default_group(false).addr(), IpAddr::V4(SSM_GROUP_V4));
        assert!(default_group(true).is_ssm());
    }

    #[test]
    fn distance_counts_down_from_the_usual_initial_values() {
        assert_eq!(distance(64), 0);
        assert_eq!(distance(52), 12);
        assert_eq!(distance(0), 64);
        assert_eq!(distance(128), 0);
        assert_eq!(distance(120), 8);
        assert_eq!(distance(255), 0);
        assert_eq!(distance(250), 5);
    }

    #[test]
    fn timestamps_are_timevals() {
        let t = Timestamp::from_unix_ns(1_700_000_000_123_456_789);
        assert_eq!(
            t,
            Timestamp {
                secs: 1_700_000_000,
                micros: 123_456
            }
        );
        assert_eq!(t.as_unix_ns(), 1_700_000_000_123_456_000);
    }

    fn any_group() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(
            reply in any::<bool>(),
            pid in proptest::option::of(any::<u32>()),
            seq in proptest::option::of(any::<u32>()),
            timestamp in proptest::option::of(any::<(u32, u32)>()),
            request_version in any::<bool>(),
            reply_size in proptest::option::of(any::<u16>()),
            group in proptest::option::of(any_group()),
            version in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..60)),
            pad in proptest::option::of(0u16..600),
        ) {
            let repr = MessageRepr {
                kind: if reply { Kind::Reply } else { Kind::Query },
                pid,
                seq,
                timestamp: timestamp.map(|(secs, micros)| Timestamp { secs, micros }),
                request_version,
                reply_size,
                group,
                version: version.as_deref(),
                pad,
            };
            let mut buf = Vec::new();
            let n = encode(&repr, &mut buf).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(n, repr.buffer_len());
            prop_assert_eq!(MessageRepr::parse(&buf), Ok(repr));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = MessageRepr::parse(&bytes);
            if let Ok(msg) = Message::new_checked(&bytes) {
                // A checked message's TLVs cover it exactly.
                let covered: usize = msg.tlvs().map(|t| TLV_HEADER_LEN + t.value.len()).sum();
                prop_assert_eq!(covered + 1, bytes.len());
            }
        }

        #[test]
        fn whatever_parses_re_encodes_to_the_same(
            reply in any::<bool>(),
            tlvs in proptest::collection::vec(
                (0u16..10, proptest::collection::vec(any::<u8>(), 0..20)),
                0..8,
            ),
        ) {
            // Any TLVs, known or not, of any length: when they parse, emitting the result and
            // parsing again gives the same message.
            let mut bytes = vec![if reply { REPLY } else { QUERY }];
            for (kind, value) in &tlvs {
                bytes.extend_from_slice(&kind.to_be_bytes());
                bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
                bytes.extend_from_slice(value);
            }
            prop_assert!(Message::new_checked(&bytes).is_ok());
            if let Ok(repr) = MessageRepr::parse(&bytes) {
                let mut buf = Vec::new();
                encode(&repr, &mut buf).unwrap();
                prop_assert_eq!(MessageRepr::parse(&buf), Ok(repr));
            }
        }

        #[test]
        fn parse_of_a_query_with_any_type_byte_never_panics(
            first in any::<u8>(),
            cut in 0usize..60,
        ) {
            let mut bytes = QUERY_V6.to_vec();
            bytes[0] = first;
            bytes.truncate(cut);
            let _ = MessageRepr::parse(&bytes);
        }
    }
}
