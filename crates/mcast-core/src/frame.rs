//! The framed wire format: a small versioned header in front of the payload.
//!
//! Raw datagrams (just the payload) stay the default for sending, so the tool talks to any
//! plain socket program. Framed mode puts this header in front of each payload, so a receiver
//! can tell streams apart and count loss, duplication, reordering and one-way delay.
//!
//! # Layout (version 1)
//!
//! Every multi-byte field is big-endian (network order).
//!
//! | offset | size | field        | meaning                                                        |
//! |-------:|-----:|--------------|----------------------------------------------------------------|
//! | 0      | 2    | `magic`      | `0x6d 0xc5` ([`MAGIC`]): "this is an mcast frame"              |
//! | 2      | 1    | `version`    | [`VERSION`] (1); any other value is [`FrameError::UnsupportedVersion`] |
//! | 3      | 1    | `flags`      | bit 0 ([`Flags::AUTH`]): an authentication tag follows the payload; bit 1 ([`Flags::END`]): an end-of-session frame (below); bit 2 ([`Flags::PROBE`]) and bit 3 ([`Flags::ANSWER`]): a ping probe or answer ([`crate::ping`]); other bits are reserved, carried as values and never rejected |
//! | 4      | 4    | `session`    | [`SessionId`]: the sender's session, chosen by the sender       |
//! | 8      | 8    | `seq`        | [`Seq`]: the datagram's sequence number within the session     |
//! | 16     | 8    | `sent_at_ns` | the sender's wall clock at send time, ns since the Unix epoch  |
//! | 24     | 2    | `payload_len`| `P`, the payload's length in bytes                             |
//! | 26     | 2    | `tag_len`    | `T`, the tag's length in bytes; 0 unless `AUTH` is set         |
//! | 28     | `P`  | payload      | the application's bytes                                        |
//! | 28+`P` | `T`  | tag          | the authentication tag, when `AUTH` is set: 16 bytes of HMAC-SHA256 over bytes `0..28+P` ([`crate::auth`]) |
//!
//! # End of session
//!
//! When a sender's stream ends it sends an end-of-session frame, a few times over (three,
//! a few milliseconds apart, by [`session::Sender`](crate::session::Sender)), so that a receiver
//! can count the datagrams lost at the tail of the stream, which no later sequence number
//! would reveal. An end-of-session frame has [`Flags::END`] set and
//!
//! - `seq` = the sequence number the next datagram would have had: one past the last datagram
//!   sent, so the stream was `first..seq`;
//! - `payload` = 8 bytes, `first`: the stream's first sequence number (big-endian), so the
//!   datagrams lost at the head are counted too (see [`EndOfSession`]).
//!
//! It carries no application data. Receivers that predate the flag see an 8-byte payload.
//!
//! A frame is exactly `28 + P + T` bytes: a shorter datagram is [`FrameError::Truncated`], a
//! longer one is [`FrameError::LengthMismatch`].
//!
//! The magic is `m` followed by `0xc5`, a UTF-8 lead byte which the version byte (`0x01`)
//! cannot continue: no valid UTF-8 text starts with a frame header, so text sent in raw mode is
//! never taken for a frame.
//!
//! # Promises
//!
//! - After [`Frame::new_checked`] succeeds, no accessor panics.
//! - [`FrameRepr::emit`] never panics: on a buffer shorter than [`FrameRepr::buffer_len`], or for
//!   a payload or tag too long for its length field, it returns an error and writes nothing.
//! - Decoding ([`decode`], [`FrameRepr::parse`]) never allocates, never panics and never reads
//!   past the datagram; anything malformed is a [`FrameError`].
//!
//! # Two layers
//!
//! In the style of smoltcp: [`Frame`] is a checked view over a byte buffer with accessors and
//! setters, and [`FrameRepr`] is the parsed, high-level representation with
//! [`parse`](FrameRepr::parse), [`buffer_len`](FrameRepr::buffer_len) and
//! [`emit`](FrameRepr::emit). [`encode`], [`decode`] and [`looks_framed`] are the convenience
//! entry points.
//!
//! ```
//! use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};
//!
//! let repr = FrameRepr {
//!     flags: Flags::empty(),
//!     session: SessionId(7),
//!     seq: Seq(1),
//!     sent_at_ns: 1_700_000_000_000_000_000,
//!     payload: b"hello",
//!     tag: None,
//! };
//! let mut buf = Vec::new();
//! frame::encode(&repr, &mut buf).unwrap();
//! assert!(frame::looks_framed(&buf));
//! assert_eq!(frame::decode(&buf).unwrap(), repr);
//! ```

