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

/// The pcap magic number for microsecond timestamps.
pub const MAGIC: u32 = 0xa1b2_c3d4;
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

#[cfg(test)]
mod tests {
    use super::*;

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
