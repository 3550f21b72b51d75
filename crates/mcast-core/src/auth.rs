//! Authenticated frames: a keyed MAC over each frame's header and payload, carried in the
//! frame's tag room, and a sliding replay window per sender session, as IPsec's ESP does.
//!
//! The module's verdicts, counters and replay window are always built; the keys and the MAC
//! ([`Key`], [`Authenticator`] and the configurations' `key` fields) need the `auth` feature
//! (on by default), which brings `hmac` and `sha2`. Without it no key can be configured, so
//! no datagram is ever [rejected](Rejection) and every `auth` statistic stays `None`.
//!
//! Authentication is off unless a [`Key`] is configured
//! ([`SenderConfig::key`](crate::session::SenderConfig::key),
//! [`ReceiverConfig::key`](crate::session::ReceiverConfig::key),
//! [`PingConfig::key`](crate::ping::PingConfig::key)): plain frames and raw datagrams stay the
//! default, so the tool keeps talking to plain socket programs.
//!
//! # The tag
//!
//! An authenticated frame has [`Flags::AUTH`] set, `tag_len` = [`TAG_LEN`] (16), and the tag
//! after the payload (see the byte table in [`frame`]):
//!
//! ```text
//! tag = first 16 bytes of HMAC-SHA256(key, frame[0 .. 28 + payload_len])
//! ```
//!
//! The tag covers every byte before it: magic, version, flags (`AUTH` included), session,
//! sequence number, send time, both length fields and the payload. A frame whose tag was cut
//! short and whose `tag_len` was patched to match no longer verifies, because `tag_len` is
//! covered; a receiver with a key also refuses any tag shorter than 16 bytes outright
//! ([`Rejection::Truncated`]). This is HMAC-SHA-256-128, the truncation IPsec uses (RFC 4868):
//! 128 bits leave a forger a 2^-128 chance per try. The key is [`KEY_LEN`] (32) bytes, the
//! length RFC 4868 asks for.
//!
//! Any language's standard library computes the tag (Python: `hmac.new(key, frame,
//! hashlib.sha256).digest()[:16]`), so a plain program can send and check authenticated
//! frames too.
//!
//! ## Why HMAC-SHA256 rather than keyed BLAKE3
//!
//! Both are sound MACs whose output may be truncated. Measured once on this project's 2-core
//! AMD EPYC (which has the SHA extensions), one tag over a whole frame, key schedule
//! precomputed (`cargo bench -p mcast-bench --bench codec -- auth_len` measures the
//! HMAC-SHA256 side, as signed and verified here):
//!
//! | frame  | HMAC-SHA256 (`hmac` + `sha2`) | keyed BLAKE3 (`blake3`) |
//! |-------:|------------------------------:|------------------------:|
//! | 64 B   | 192 ns                        | 87 ns                   |
//! | 1000 B | 850 ns                        | 1461 ns                 |
//! | 1400 B | 1336 ns                       | 2110 ns                 |
//!
//! BLAKE3 wins on tiny frames; its SIMD speed needs inputs of several 1 KiB chunks, which a
//! datagram is not, so HMAC-SHA256 wins from a few hundred bytes on (the default `mcast perf`
//! datagram is 1000 bytes). On a CPU without SHA instructions HMAC-SHA256 is about three
//! times slower and BLAKE3 would win throughout. What decided it: HMAC-SHA256 is the standard
//! (RFC 2104, RFC 4868, FIPS 198-1) that every language's standard library has, for the plain
//! programs this tool talks to; RustCrypto's `hmac` compares tags in constant time
//! (`verify_truncated_left`); and `hmac` + `sha2` are pure Rust, while `blake3` compiles C
//! and assembly. `cargo xtask perf` measures the cost end to end (BENCHMARKS.md).
//!
//! # What a receiver with a key drops
//!
//! A receiver with a key verifies every datagram before it touches any statistics, and drops
//! and counts ([`AuthStats`]) each one that fails, by name ([`Rejection`]):
//!
//! | verdict | the datagram |
//! |---|---|
//! | [`unauthenticated`](Rejection::Unauthenticated) | has no tag: a raw datagram, or a frame without the `AUTH` flag |
//! | [`truncated`](Rejection::Truncated) | is cut short: shorter than the header, than the lengths it declares, or with a tag shorter than 16 bytes |
//! | [`forged`](Rejection::Forged) | has a tag that does not verify, and names a (source, session) from which no frame has been authenticated: made by someone without the key |
//! | [`tampered`](Rejection::Tampered) | has a tag that does not verify, and names a (source, session) whose frames have been authenticated: a genuine frame changed on the way, or an impostor of a known sender |
//! | [`replayed`](Rejection::Replayed) | has a valid tag, but its sequence number was already accepted or lies left of the session's replay window, or its send time is further from the receiver's clock than the receiver's `max_delay` |
//!
//! Forged and tampered frames cannot be told apart by their bytes (both fail the same
//! check); what tells them apart is whether the stream they claim is one this receiver has
//! authenticated: the answer to "is someone interfering with a stream I am receiving?".
//! Since the tag is checked before the replay window, every replay costs one MAC; a replay
//! is only called so when its tag is valid.
//!
//! # The replay window
//!
//! Each sender session has a [`ReplayWindow`]: a bitmap of the last [`DEFAULT_REPLAY_WINDOW`]
//! (4096) sequence numbers below the highest accepted (RFC 4303, section 3.4.3), kept the way
//! RFC 6479 keeps it: a ring of 64-bit words with one spare word, so that sliding the window
//! clears whole words and never shifts bits. A sequence number above the highest slides the
//! window; one inside it is accepted once; one left of it is a replay. IPsec's default window
//! is 32 to 64 packets, for unicast tunnels at a few thousand packets a second; a multicast
//! receiver may see a sender at a million datagrams a second, reordered by a switch or by the
//! receiver's own queues, so the window is 4096 (4 ms at that rate; 520 bytes per session).
//!
//! Under a key a network duplicate is indistinguishable from a replay: it is counted as
//! replayed and dropped (so [`StreamStats::duplicates`](crate::session::StreamStats::duplicates)
//! stays 0). End-of-session frames are verified but stay outside the window: a sender repeats
//! its end frame with the same sequence number, and a repeat changes nothing.
//!
//! A receiver remembers a window only while it runs (and while the session stays within
//! `max_streams`). The signed send time bounds what it cannot remember: a frame sent further
//! than `max_delay` (one hour by default) from the receiver's wall clock is a replay, so a
//! recording can be replayed into a freshly started receiver for an hour at most, and only when
//! the two clocks agree that closely is authenticated traffic accepted at all.
//!
//! # Key files
//!
//! A key travels as text: [`KEY_HEX_LEN`] (64) hex digits, upper or lower case, optionally
//! followed by one line end (`\n` or `\r\n`), and nothing else ([`Key::from_hex`],
//! [`Key::to_hex`]).
//!
//! ```
//! use mcast_core::auth::{Authenticator, Key, Rejection, ReplayWindow, VerifyError};
//! use mcast_core::frame::{self, Flags, FrameRepr, Seq, SessionId};
//!
//! let key: Key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
//!     .parse()
//!     .unwrap();
//! let auth = Authenticator::new(&key);
//! let repr = FrameRepr {
//!     flags: Flags::empty(),
//!     session: SessionId(7),
//!     seq: Seq(1),
//!     sent_at_ns: 1_700_000_000_000_000_000,
//!     payload: b"hello",
//!     tag: None,
//! };
//! let mut buf = Vec::new();
//! auth.encode(&repr, &mut buf).unwrap();
//! assert_eq!(buf.len(), frame::HEADER_LEN + 5 + 16);
//! assert_eq!(auth.verify(&buf), Ok(()));
//! assert!(frame::decode(&buf).unwrap().tag.is_some());
//!
//! // One changed payload byte, and the tag no longer verifies.
//! buf[frame::HEADER_LEN] ^= 1;
//! assert_eq!(auth.verify(&buf), Err(VerifyError::Mismatch));
//!
//! // Each sequence number once.
//! let mut window = ReplayWindow::default();
//! assert_eq!(window.accept(Seq(1)), Ok(()));
//! assert!(window.accept(Seq(1)).is_err());
//! ```