use std::fmt;

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = [0x6d, 0xc5];

/// The version of the layout this module reads and writes.
pub const VERSION: u8 = 1;

/// The length of the fixed header in bytes.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The longest payload a frame can carry (the payload length field is 16 bits).
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize;

/// The longest tag a frame can carry (the tag length field is 16 bits).
pub const MAX_TAG_LEN: usize = u16::MAX as usize;

/// Byte ranges of the header fields.
mod field {
    pub(super) type Field = std::ops::Range<usize>;

    pub(super) const MAGIC: Field = 0..2;
    pub(super) const VERSION: usize = 2;
    pub(super) const FLAGS: usize = 3;
    pub(super) const SESSION: Field = 4..8;
    pub(super) const SEQ: Field = 8..16;
    pub(super) const SENT_AT: Field = 16..24;
    pub(super) const PAYLOAD_LEN: Field = 24..26;
    pub(super) const TAG_LEN: Field = 26..28;
    /// The payload starts here; its end comes from `PAYLOAD_LEN`.
    pub(super) const PAYLOAD: std::ops::RangeFrom<usize> = 28..;
}

/// A sender's session: tells apart two senders behind one address, or two runs of one sender.
///
/// It has one base everywhere: eight lowercase hex digits, in text (`Display`) and, as a
/// string, in human-readable formats such as JSON (`"session":"0000002a"`). Binary formats get
/// the number. Reading accepts the hex string or a number, so records written before (as a
/// decimal number) still load.
///
/// ```
/// use mcast_core::frame::SessionId;
/// # #[cfg(feature = "serde")] {
/// assert_eq!(serde_json::to_string(&SessionId(42)).unwrap(), r#""0000002a""#);
/// assert_eq!(serde_json::from_str::<SessionId>(r#""0000002a""#).unwrap(), SessionId(42));
/// assert_eq!(serde_json::from_str::<SessionId>("42").unwrap(), SessionId(42));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub u32);

#[cfg(feature = "serde")]
impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u32(self.0)
        }
    }
}

/// Reads the hex string [`SessionId`] writes, or a number.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Hex;

        impl serde::de::Visitor<'_> for Hex {
            type Value = SessionId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session id: up to eight hex digits, or a number")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SessionId, E> {
                u32::try_from(n)
                    .map(SessionId)
                    .map_err(|_| E::custom(format!("session id {n} does not fit 32 bits")))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SessionId, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("session id {n} is negative")))
                    .and_then(|n| self.visit_u64(n))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SessionId, E> {
                if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(E::custom(format!(
                        "session id {s:?} is not up to eight hex digits"
                    )));
                }
                u32::from_str_radix(s, 16)
                    .map(SessionId)
                    .map_err(|e| E::custom(format!("session id {s:?}: {e}")))
            }
        }

        if d.is_human_readable() {
            d.deserialize_any(Hex)
        } else {
            d.deserialize_u32(Hex)
        }
    }
}

/// ```
/// use mcast_core::frame::SessionId;
/// let id: SessionId = 0x2a.into();
/// assert_eq!(id, SessionId(42));
/// assert_eq!(id.to_string(), "0000002a");
/// assert_eq!(u32::from(id), 42);
/// ```
impl From<u32> for SessionId {
    fn from(id: u32) -> Self {
        Self(id)
    }
}

