//! Classic pcap files as bytes: a 24-byte file header, then a 16-byte header before each
//! packet. Little-endian, magic `0xa1b2c3d4` (microsecond timestamps), version 2.4 — what
//! `tcpdump -w` writes on x86 and what Wireshark and scapy's `rdpcap` read.
//!
//! | header | offset: field |
//! |---|---|
//! | file (24) | 0: magic `0xa1b2c3d4` · 4: version major 2 (u16) · 6: minor 4 (u16) · 8: thiszone 0 (i32) · 12: sigfigs 0 · 16: snaplen · 20: link type |
//! | record (16) | 0: seconds · 4: microseconds · 8: captured length · 12: original length |
//!
//! [`PcapWriter`] writes the same into any [`std::io::Write`]; mcast-core opens no files.
//!
//! [`PcapReader`] reads such bytes back: what [`PcapWriter`] writes, and what `tcpdump -w`
//! writes anywhere (either byte order, microsecond magic `0xa1b2c3d4` or nanosecond magic
//! `0xa1b23c4d`), record by record out of a byte slice. Only the link types mcast decodes are
//! accepted by [`PcapReader::link_type`]: Ethernet (1) and raw IP (101). pcapng files (what
//! Wireshark and `dumpcap` write by default) are recognised and refused with
//! [`PcapError::Pcapng`].
//!
//! ```
//! use std::time::Duration;
//! use mcast_core::packet::pcap::{PcapWriter, LINKTYPE_ETHERNET};
//!
//! let mut w = PcapWriter::new(Vec::new(), 65535, LINKTYPE_ETHERNET)?;
//! w.write_packet(Duration::from_micros(1_500_000), &[0u8; 60])?;
//! let bytes = w.into_inner();
//! assert_eq!(bytes.len(), 24 + 16 + 60);
//! assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
//! assert_eq!(bytes[24..28], 1u32.to_le_bytes()); // 1 s
//! assert_eq!(bytes[28..32], 500_000u32.to_le_bytes()); // 500000 µs
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};
use std::time::Duration;

use super::LinkType;

/// The pcap magic number for microsecond timestamps.
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// The pcap magic number for nanosecond timestamps (`tcpdump --time-stamp-precision=nano -w`).
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// The first four bytes of a pcapng file (its Section Header Block type), in either byte order.
pub const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Format version, major.
pub const VERSION_MAJOR: u16 = 2;
/// Format version, minor.
pub const VERSION_MINOR: u16 = 4;
/// `LINKTYPE_ETHERNET`: frames start with an Ethernet II header.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: packets start with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The 24-byte file header.
pub fn file_header(snaplen: u32, linktype: u32) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
    h[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
    // thiszone [8..12] and sigfigs [12..16] stay 0.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&linktype.to_le_bytes());
    h
}

/// The 16-byte header before each packet: timestamp, bytes captured, bytes on the wire.
pub fn record_header(
    ts_sec: u32,
    ts_usec: u32,
    caplen: u32,
    origlen: u32,
) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&ts_sec.to_le_bytes());
    h[4..8].copy_from_slice(&ts_usec.to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&origlen.to_le_bytes());
    h
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Writes a pcap stream into `W`: the file header on creation, then one record per packet.
///
/// Packets longer than `snaplen` are cut to `snaplen` and keep their original length in the
/// record header. The caller passes timestamps (time since the Unix epoch) in: mcast-core never
/// reads the clock.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header and returns the writer.
    pub fn new(mut inner: W, snaplen: u32, linktype: u32) -> io::Result<Self> {
        inner.write_all(&file_header(snaplen, linktype))?;
        Ok(Self { inner, snaplen })
    }

    /// Writes one packet captured whole.
    pub fn write_packet(&mut self, since_epoch: Duration, frame: &[u8]) -> io::Result<()> {
        self.write_packet_with_len(since_epoch, frame, frame.len())
    }

    /// Writes one packet of which only `frame` was captured out of `orig_len` bytes on the wire
    /// (as reported by `recv` with `MSG_TRUNC`).
    pub fn write_packet_with_len(
        &mut self,
        since_epoch: Duration,
        frame: &[u8],
        orig_len: usize,
    ) -> io::Result<()> {
        let cap = frame.len().min(self.snaplen as usize);
        let secs = u32::try_from(since_epoch.as_secs()).unwrap_or(u32::MAX);
        let header = record_header(
            secs,
            since_epoch.subsec_micros(),
            len_u32(cap),
            len_u32(orig_len.max(frame.len())),
        );
        self.inner.write_all(&header)?;
        self.inner.write_all(&frame[..cap])
    }

    /// Flushes the inner writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Gives the inner writer back.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// The file header of a pcap stream, as [`PcapReader`] read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileHeader {
    /// Whether the numbers are big-endian (a file written on a big-endian machine).
    pub big_endian: bool,
    /// Whether record timestamps carry nanoseconds (magic `0xa1b23c4d`) or microseconds.
    pub nanos: bool,
    /// Format version (major, minor); 2.4 in practice.
    pub version: (u16, u16),
    /// The longest packet the capture kept.
    pub snaplen: u32,
    /// The `LINKTYPE_*` number of every record.
    pub linktype: u32,
}