use std::fmt;
#[cfg(feature = "auth")]
use std::str::FromStr;

#[cfg(feature = "auth")]
use hmac::{Hmac, KeyInit as _, Mac as _};
#[cfg(feature = "auth")]
use sha2::Sha256;

#[cfg(feature = "auth")]
use crate::frame::{self, Flags, Frame, FrameError, FrameRepr, Seq, HEADER_LEN};
#[cfg(not(feature = "auth"))]
use crate::frame::{FrameError, FrameRepr, Seq};

/// The length of a key in bytes.
#[cfg(feature = "auth")]
pub const KEY_LEN: usize = 32;

/// The length of a key as text: two hex digits per byte.
#[cfg(feature = "auth")]
pub const KEY_HEX_LEN: usize = 2 * KEY_LEN;

/// The length of the tag an authenticated frame carries: HMAC-SHA256 truncated to 128 bits.
pub const TAG_LEN: usize = 16;

/// The default size of a session's replay window, in sequence numbers.
pub const DEFAULT_REPLAY_WINDOW: u64 = 4096;

/// A secret key shared by the senders and receivers of a group: [`KEY_LEN`] bytes.
///
/// Its `Debug` output does not show the key.
#[derive(Clone, PartialEq, Eq)]
#[cfg(feature = "auth")]
pub struct Key([u8; KEY_LEN]);