impl From<SessionId> for u32 {
    fn from(id: SessionId) -> Self {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A datagram's sequence number within its session. The first datagram of a session is
/// usually `Seq(0)`; each next one adds one.
///
/// In human-readable formats such as JSON it serializes as a decimal **string**: a sequence
/// number comes off the wire and may be anything up to 2^64-1, and JSON readers that hold
/// numbers as doubles (JavaScript, jq 1.6) would round one above 2^53. Binary formats get the
/// number.
///
/// ```
/// use mcast_core::frame::Seq;
/// # #[cfg(feature = "serde")]
/// assert_eq!(serde_json::to_string(&Seq(u64::MAX)).unwrap(), r#""18446744073709551615""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(pub u64);

#[cfg(feature = "serde")]
impl serde::Serialize for Seq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::json::u64_exact(&self.0, s)
    }
}

/// Reads a decimal string or a number ([`crate::json::u64_from_exact`]).
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Seq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::json::u64_from_exact(d).map(Self)
    }
}

impl Seq {
    /// The sequence number after this one (saturating at `u64::MAX`).
    #[inline]
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The header's flag byte. Bits without a meaning yet are kept as they are, never rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Flags(pub u8);

impl Flags {
    /// An authentication tag follows the payload.
    pub const AUTH: Self = Self(0x01);

    /// The frame ends its session (see [End of session](self#end-of-session)).
    pub const END: Self = Self(0x02);

    /// A ping probe ([`crate::ping`]): answer it.
    pub const PROBE: Self = Self(0x04);

    /// An answer to a ping probe ([`crate::ping`]).
    pub const ANSWER: Self = Self(0x08);

    /// No flag set.
    #[inline]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The raw byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` set (`on`) or cleared.
    #[inline]
    #[must_use]
    pub const fn with(self, other: Self, on: bool) -> Self {
        if on {
            Self(self.0 | other.0)
        } else {
            Self(self.0 & !other.0)
        }
    }
}

/// The union of two sets of flags.
///
/// ```
/// use mcast_core::frame::Flags;
/// let mut f = Flags::AUTH | Flags::END;
/// assert_eq!(f.bits(), 0x03);
/// assert!(f.contains(Flags::END));
/// f |= Flags::PROBE;
/// assert_eq!(f & Flags::PROBE, Flags::PROBE);
/// assert_eq!(f & Flags::ANSWER, Flags::empty());
/// ```
impl std::ops::BitOr for Flags {
    type Output = Self;

    #[inline]
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Sets the bits of the right-hand side (see [`BitOr`](std::ops::BitOr)).
impl std::ops::BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// The bits set in both (see [`BitOr`](std::ops::BitOr)).
impl std::ops::BitAnd for Flags {
    type Output = Self;