/// One packet read from a pcap stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record<'a> {
    /// When it was captured, as time since the Unix epoch.
    pub since_epoch: Duration,
    /// Its length on the wire; at least `data.len()` unless the file says otherwise.
    pub orig_len: usize,
    /// The bytes captured.
    pub data: &'a [u8],
}

/// Why bytes could not be read as pcap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// Shorter than the 24-byte file header.
    #[error("too short for a pcap file: {got} bytes, the file header needs {FILE_HEADER_LEN}")]
    TooShort {
        /// Bytes present.
        got: usize,
    },
    /// A pcapng file.
    #[error("a pcapng file, not classic pcap")]
    Pcapng,
    /// Some other file.
    #[error("not a pcap file (magic {0:02x?})")]
    NotPcap([u8; 4]),
    /// A version other than 2.x.
    #[error("pcap version {major}.{minor} is not supported (only 2.x)")]
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A link type other than Ethernet and raw IP.
    #[error("link type {0} is not supported (only Ethernet, 1, and raw IP, 101)")]
    LinkType(u32),
    /// A record cut short (the capture was killed while writing, or the file was truncated).
    #[error("record {index} at byte {offset} is cut short: {need} bytes needed, {got} left")]
    Truncated {
        /// The record's number, from 1.
        index: u64,
        /// Where its header starts.
        offset: usize,
        /// Bytes the record needs (header, or header and data).
        need: usize,
        /// Bytes left in the input.
        got: usize,
    },
}