#[cfg(feature = "auth")]
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Why bytes are not a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[cfg(feature = "auth")]
pub enum KeyError {
    /// The text is not [`KEY_HEX_LEN`] characters long (after one optional line end).
    #[error("a key is {KEY_HEX_LEN} hex digits ({KEY_LEN} bytes), but this is {len} bytes long")]
    Length {
        /// How long the text is, without its line end.
        len: usize,
    },
    /// A character is not a hex digit.
    #[error("a key is {KEY_HEX_LEN} hex digits, but byte {at} is {byte:#04x}, not a hex digit")]
    NotHex {
        /// Its position, from 0.
        at: usize,
        /// The byte.
        byte: u8,
    },
}

#[cfg(feature = "auth")]
impl Key {
    /// The key of these bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Reads a key from its text form (a key file's contents): exactly [`KEY_HEX_LEN`] hex
    /// digits, either case, optionally followed by one `\n` or `\r\n`. Nothing else is
    /// accepted: no spaces, no second line, no raw bytes.
    ///
    /// ```
    /// use mcast_core::auth::{Key, KeyError};
    ///
    /// let hex = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n";
    /// let key = Key::from_hex(hex.as_bytes()).unwrap();
    /// assert_eq!(key.as_bytes()[10], 0xaa);
    /// assert_eq!(Key::from_hex(b"0011"), Err(KeyError::Length { len: 4 }));
    /// ```
    pub fn from_hex(text: &[u8]) -> Result<Self, KeyError> {
        let text = text
            .strip_suffix(b"\r\n")
            .or_else(|| text.strip_suffix(b"\n"))
            .unwrap_or(text);
        if text.len() != KEY_HEX_LEN {
            return Err(KeyError::Length { len: text.len() });
        }
        let digit = |at: usize| {
            let byte = text[at];
            char::from(byte)
                .to_digit(16)
                // A hex digit is below 16.
                .map(|d| d as u8)
                .ok_or(KeyError::NotHex { at, byte })
        };
        let mut bytes = [0; KEY_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
        }
        Ok(Self(bytes))
    }

    /// The key as [`KEY_HEX_LEN`] lowercase hex digits (no line end): what a key file holds.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(KEY_HEX_LEN);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

#[cfg(feature = "auth")]
impl FromStr for Key {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s.as_bytes())
    }
}

/// Why a datagram does not verify ([`Authenticator::verify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// It has no tag: no frame magic (a raw datagram, or one shorter than the magic), or no
    /// [`Flags::AUTH`].
    #[error("no authentication tag")]
    Unauthenticated,
    /// It is cut short: shorter than the header or than its declared lengths, or its tag is
    /// shorter than [`TAG_LEN`].
    #[error("frame or tag cut short")]
    Truncated,
    /// The tag is not the one the key gives for these bytes (or is longer than
    /// [`TAG_LEN`], or bytes follow it).
    #[error("the tag does not verify")]
    Mismatch,
}

/// Computes and checks tags with one [`Key`]. Cheap to clone: the key's HMAC state is
/// computed once, in [`new`](Self::new).
#[derive(Clone)]
#[cfg(feature = "auth")]
pub struct Authenticator {
    mac: Hmac<Sha256>,
}

#[cfg(feature = "auth")]
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