    #[inline]
    fn bitand(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
}

/// Why bytes are not a frame, or a frame cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The datagram ends before the header or the lengths it declares.
    #[error("frame truncated: need {need} bytes, got {got}")]
    Truncated {
        /// How many bytes the frame needs.
        need: usize,
        /// How many bytes there are.
        got: usize,
    },
    /// The datagram does not start with [`MAGIC`].
    #[error("not a frame: bad magic (expected 0x6dc5)")]
    BadMagic,
    /// The version byte names a layout this decoder does not know.
    #[error("unsupported frame version {0} (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    /// The datagram is longer than the header and lengths declare.
    #[error("frame length mismatch: header declares {declared} bytes, datagram has {got}")]
    LengthMismatch {
        /// `28 + payload_len + tag_len`.
        declared: usize,
        /// The datagram's length.
        got: usize,
    },
    /// A tag length is set but the `AUTH` flag is not.
    #[error("frame has a {tag_len}-byte tag but no auth flag")]
    UnexpectedTag {
        /// The declared tag length.
        tag_len: usize,
    },
    /// An end-of-session frame ([`Flags::END`]) whose payload is not the 8-byte first
    /// sequence number, or names a first sequence number beyond its end.
    #[error("bad end-of-session frame: {payload_len}-byte payload (expected 8, first <= seq)")]
    BadEndOfSession {
        /// The payload's length.
        payload_len: usize,
    },
    /// A payload or tag is too long for its 16-bit length field.
    #[error("{what} of {len} bytes is too long for a frame (at most {max})")]
    TooLong {
        /// `"payload"` or `"tag"`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
}

/// What an end-of-session frame ([`Flags::END`]) says: the stream it ends was the sequence
/// numbers `first..end`.
///
/// ```
/// use mcast_core::frame::{self, EndOfSession, Flags, FrameRepr, Seq, SessionId};
///
/// let end = EndOfSession { first: Seq(0), end: Seq(100) };
/// let payload = end.payload();
/// let repr = end.repr(SessionId(7), 1_700_000_000_000_000_000, &payload);
/// assert!(repr.flags.contains(Flags::END));
/// let mut buf = Vec::new();
/// frame::encode(&repr, &mut buf).unwrap();
/// let parsed = frame::decode(&buf).unwrap();
/// assert_eq!(EndOfSession::from_repr(&parsed), Some(Ok(end)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EndOfSession {
    /// The stream's first sequence number.
    pub first: Seq,
    /// One past the last sequence number sent (the frame's `seq` field).
    pub end: Seq,
}

impl EndOfSession {
    /// The length of an end-of-session frame's payload.
    pub const PAYLOAD_LEN: usize = 8;

    /// The payload to put in the frame: `first`, big-endian.
    pub fn payload(&self) -> [u8; 8] {
        self.first.0.to_be_bytes()
    }

    /// The frame that carries it (its payload borrowed from [`payload`](Self::payload)).
    pub fn repr<'a>(
        &self,
        session: SessionId,
        sent_at_ns: u64,
        payload: &'a [u8; 8],
    ) -> FrameRepr<'a> {
        FrameRepr {
            flags: Flags::END,
            session,
            seq: self.end,
            sent_at_ns,
            payload,
            tag: None,
        }
    }

    /// Reads it from a parsed frame: `None` when [`Flags::END`] is not set, an error when the
    /// payload is not 8 bytes or `first` lies beyond `end`.
    pub fn from_repr(repr: &FrameRepr<'_>) -> Option<Result<Self, FrameError>> {
        if !repr.flags.contains(Flags::END) {
            return None;
        }
        let bad = FrameError::BadEndOfSession {
            payload_len: repr.payload.len(),
        };
        let Ok(first) = <[u8; 8]>::try_from(repr.payload) else {
            return Some(Err(bad));
        };
        let first = Seq(u64::from_be_bytes(first));
        Some(if first <= repr.seq {
            Ok(Self {
                first,
                end: repr.seq,
            })
        } else {
            Err(bad)
        })
    }

    /// How many datagrams the stream held.
    pub fn len(&self) -> u64 {
        self.end.0.saturating_sub(self.first.0)
    }

    /// Whether the stream held no datagram.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `bytes` starts with the frame magic, so a receiver can pick frames out of raw
/// datagrams. A datagram that looks framed but fails [`decode`] is malformed.
#[inline]
pub fn looks_framed(bytes: &[u8]) -> bool {
    bytes.get(field::MAGIC) == Some(&MAGIC[..])
}

/// A read/write view of a frame in a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it. Accessors may panic on a buffer that
    /// [`check_len`](Self::check_len) rejects.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks its length, so that no accessor panics afterwards.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the header and exactly the payload and tag it declares.
    ///
    /// Magic, version and flags are not checked here; [`FrameRepr::parse`] does that.
    pub fn check_len(&self) -> Result<(), FrameError> {
        let got = self.buffer.as_ref().len();
        if got < HEADER_LEN {
            return Err(FrameError::Truncated {
                need: HEADER_LEN,
                got,
            });
        }
        let declared = self.total_len();
        if got < declared {
            Err(FrameError::Truncated {
                need: declared,
                got,
            })
        } else if got > declared {
            Err(FrameError::LengthMismatch { declared, got })
        } else {
            Ok(())
        }
    }