/// Reads a pcap stream out of a byte slice: the file header on creation, then one [`Record`]
/// per [`Iterator::next`]. After an error the iterator ends.
///
/// ```
/// use std::time::Duration;
/// use mcast_core::packet::pcap::{PcapReader, PcapWriter, LINKTYPE_ETHERNET};
/// use mcast_core::packet::LinkType;
///
/// let mut w = PcapWriter::new(Vec::new(), 65535, LINKTYPE_ETHERNET)?;
/// w.write_packet(Duration::new(1_764_038_400, 123_456_000), &[0xaa; 60])?;
/// let bytes = w.into_inner();
///
/// let mut r = PcapReader::new(&bytes)?;
/// assert_eq!(r.link_type()?, LinkType::Ethernet);
/// let rec = r.next().unwrap()?;
/// assert_eq!((rec.since_epoch, rec.data.len(), rec.orig_len), (Duration::new(1_764_038_400, 123_456_000), 60, 60));
/// assert!(r.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    bytes: &'a [u8],
    header: FileHeader,
    at: usize,
    index: u64,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Reads the file header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, PcapError> {
        let Some(head) = bytes.get(..FILE_HEADER_LEN) else {
            if bytes.starts_with(&PCAPNG_MAGIC) {
                return Err(PcapError::Pcapng);
            }
            return Err(PcapError::TooShort { got: bytes.len() });
        };
        let magic = [head[0], head[1], head[2], head[3]];
        let (big_endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (MAGIC, _) => (false, false),
            (MAGIC_NANOS, _) => (false, true),
            (_, MAGIC) => (true, false),
            (_, MAGIC_NANOS) => (true, true),
            _ if magic == PCAPNG_MAGIC => return Err(PcapError::Pcapng),
            _ => return Err(PcapError::NotPcap(magic)),
        };
        let u16_at = |at: usize| {
            let b = [head[at], head[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let major = u16_at(4);
        let minor = u16_at(6);
        if major != VERSION_MAJOR {
            return Err(PcapError::Version { major, minor });
        }
        let header = FileHeader {
            big_endian,
            nanos,
            version: (major, minor),
            snaplen: read_u32(head, 16, big_endian),
            // The upper bits carry an FCS length (pcap-linktype's LINKTYPE_*_FCS); the type is
            // the low 16.
            linktype: read_u32(head, 20, big_endian) & 0xffff,
        };
        Ok(Self {
            bytes,
            header,
            at: FILE_HEADER_LEN,
            index: 0,
            failed: false,
        })
    }

    /// The file header.
    pub fn header(&self) -> FileHeader {
        self.header
    }

    /// How the records start, or [`PcapError::LinkType`] for a link type mcast does not decode.
    pub fn link_type(&self) -> Result<LinkType, PcapError> {
        match self.header.linktype {
            LINKTYPE_ETHERNET => Ok(LinkType::Ethernet),
            LINKTYPE_RAW => Ok(LinkType::RawIp),
            other => Err(PcapError::LinkType(other)),
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
}

fn read_u32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Record<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.at..];
        if rest.is_empty() || self.failed {
            return None;
        }
        self.index += 1;
        let truncated = |need: usize| PcapError::Truncated {
            index: self.index,
            offset: self.at,
            need,
            got: rest.len(),
        };
        let Some(head) = rest.get(..RECORD_HEADER_LEN) else {
            self.failed = true;
            return Some(Err(truncated(RECORD_HEADER_LEN)));
        };
        let be = self.header.big_endian;
        let secs = u64::from(read_u32(head, 0, be));
        let frac = u64::from(read_u32(head, 4, be));
        let caplen = read_u32(head, 8, be) as usize;
        let orig_len = read_u32(head, 12, be) as usize;
        let need = RECORD_HEADER_LEN.saturating_add(caplen);
        let Some(data) = rest.get(RECORD_HEADER_LEN..need) else {
            self.failed = true;
            return Some(Err(truncated(need)));
        };
        let frac = if self.header.nanos {
            Duration::from_nanos(frac)
        } else {
            Duration::from_micros(frac)
        };
        self.at += need;
        Some(Ok(Record {
            since_epoch: Duration::from_secs(secs) + frac,
            orig_len,
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A tcpdump-style file: header and records in the given byte order and precision.
    fn file(
        big_endian: bool,
        nanos: bool,
        linktype: u32,
        records: &[(u32, u32, &[u8])],
    ) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = Vec::new();
        b.extend_from_slice(&w32(if nanos { MAGIC_NANOS } else { MAGIC }));
        b.extend_from_slice(&w16(2));
        b.extend_from_slice(&w16(4));
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&w32(262_144));
        b.extend_from_slice(&w32(linktype));
        for &(secs, frac, data) in records {
            b.extend_from_slice(&w32(secs));
            b.extend_from_slice(&w32(frac));
            b.extend_from_slice(&w32(data.len() as u32));
            b.extend_from_slice(&w32(data.len() as u32 + 4));
            b.extend_from_slice(data);
        }
        b
    }

    #[test]
    fn reads_both_byte_orders_and_precisions() {
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let frac = if nanos { 123_456_789 } else { 123_456 };
                let bytes = file(big_endian, nanos, 1, &[(7, frac, b"abc"), (8, 0, b"")]);
                let r = PcapReader::new(&bytes).unwrap();
                let h = r.header();
                assert_eq!(
                    (h.big_endian, h.nanos, h.version),
                    (big_endian, nanos, (2, 4))
                );
                assert_eq!(
                    (h.snaplen, r.link_type()),
                    (262_144, Ok(LinkType::Ethernet))
                );
                let recs: Vec<Record<'_>> = r.map(Result::unwrap).collect();
                let want = if nanos {
                    Duration::new(7, 123_456_789)
                } else {
                    Duration::new(7, 123_456_000)
                };
                assert_eq!(recs[0].since_epoch, want);
                assert_eq!((recs[0].data, recs[0].orig_len), (&b"abc"[..], 7));
                assert_eq!((recs[1].data.len(), recs[1].orig_len), (0, 4));
                assert_eq!(recs.len(), 2);
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(
            PcapReader::new(&[0xd4, 0xc3]).unwrap_err(),
            PcapError::TooShort { got: 2 }
        );
        let mut ng = PCAPNG_MAGIC.to_vec();
        ng.extend_from_slice(&[0; 24]);
        assert_eq!(PcapReader::new(&ng).unwrap_err(), PcapError::Pcapng);
        assert_eq!(
            PcapReader::new(&PCAPNG_MAGIC).unwrap_err(),
            PcapError::Pcapng
        );
        let text = b"this is not a capture file at all";
        assert!(matches!(PcapReader::new(text), Err(PcapError::NotPcap(_))));
        let sll = file(false, false, 113, &[]);
        let r = PcapReader::new(&sll).unwrap();
        assert_eq!(r.link_type(), Err(PcapError::LinkType(113)));
        assert!(r
            .link_type()
            .unwrap_err()
            .to_string()
            .contains("link type 113"));
        let mut v1 = file(false, false, 1, &[]);
        v1[4] = 1;
        assert_eq!(
            PcapReader::new(&v1).unwrap_err(),
            PcapError::Version { major: 1, minor: 4 }
        );
        assert_eq!(
            PcapReader::new(&file(false, false, 101, &[]))
                .unwrap()
                .link_type(),
            Ok(LinkType::RawIp)
        );
    }

    #[test]
    fn a_cut_record_is_an_error_then_the_end() {
        let bytes = file(false, false, 1, &[(1, 0, b"hello"), (2, 0, b"world")]);
        for cut in [bytes.len() - 1, bytes.len() - 5, bytes.len() - 15] {
            let mut r = PcapReader::new(&bytes[..cut]).unwrap();
            assert!(r.next().unwrap().is_ok());
            let e = r.next().unwrap().unwrap_err();
            assert!(
                matches!(
                    e,
                    PcapError::Truncated {
                        index: 2,
                        offset: 45,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(r.next().is_none());
        }
    }

    proptest! {
        #[test]
        fn writer_then_reader_round_trips(
            packets in proptest::collection::vec(
                (0u32..u32::MAX, 0u32..1_000_000, proptest::collection::vec(any::<u8>(), 0..200)),
                0..20,
            ),
            snaplen in 1u32..300,
        ) {
            let mut w = PcapWriter::new(Vec::new(), snaplen, LINKTYPE_RAW).unwrap();
            for (secs, micros, data) in &packets {
                let t = Duration::from_secs(u64::from(*secs)) + Duration::from_micros(u64::from(*micros));
                w.write_packet(t, data).unwrap();
            }
            let bytes = w.into_inner();
            let r = PcapReader::new(&bytes).unwrap();
            prop_assert_eq!(r.header().snaplen, snaplen);
            let got: Vec<Record<'_>> = r.map(Result::unwrap).collect();
            prop_assert_eq!(got.len(), packets.len());
            for (rec, (secs, micros, data)) in got.iter().zip(&packets) {
                prop_assert_eq!(rec.since_epoch.as_secs(), u64::from(*secs));
                prop_assert_eq!(rec.since_epoch.subsec_micros(), *micros);
                let cap = data.len().min(snaplen as usize);
                prop_assert_eq!(rec.data, &data[..cap]);
                prop_assert_eq!(rec.orig_len, data.len());
            }
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in 0usize..4) {
            let mut bytes = bytes;
            // Often start with a real magic, so the record loop is reached.
            let m = [MAGIC.to_le_bytes(), MAGIC.to_be_bytes(), MAGIC_NANOS.to_le_bytes(), MAGIC_NANOS.to_be_bytes()][magic];
            if bytes.len() >= 4 { bytes[..4].copy_from_slice(&m); }
            if let Ok(r) = PcapReader::new(&bytes) {
                let mut total = FILE_HEADER_LEN;
                for rec in r {
                    match rec {
                        Ok(rec) => total += RECORD_HEADER_LEN + rec.data.len(),
                        Err(_) => break,
                    }
                }
                prop_assert!(total <= bytes.len());
            }
        }
    }

    #[test]
    fn file_header_matches_tcpdump() {
        // The first 24 bytes of a `tcpdump -i va -w` capture on this project's lab machine.
        let tcpdump = [
            0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00,
            0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
        ];
        assert_eq!(file_header(262_144, LINKTYPE_ETHERNET), tcpdump);
    }

    #[test]
    fn record_header_golden() {
        assert_eq!(
            record_header(0x0102_0304, 999_999, 54, 60),
            [4, 3, 2, 1, 0x3f, 0x42, 0x0f, 0, 54, 0, 0, 0, 60, 0, 0, 0]
        );
    }

    #[test]
    fn writer_cuts_to_snaplen_and_keeps_orig_len() {
        let mut w = PcapWriter::new(Vec::new(), 4, LINKTYPE_RAW).unwrap();
        w.write_packet(Duration::new(7, 1_000), &[1, 2, 3, 4, 5, 6])
            .unwrap();
        w.write_packet_with_len(Duration::new(8, 0), &[9, 9], 1500)
            .unwrap();
        w.flush().unwrap();
        assert_eq!(w.get_ref().len(), 24 + 16 + 4 + 16 + 2);
        let b = w.into_inner();
        assert_eq!(b[20..24], LINKTYPE_RAW.to_le_bytes());
        assert_eq!(b[24..40], record_header(7, 1, 4, 6));
        assert_eq!(b[40..44], [1, 2, 3, 4]);
        assert_eq!(b[44..60], record_header(8, 0, 2, 1500));
        assert_eq!(b[60..], [9, 9]);
    }
}