#[cfg(feature = "auth")]
impl Authenticator {
    /// The authenticator for `key`.
    pub fn new(key: &Key) -> Self {
        Self {
            // HMAC takes a key of any length; 32 bytes is well within it.
            mac: Hmac::<Sha256>::new_from_slice(key.as_bytes())
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// The [`TAG_LEN`]-byte tag of `covered` (a frame's bytes before its tag).
    pub fn tag(&self, covered: &[u8]) -> [u8; TAG_LEN] {
        let full = self
            .mac
            .clone()
            .chain_update(covered)
            .finalize()
            .into_bytes();
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// Appends the authenticated frame for `repr` to `buf`: `repr` with [`Flags::AUTH`] and a
    /// [`TAG_LEN`]-byte tag (`repr.tag` is ignored). Returns its length; on error `buf` is
    /// unchanged.
    pub fn encode(&self, repr: &FrameRepr<'_>, buf: &mut Vec<u8>) -> Result<usize, FrameError> {
        let start = buf.len();
        let room = [0; TAG_LEN];
        let len = frame::encode(
            &FrameRepr {
                tag: Some(&room),
                ..*repr
            },
            buf,
        )?;
        let covered = buf.len() - TAG_LEN;
        let tag = self.tag(&buf[start..covered]);
        buf[covered..].copy_from_slice(&tag);
        Ok(len)
    }

    /// Writes the tag of a frame that was emitted with [`Flags::AUTH`] and a [`TAG_LEN`]-byte
    /// tag room (whatever the room holds is overwritten).
    ///
    /// # Errors
    ///
    /// [`FrameError`] when `frame` is not exactly one frame, or its tag room is not
    /// [`TAG_LEN`] bytes under the `AUTH` flag ([`FrameError::Truncated`] then).
    pub fn seal(&self, frame: &mut [u8]) -> Result<(), FrameError> {
        let view = Frame::new_checked(&*frame)?;
        if !view.flags().contains(Flags::AUTH) || usize::from(view.tag_len()) != TAG_LEN {
            return Err(FrameError::Truncated {
                need: HEADER_LEN + usize::from(view.payload_len()) + TAG_LEN,
                got: frame.len(),
            });
        }
        let covered = frame.len() - TAG_LEN;
        let tag = self.tag(&frame[..covered]);
        frame[covered..].copy_from_slice(&tag);
        Ok(())
    }

    /// Checks that `datagram` is one authenticated frame whose tag this key gives, comparing
    /// tags in constant time. The frame's other fields are not checked here (its version, an
    /// end-of-session payload): [`frame::decode`] does that.
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] that tells why not, checked in this order: no magic, or no `AUTH`
    /// flag ([`Unauthenticated`](VerifyError::Unauthenticated)); shorter than the header or the
    /// declared lengths, or a tag shorter than [`TAG_LEN`]
    /// ([`Truncated`](VerifyError::Truncated)); a longer tag, bytes after the tag, or a tag
    /// that is not this key's ([`Mismatch`](VerifyError::Mismatch)).
    pub fn verify(&self, datagram: &[u8]) -> Result<(), VerifyError> {
        if !frame::looks_framed(datagram) {
            return Err(VerifyError::Unauthenticated);
        }
        if datagram.len() < HEADER_LEN {
            // The flag byte is at offset 3: readable once four bytes are there.
            return Err(match datagram.get(3) {
                Some(&flags) if !Flags(flags).contains(Flags::AUTH) => VerifyError::Unauthenticated,
                _ => VerifyError::Truncated,
            });
        }
        let view = Frame::new_unchecked(datagram);
        if !view.flags().contains(Flags::AUTH) {
            return Err(VerifyError::Unauthenticated);
        }
        let declared = view.total_len();
        let tag_len = usize::from(view.tag_len());
        if datagram.len() < declared || tag_len < TAG_LEN {
            return Err(VerifyError::Truncated);
        }
        if datagram.len() > declared || tag_len > TAG_LEN {
            return Err(VerifyError::Mismatch);
        }
        let covered = declared - TAG_LEN;
        self.mac
            .clone()
            .chain_update(&datagram[..covered])
            .verify_truncated_left(&datagram[covered..])
            .map_err(|_| VerifyError::Mismatch)
    }
}

/// Without the `auth` feature no key exists, so no authenticator does: this uninhabited
/// stand-in lets the sessions keep one code path (`Option<Authenticator>` is always `None`).
#[cfg(not(feature = "auth"))]
#[derive(Debug, Clone)]
pub(crate) enum Authenticator {}

#[cfg(not(feature = "auth"))]
impl Authenticator {
    pub(crate) fn encode(&self, _: &FrameRepr<'_>, _: &mut Vec<u8>) -> Result<usize, FrameError> {
        match *self {}
    }

    pub(crate) fn verify(&self, _: &[u8]) -> Result<(), VerifyError> {
        match *self {}
    }
}

/// Why a receiver with a key dropped a datagram (see [the table](self#what-a-receiver-with-a-key-drops)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Rejection {
    /// No tag: a raw datagram, or a frame without [`Flags::AUTH`].
    Unauthenticated,
    /// Cut short: the frame, or its tag.
    Truncated,
    /// A tag that does not verify, for a stream never authenticated.
    Forged,
    /// A tag that does not verify, for a stream already authenticated.
    Tampered,
    /// A valid tag, but a sequence number already accepted or left of the replay window, or a
    /// send time too far from the receiver's clock.
    Replayed,
}

impl Rejection {
    /// The verdict's name, as in JSON: `unauthenticated`, `truncated`, `forged`, `tampered`,
    /// `replayed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Truncated => "truncated",
            Self::Forged => "forged",
            Self::Tampered => "tampered",
            Self::Replayed => "replayed",
        }
    }

    /// The verdict for a datagram that failed [`Authenticator::verify`] with `error`, given
    /// whether the (source, session) it names has been authenticated before (`known`).
    pub const fn of(error: VerifyError, known: bool) -> Self {
        match error {
            VerifyError::Unauthenticated => Self::Unauthenticated,
            VerifyError::Truncated => Self::Truncated,
            VerifyError::Mismatch if known => Self::Tampered,
            VerifyError::Mismatch => Self::Forged,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a receiver with a key let through and dropped, by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AuthStats {
    /// Datagrams whose tag verified and that were not replays (end-of-session frames
    /// included).
    pub authenticated: u64,
    /// Dropped: no tag.
    pub unauthenticated: u64,
    /// Dropped: cut short.
    pub truncated: u64,
    /// Dropped: a bad tag for a stream never authenticated.
    pub forged: u64,
    /// Dropped: a bad tag for a stream already authenticated.
    pub tampered: u64,
    /// Dropped: a valid tag, but a replay.
    pub replayed: u64,
}

impl AuthStats {
    /// Counts one dropped datagram.
    pub fn count(&mut self, rejection: Rejection) {
        let counter = match rejection {
            Rejection::Unauthenticated => &mut self.unauthenticated,
            Rejection::Truncated => &mut self.truncated,
            Rejection::Forged => &mut self.forged,
            Rejection::Tampered => &mut self.tampered,
            Rejection::Replayed => &mut self.replayed,
        };
        *counter = counter.saturating_add(1);
    }

    /// Every datagram dropped.
    pub fn dropped(&self) -> u64 {
        [
            self.unauthenticated,
            self.truncated,
            self.forged,
            self.tampered,
            self.replayed,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// Why [`ReplayWindow`] refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Replay {
    /// It was accepted before.
    #[error("sequence number already accepted")]
    Seen,
    /// It lies left of the window: too old to tell, so refused.
    #[error("sequence number left of the replay window")]
    TooOld,
}

/// A sliding anti-replay window over one sender session's sequence numbers (RFC 4303 section
/// 3.4.3, with RFC 6479's bitmap).
///
/// It remembers which of the [`size`](Self::size) sequence numbers ending at the highest
/// accepted have been accepted. The bits live in a ring of `size / 64 + 1` words, word
/// `(seq / 64) % words`: the one spare word lets the window slide by clearing the words that
/// come into it, never shifting bits, and keeps the oldest and the newest word of the window
/// apart.
///
/// ```
/// use mcast_core::auth::{Replay, ReplayWindow};
/// use mcast_core::frame::Seq;
///
/// let mut w = ReplayWindow::new(64);
/// assert_eq!(w.accept(Seq(100)), Ok(()));
/// assert_eq!(w.accept(Seq(98)), Ok(()), "late, inside the window");
/// assert_eq!(w.accept(Seq(98)), Err(Replay::Seen));
/// assert_eq!(w.accept(Seq(36)), Err(Replay::TooOld), "64 below the highest");
/// assert_eq!(w.check(Seq(37)), Ok(()), "the oldest number inside the window");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    bits: Box<[u64]>,
    size: u64,
    /// The highest sequence number accepted; `None` before the first.
    top: Option<u64>,
}

impl Default for ReplayWindow {
    /// A window of [`DEFAULT_REPLAY_WINDOW`].
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_WINDOW)
    }
}

impl ReplayWindow {
    /// The largest window: 2^24 sequence numbers (2 MiB of bits).
    pub const MAX: u64 = 1 << 24;

    /// An empty window of `size` sequence numbers, rounded up to a multiple of 64 and kept
    /// within `64..=`[`MAX`](Self::MAX).
    pub fn new(size: u64) -> Self {
        let blocks = size.clamp(64, Self::MAX).div_ceil(64);
        Self {
            // At most 2^18 + 1 words: the conversion cannot fail on any platform Rust supports.
            bits: vec![0; usize::try_from(blocks + 1).unwrap_or(1 << 10)].into_boxed_slice(),
            size: blocks * 64,
            top: None,
        }
    }

    /// How many sequence numbers the window spans (the highest accepted and those below it).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest sequence number accepted so far.
    pub fn highest(&self) -> Option<Seq> {
        self.top.map(Seq)
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let words = self.bits.len() as u64;
        // The index is below `bits.len()`, so it fits.
        (((seq / 64) % words) as usize, 1 << (seq % 64))
    }

    /// Whether `seq` would be accepted, without recording it.
    ///
    /// # Errors
    ///
    /// [`Replay::Seen`] when it was accepted before, [`Replay::TooOld`] when it lies
    /// [`size`](Self::size) or more below the highest accepted.
    pub fn check(&self, seq: Seq) -> Result<(), Replay> {
        let Some(top) = self.top else {
            return Ok(());
        };
        let seq = seq.0;
        if seq > top {
            return Ok(());
        }
        if top - seq >= self.size {
            return Err(Replay::TooOld);
        }
        let (w, m) = self.slot(seq);
        if self.bits.get(w).is_some_and(|word| word & m != 0) {
            Err(Replay::Seen)
        } else {
            Ok(())
        }
    }

    /// Accepts `seq` if [`check`](Self::check) allows it, and records it; a number above the
    /// highest slides the window up to it.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); nothing changes then.
    pub fn accept(&mut self, seq: Seq) -> Result<(), Replay> {
        self.check(seq)?;
        let s = seq.0;
        match self.top {
            Some(top) if s > top => {
                // Clear the words that enter the window: those after the highest's, up to
                // and including the new one's (all of them after a long jump).
                let words = self.bits.len() as u64;
                let (from, to) = (top / 64 + 1, s / 64);
                if to - from.min(to) >= words {
                    self.bits.fill(0);
                } else {
                    for block in from..=to {
                        let (w, _) = self.slot(block * 64);
                        self.bits[w] = 0;
                    }
                }
                self.top = Some(s);
            }
            Some(_) => {}
            None => self.top = Some(s),
        }
        let (w, m) = self.slot(s);
        self.bits[w] |= m;
        Ok(())
    }
}

#[cfg(all(test, feature = "auth"))]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::frame::SessionId;

    fn key() -> Key {
        Key::from_bytes(std::array::from_fn(|i| i as u8))
    }

    fn repr(payload: &[u8]) -> FrameRepr<'_> {
        FrameRepr {
            flags: Flags::empty(),
            session: SessionId(0x0102_0304),
            seq: Seq(42),
            sent_at_ns: 1_700_000_000_000_000_000,
            payload,
            tag: None,
        }
    }

    // RFC 4231 test case 2: the MAC is HMAC-SHA256, truncated to its first 16 bytes (RFC 4868).
    #[test]
    fn tags_are_truncated_hmac_sha256() {
        let auth = Authenticator::new(&key());
        let mut jefe = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        jefe.update(b"what do ya want for nothing?");
        let full = jefe.finalize().into_bytes();
        assert_eq!(
            full[..16],
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7
            ]
        );
        // The frame's tag is that MAC over everything before the tag.
        let mut buf = Vec::new();
        auth.encode(&repr(b"abc"), &mut buf).unwrap();
        let covered = buf.len() - TAG_LEN;
        let mut mac = Hmac::<Sha256>::new_from_slice(key().as_bytes()).unwrap();
        mac.update(&buf[..covered]);
        assert_eq!(buf[covered..], mac.finalize().into_bytes()[..TAG_LEN]);
        let f = frame::decode(&buf).unwrap();
        assert_eq!((f.payload, f.tag.map(<[u8]>::len)), (&b"abc"[..], Some(16)));
        assert_eq!(
            Frame::new_checked(&buf[..]).unwrap().flags(),
            Flags::AUTH,
            "AUTH is set"
        );
    }

    // A golden frame, so the bytes on the wire cannot change unnoticed: a tag computed by any
    // HMAC-SHA256 (Python: hmac.new(key, frame[:-16], "sha256").digest()[:16]).
    #[test]
    fn golden_authenticated_frame() {
        let mut buf = Vec::new();
        Authenticator::new(&key())
            .encode(&repr(b"abc"), &mut buf)
            .unwrap();
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "6dc5010101020304000000000000002a17979cfe362a00000003001061626361d0ebb2ad4813c8abc304f80689bba7"
        );
    }

    #[test]
    fn seal_fills_the_tag_room_and_refuses_a_frame_without_one() {
        let auth = Authenticator::new(&key());
        let mut buf = Vec::new();
        let room = [0xee; TAG_LEN];
        frame::encode(
            &FrameRepr {
                tag: Some(&room),
                ..repr(b"xy")
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(auth.verify(&buf), Err(VerifyError::Mismatch));
        auth.seal(&mut buf).unwrap();
        assert_eq!(auth.verify(&buf), Ok(()));
        let mut plain = Vec::new();
        frame::encode(&repr(b"xy"), &mut plain).unwrap();
        assert!(auth.seal(&mut plain).is_err());
        assert!(auth.seal(&mut buf[..10]).is_err());
    }

    #[test]
    fn verify_names_what_is_wrong() {
        let auth = Authenticator::new(&key());
        let mut good = Vec::new();
        auth.encode(&repr(b"payload"), &mut good).unwrap();
        assert_eq!(auth.verify(&good), Ok(()));
        // No tag at all.
        let mut plain = Vec::new();
        frame::encode(&repr(b"payload"), &mut plain).unwrap();
        for bytes in [&plain[..], b"hello", b"", b"x", &plain[..10]] {
            assert_eq!(
                auth.verify(bytes),
                Err(VerifyError::Unauthenticated),
                "{bytes:?}"
            );
        }
        // Every cut of an authenticated frame that keeps its magic is truncated.
        for len in frame::MAGIC.len()..good.len() {
            assert_eq!(
                auth.verify(&good[..len]),
                Err(VerifyError::Truncated),
                "cut to {len}"
            );
        }
        // A tag cut short with its length field patched to match.
        let mut short = good[..good.len() - 8].to_vec();
        short[26..28].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(auth.verify(&short), Err(VerifyError::Truncated));
        // Every single-bit change of a header or payload byte, or of the tag.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let got = auth.verify(&bad);
                assert!(got.is_err(), "byte {i} bit {bit} went unnoticed");
            }
        }
        // Bytes after the tag, or a longer tag.
        let mut long = good.clone();
        long.push(0);
        assert_eq!(auth.verify(&long), Err(VerifyError::Mismatch));
        long[26..28].copy_from_slice(&17u16.to_be_bytes());
        assert_eq!(auth.verify(&long), Err(VerifyError::Mismatch));
        // Another key.
        let other = Authenticator::new(&Key::from_bytes([9; KEY_LEN]));
        assert_eq!(other.verify(&good), Err(VerifyError::Mismatch));
    }

    #[test]
    fn rejections_are_named() {
        let names: Vec<&str> = [
            Rejection::Unauthenticated,
            Rejection::Truncated,
            Rejection::Forged,
            Rejection::Tampered,
            Rejection::Replayed,
        ]
        .iter()
        .map(|r| {
            #[cfg(feature = "serde")]
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.as_str().into())
            );
            r.as_str()
        })
        .collect();
        assert_eq!(
            names,
            [
                "unauthenticated",
                "truncated",
                "forged",
                "tampered",
                "replayed"
            ]
        );
        assert_eq!(
            Rejection::of(VerifyError::Mismatch, false),
            Rejection::Forged
        );
        assert_eq!(
            Rejection::of(VerifyError::Mismatch, true),
            Rejection::Tampered
        );
        let mut stats = AuthStats::default();
        stats.count(Rejection::Forged);
        stats.count(Rejection::Replayed);
        stats.count(Rejection::Replayed);
        assert_eq!((stats.forged, stats.replayed, stats.dropped()), (1, 2, 3));
    }

    #[test]
    fn keys_are_64_hex_digits_and_nothing_else() {
        let hex = key().to_hex();
        assert_eq!(hex.len(), KEY_HEX_LEN);
        assert_eq!(Key::from_hex(hex.as_bytes()), Ok(key()));
        assert_eq!(Key::from_hex(format!("{hex}\n").as_bytes()), Ok(key()));
        assert_eq!(Key::from_hex(format!("{hex}\r\n").as_bytes()), Ok(key()));
        assert_eq!(
            Key::from_hex(hex.to_uppercase().as_bytes()),
            Ok(key()),
            "either case"
        );
        for (text, err) in [
            (format!("{hex}\n\n"), KeyError::Length { len: 65 }),
            (hex[..62].to_owned(), KeyError::Length { len: 62 }),
            (format!("{hex}00"), KeyError::Length { len: 66 }),
            (
                format!(" {}", &hex[1..]),
                KeyError::NotHex { at: 0, byte: b' ' },
            ),
            (
                format!("{}g", &hex[..63]),
                KeyError::NotHex { at: 63, byte: b'g' },
            ),
            (String::new(), KeyError::Length { len: 0 }),
        ] {
            assert_eq!(Key::from_hex(text.as_bytes()), Err(err), "{text:?}");
        }
        // 32 raw bytes are the right key length, but a key file is text.
        assert_eq!(
            Key::from_hex(key().as_bytes()),
            Err(KeyError::Length { len: 32 })
        );
        assert_eq!(
            KeyError::Length { len: 32 }.to_string(),
            "a key is 64 hex digits (32 bytes), but this is 32 bytes long"
        );
        assert_eq!(format!("{:?}", key()), "Key(..)", "never printed");
    }

    #[test]
    fn replay_window_slides_by_whole_words() {
        let mut w = ReplayWindow::new(100);
        assert_eq!(w.size(), 128);
        assert_eq!(w.highest(), None);
        assert_eq!(w.check(Seq(u64::MAX)), Ok(()));
        w.accept(Seq(5)).unwrap();
        // Below the first accepted, inside the window: a late arrival.
        w.accept(Seq(0)).unwrap();
        assert_eq!(w.accept(Seq(0)), Err(Replay::Seen));
        w.accept(Seq(1000)).unwrap();
        assert_eq!(w.highest(), Some(Seq(1000)));
        assert_eq!(w.check(Seq(5)), Err(Replay::TooOld));
        assert_eq!(w.check(Seq(872)), Err(Replay::TooOld));
        assert_eq!(w.check(Seq(873)), Ok(()));
        // A long jump clears every word: nothing of the old window aliases in.
        w.accept(Seq(1000 + 64 * 3)).unwrap();
        assert_eq!(w.check(Seq(1000 + 64 * 3 - 1)), Ok(()));
        assert_eq!(w.check(Seq(1000)), Err(Replay::TooOld));
        // The far end of the sequence space.
        w.accept(Seq(u64::MAX)).unwrap();
        assert_eq!(w.accept(Seq(u64::MAX)), Err(Replay::Seen));
        assert_eq!(w.accept(Seq(u64::MAX - 1)), Ok(()));
        assert_eq!(ReplayWindow::default().size(), DEFAULT_REPLAY_WINDOW);
        assert_eq!(ReplayWindow::new(0).size(), 64);
        assert_eq!(ReplayWindow::new(u64::MAX).size(), ReplayWindow::MAX);
    }

    /// The window's meaning, with unbounded memory: accept a number once, unless it lies
    /// `size` or more below the highest accepted.
    #[derive(Default)]
    struct Model {
        accepted: BTreeSet<u64>,
    }

    impl Model {
        fn accept(&mut self, seq: u64, size: u64) -> Result<(), Replay> {
            if let Some(&top) = self.accepted.last() {
                if seq < top && top - seq >= size {
                    return Err(Replay::TooOld);
                }
            }
            if self.accepted.insert(seq) {
                Ok(())
            } else {
                Err(Replay::Seen)
            }
        }
    }

    proptest! {
        // The window agrees with the model on every sequence: near misses, reordering, jumps
        // of about a word or a window, and both ends of u64.
        #[test]
        fn replay_window_matches_the_model(
            size in prop_oneof![Just(64_u64), Just(128), 1_u64..600],
            start in prop_oneof![Just(0_u64), Just(u64::MAX - 5000), 0_u64..1 << 40],
            steps in proptest::collection::vec(
                prop_oneof![-70_i64..70, -700_i64..700, Just(64), Just(-64), 0_i64..5000],
                1..300,
            ),
        ) {
            let mut w = ReplayWindow::new(size);
            let mut model = Model::default();
            let mut seq = start;
            for step in steps {
                seq = seq.saturating_add_signed(step);
                prop_assert_eq!(w.accept(Seq(seq)), model.accept(seq, w.size()), "seq {}", seq);
            }
        }

        // Whatever changes in a frame, or however it is cut, verification fails; the genuine
        // frame verifies.
        #[test]
        fn every_change_or_cut_fails_verification(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            session in any::<u32>(),
            seq in any::<u64>(),
            flip in any::<proptest::sample::Index>(),
            bit in 0_u8..8,
            cut in any::<proptest::sample::Index>(),
        ) {
            let auth = Authenticator::new(&key());
            let repr = FrameRepr { session: SessionId(session), seq: Seq(seq), ..repr(&payload) };
            let mut good = Vec::new();
            auth.encode(&repr, &mut good).unwrap();
            prop_assert_eq!(auth.verify(&good), Ok(()));
            let mut bad = good.clone();
            bad[flip.index(good.len())] ^= 1 << bit;
            prop_assert!(auth.verify(&bad).is_err());
            let len = cut.index(good.len());
            prop_assert!(auth.verify(&good[..len]).is_err());
        }

        #[test]
        fn verify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Authenticator::new(&key()).verify(&bytes);
        }

        #[test]
        fn keys_round_trip_through_hex(bytes in any::<[u8; KEY_LEN]>()) {
            let key = Key::from_bytes(bytes);
            prop_assert_eq!(Key::from_hex(key.to_hex().as_bytes()), Ok(key));
        }
    }
}