    /// Unwraps the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn bytes<const N: usize>(&self, range: field::Field) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.buffer.as_ref()[range]);
        out
    }

    /// The two magic bytes.
    #[inline]
    pub fn magic(&self) -> [u8; 2] {
        self.bytes(field::MAGIC)
    }

    /// The version byte.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The flag byte.
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    /// The session id.
    #[inline]
    pub fn session(&self) -> SessionId {
        SessionId(u32::from_be_bytes(self.bytes(field::SESSION)))
    }

    /// The sequence number.
    #[inline]
    pub fn seq(&self) -> Seq {
        Seq(u64::from_be_bytes(self.bytes(field::SEQ)))
    }

    /// The send timestamp, ns since the Unix epoch on the sender's clock.
    #[inline]
    pub fn sent_at_ns(&self) -> u64 {
        u64::from_be_bytes(self.bytes(field::SENT_AT))
    }

    /// The declared payload length.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::PAYLOAD_LEN))
    }

    /// The declared tag length.
    #[inline]
    pub fn tag_len(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::TAG_LEN))
    }

    /// `HEADER_LEN + payload_len + tag_len`: what the header says the frame's length is.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len()) + usize::from(self.tag_len())
    }

    #[inline]
    fn payload_range(&self) -> std::ops::Range<usize> {
        HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())
    }

    #[inline]
    fn tag_range(&self) -> std::ops::Range<usize> {
        let start = HEADER_LEN + usize::from(self.payload_len());
        start..start + usize::from(self.tag_len())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The payload, borrowed from the buffer.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let range = self.payload_range();
        &self.buffer.as_ref()[range]
    }

    /// The tag bytes (empty when the tag length is 0), borrowed from the buffer.
    #[inline]
    pub fn tag(&self) -> &'a [u8] {
        let range = self.tag_range();
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline]
    fn field_mut(&mut self, range: field::Field) -> &mut [u8] {
        &mut self.buffer.as_mut()[range]
    }

    /// Writes the magic bytes.
    #[inline]
    pub fn set_magic(&mut self) {
        self.field_mut(field::MAGIC).copy_from_slice(&MAGIC);
    }

    /// Writes the version byte.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        self.buffer.as_mut()[field::VERSION] = version;
    }

    /// Writes the flag byte.
    #[inline]
    pub fn set_flags(&mut self, flags: Flags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    /// Writes the session id.
    #[inline]
    pub fn set_session(&mut self, session: SessionId) {
        self.field_mut(field::SESSION)
            .copy_from_slice(&session.0.to_be_bytes());
    }

    /// Writes the sequence number.
    #[inline]
    pub fn set_seq(&mut self, seq: Seq) {
        self.field_mut(field::SEQ)
            .copy_from_slice(&seq.0.to_be_bytes());
    }

    /// Writes the send timestamp.
    #[inline]
    pub fn set_sent_at_ns(&mut self, ns: u64) {
        self.field_mut(field::SENT_AT)
            .copy_from_slice(&ns.to_be_bytes());
    }

    /// Writes the payload length field.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        self.field_mut(field::PAYLOAD_LEN)
            .copy_from_slice(&len.to_be_bytes());
    }

    /// Writes the tag length field.
    #[inline]
    pub fn set_tag_len(&mut self, len: u16) {
        self.field_mut(field::TAG_LEN)
            .copy_from_slice(&len.to_be_bytes());
    }

    /// The payload, mutably (its length comes from the payload length field).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }

    /// The tag, mutably (its length comes from the tag length field).
    #[inline]
    pub fn tag_mut(&mut self) -> &mut [u8] {
        let range = self.tag_range();
        &mut self.buffer.as_mut()[range]
    }
}

/// A parsed frame: the header's values and the payload and tag, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    /// The flag bits other than [`Flags::AUTH`], kept as received. `AUTH` itself is implied by
    /// `tag`: [`parse`](Self::parse) clears it here and [`emit`](Self::emit) sets it exactly when
    /// `tag` is `Some`.
    pub flags: Flags,
    /// The sender's session.
    pub session: SessionId,
    /// The sequence number.
    pub seq: Seq,
    /// The sender's wall clock at send time, ns since the Unix epoch.
    pub sent_at_ns: u64,
    /// The application's bytes.
    pub payload: &'a [u8],
    /// The authentication tag, when the `AUTH` flag is set.
    pub tag: Option<&'a [u8]>,
}

impl<'a> FrameRepr<'a> {
    /// Parses a checked frame: magic, version, and the tag against the `AUTH` flag.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&'a T>) -> Result<Self, FrameError> {
        frame.check_len()?;
        if frame.magic() != MAGIC {
            return Err(FrameError::BadMagic);
        }
        if frame.version() != VERSION {
            return Err(FrameError::UnsupportedVersion(frame.version()));
        }
        let flags = frame.flags();
        let auth = flags.contains(Flags::AUTH);
        let tag = if auth {
            Some(frame.tag())
        } else if frame.tag_len() != 0 {
            return Err(FrameError::UnexpectedTag {
                tag_len: usize::from(frame.tag_len()),
            });
        } else {
            None
        };
        Ok(Self {
            flags: flags.with(Flags::AUTH, false),
            session: frame.session(),
            seq: frame.seq(),
            sent_at_ns: frame.sent_at_ns(),
            payload: frame.payload(),
            tag,
        })
    }

    /// The exact length of the emitted frame.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len() + self.tag.map_or(0, <[u8]>::len)
    }

    /// Checks that the payload and tag fit their length fields.
    pub fn check_lengths(&self) -> Result<(), FrameError> {
        if self.payload.len() > MAX_PAYLOAD_LEN {
            return Err(FrameError::TooLong {
                what: "payload",
                len: self.payload.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        match self.tag {
            Some(tag) if tag.len() > MAX_TAG_LEN => Err(FrameError::TooLong {
                what: "tag",
                len: tag.len(),
                max: MAX_TAG_LEN,
            }),
            _ => Ok(()),
        }
    }

    /// Writes the frame into the first [`buffer_len`](Self::buffer_len) bytes of `frame`'s
    /// buffer. Fails without writing when the buffer is too short or a length does not fit.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        frame: &mut Frame<T>,
    ) -> Result<(), FrameError> {
        self.check_lengths()?;
        let need = self.buffer_len();
        let got = frame.buffer.as_ref().len();
        if got < need {
            return Err(FrameError::Truncated { need, got });
        }
        let tag = self.tag.unwrap_or_default();
        // Both conversions hold: `check_lengths` bounded the lengths by `u16::MAX`.
        let payload_len = u16::try_from(self.payload.len()).unwrap_or(u16::MAX);
        let tag_len = u16::try_from(tag.len()).unwrap_or(u16::MAX);
        frame.set_magic();
        frame.set_version(VERSION);
        frame.set_flags(self.flags.with(Flags::AUTH, self.tag.is_some()));
        frame.set_session(self.session);
        frame.set_seq(self.seq);
        frame.set_sent_at_ns(self.sent_at_ns);
        frame.set_payload_len(payload_len);
        frame.set_tag_len(tag_len);
        frame.payload_mut().copy_from_slice(self.payload);
        frame.tag_mut().copy_from_slice(tag);
        Ok(())
    }
}

/// Parses a whole datagram as a frame. Never allocates, never panics, never reads past `bytes`.
///
/// The magic is checked before the length, so bytes that are not a frame at all give
/// [`FrameError::BadMagic`] rather than a length error.
#[inline]
pub fn decode(bytes: &[u8]) -> Result<FrameRepr<'_>, FrameError> {
    if bytes.len() >= MAGIC.len() && !looks_framed(bytes) {
        return Err(FrameError::BadMagic);
    }
    FrameRepr::parse(&Frame::new_unchecked(bytes))
}

/// Appends the frame for `repr` to `buf` and returns its length. On error `buf` is unchanged.
pub fn encode(repr: &FrameRepr<'_>, buf: &mut Vec<u8>) -> Result<usize, FrameError> {
    repr.check_lengths()?;
    let start = buf.len();
    let len = repr.buffer_len();
    buf.resize(start + len, 0);
    let result = repr.emit(&mut Frame::new_unchecked(&mut buf[start..]));
    if result.is_err() {
        buf.truncate(start);
    }
    result.map(|()| len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOLDEN: [u8; 35] = [
        0x6d, 0xc5, // magic
        0x01, // version
        0x81, // flags: AUTH and an unknown high bit
        0x00, 0x00, 0x00, 0x2a, // session 42
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, // seq 258
        0x17, 0x9b, 0x5f, 0x3e, 0x4a, 0x00, 0x00, 0x00, // sent_at_ns
        0x00, 0x03, // payload_len 3
        0x00, 0x04, // tag_len 4
        b'a', b'b', b'c', // payload
        0xde, 0xad, 0xbe, 0xef, // tag
    ];

    fn golden_repr() -> FrameRepr<'static> {
        FrameRepr {
            flags: Flags(0x80),
            session: SessionId(42),
            seq: Seq(258),
            sent_at_ns: 0x179b_5f3e_4a00_0000,
            payload: b"abc",
            tag: Some(&[0xde, 0xad, 0xbe, 0xef]),
        }
    }

    #[test]
    fn golden_bytes_decode() {
        assert_eq!(decode(&GOLDEN), Ok(golden_repr()));
        let frame = Frame::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(frame.flags(), Flags(0x81));
        assert_eq!(frame.payload_len(), 3);
        assert_eq!(frame.tag_len(), 4);
        assert_eq!(frame.total_len(), GOLDEN.len());
    }

    #[test]
    fn golden_bytes_encode() {
        let mut buf = vec![0xee];
        let n = encode(&golden_repr(), &mut buf).unwrap();
        assert_eq!(n, GOLDEN.len());
        assert_eq!(buf[0], 0xee, "encode appends");
        assert_eq!(&buf[1..], &GOLDEN[..]);
    }

    #[test]
    fn header_is_28_bytes() {
        assert_eq!(HEADER_LEN, 28);
        let repr = FrameRepr {
            payload: b"",
            tag: None,
            ..golden_repr()
        };
        assert_eq!(repr.buffer_len(), 28);
    }

    #[test]
    fn construct_over_a5_buffer() {
        let repr = golden_repr();
        let mut bytes = vec![0xa5; repr.buffer_len()];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        repr.emit(&mut frame).unwrap();
        assert_eq!(&bytes[..], &GOLDEN[..]);
    }

    #[test]
    fn emit_leaves_bytes_past_buffer_len_alone() {
        let repr = golden_repr();
        let mut bytes = vec![0xa5; repr.buffer_len() + 3];
        repr.emit(&mut Frame::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(&bytes[..GOLDEN.len()], &GOLDEN[..]);
        assert_eq!(&bytes[GOLDEN.len()..], &[0xa5; 3]);
    }

    #[test]
    fn emit_into_short_buffer_is_an_error() {
        let repr = golden_repr();
        let mut bytes = vec![0xa5; repr.buffer_len() - 1];
        assert_eq!(
            repr.emit(&mut Frame::new_unchecked(&mut bytes[..])),
            Err(FrameError::Truncated {
                need: GOLDEN.len(),
                got: GOLDEN.len() - 1
            })
        );
        assert!(bytes.iter().all(|&b| b == 0xa5), "nothing written");
    }

    #[test]
    fn too_long_payload_is_an_error() {
        let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        let repr = FrameRepr {
            payload: &big,
            ..golden_repr()
        };
        let mut buf = Vec::new();
        assert!(matches!(
            encode(&repr, &mut buf),
            Err(FrameError::TooLong {
                what: "payload",
                ..
            })
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        for len in 0..GOLDEN.len() {
            let err = decode(&GOLDEN[..len]).unwrap_err();
            match len {
                0..=27 => assert_eq!(err, FrameError::Truncated { need: 28, got: len }),
                _ => assert_eq!(
                    err,
                    FrameError::Truncated {
                        need: GOLDEN.len(),
                        got: len
                    }
                ),
            }
            assert!(Frame::new_checked(&GOLDEN[..len]).is_err());
        }
    }

    #[test]
    fn trailing_bytes_are_a_length_mismatch() {
        let mut long = GOLDEN.to_vec();
        long.push(0);
        assert_eq!(
            decode(&long),
            Err(FrameError::LengthMismatch {
                declared: GOLDEN.len(),
                got: GOLDEN.len() + 1
            })
        );
    }

    #[test]
    fn bad_magic_version_and_tag() {
        let mut b = GOLDEN;
        b[1] = 0;
        assert_eq!(decode(&b), Err(FrameError::BadMagic));
        assert_eq!(
            decode(b"x"),
            Err(FrameError::Truncated { need: 28, got: 1 })
        );
        assert_eq!(decode(b"hello"), Err(FrameError::BadMagic));
        let mut b = GOLDEN;
        b[2] = 2;
        assert_eq!(decode(&b), Err(FrameError::UnsupportedVersion(2)));
        let mut b = GOLDEN;
        b[3] = 0x80; // tag present but no AUTH flag
        assert_eq!(decode(&b), Err(FrameError::UnexpectedTag { tag_len: 4 }));
    }

    #[test]
    fn text_never_looks_framed() {
        assert!(!looks_framed(b"hello"));
        assert!(!looks_framed("m\u{c5}".as_bytes()));
        assert!(!looks_framed(b"m"));
        assert!(looks_framed(&MAGIC));
    }

    #[test]
    fn errors_read_as_one_lowercase_line() {
        let e = FrameError::Truncated { need: 28, got: 3 };
        assert_eq!(e.to_string(), "frame truncated: need 28 bytes, got 3");
        assert_eq!(
            FrameError::UnsupportedVersion(9).to_string(),
            "unsupported frame version 9 (this build reads version 1)"
        );
    }

    proptest! {
        #[test]
        fn round_trip(
            flags in any::<u8>(),
            session in any::<u32>(),
            seq in any::<u64>(),
            sent_at_ns in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            tag in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        ) {
            let repr = FrameRepr {
                flags: Flags(flags).with(Flags::AUTH, false),
                session: SessionId(session),
                seq: Seq(seq),
                sent_at_ns,
                payload: &payload,
                tag: tag.as_deref(),
            };
            let mut buf = Vec::new();
            let n = encode(&repr, &mut buf).unwrap();
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(n, repr.buffer_len());
            prop_assert!(looks_framed(&buf));
            prop_assert_eq!(decode(&buf), Ok(repr));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(&bytes);
            if let Ok(frame) = Frame::new_checked(&bytes[..]) {
                // After new_checked, every accessor is safe.
                let _ = (frame.magic(), frame.version(), frame.flags(), frame.session(),
                         frame.seq(), frame.sent_at_ns(), frame.payload(), frame.tag());
            }
        }

        #[test]
        fn decode_of_framed_prefix_never_panics(
            rest in proptest::collection::vec(any::<u8>(), 0..60),
        ) {
            let mut bytes = vec![0x6d, 0xc5, 0x01];
            bytes.extend_from_slice(&rest);
            if let Ok(repr) = decode(&bytes) {
                prop_assert_eq!(repr.buffer_len(), bytes.len());
            }
        }
    }
}
