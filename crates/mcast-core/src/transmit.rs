//! The two ends of a socket as the core sees them: [`Transmit`] (what to send) and [`RecvMeta`]
//! (what arrived, and where from).

use std::net::{IpAddr, SocketAddr};

/// A datagram (or a GSO batch of equal-sized datagrams) the adapter should send.
///
/// The bytes live in the caller's buffer: `buf[..size]`. When `segment_size` is `Some(n)`, the
/// buffer holds `size / n` datagrams of `n` bytes (the last may be shorter), ready for UDP GSO
/// or for a loop of plain sends.
///
/// A transmit always holds at least one datagram: `size` 0 is one empty datagram (UDP carries
/// zero-length payloads), never nothing and never a batch of empty segments.
///
/// ```
/// use mcast_core::Transmit;
///
/// let to = "224.1.1.5:50001".parse().unwrap();
/// assert_eq!(Transmit::new(to, 0).datagrams(), 1);
/// assert_eq!(Transmit::new(to, 10).with_segment_size(Some(4)).datagrams(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct Transmit {
    /// Where to send: the group and port.
    pub destination: SocketAddr,
    /// How many bytes of the buffer to send.
    pub size: usize,
    /// The size of each datagram when the buffer holds several.
    pub segment_size: Option<usize>,
    /// A source address to send from, if the sender cares.
    pub src_ip: Option<IpAddr>,
}

impl Transmit {
    /// One datagram of `size` bytes to `destination`.
    pub fn new(destination: SocketAddr, size: usize) -> Self {
        Self {
            destination,
            size,
            segment_size: None,
            src_ip: None,
        }
    }

    /// The same transmit, holding datagrams of `segment_size` bytes each.
    pub fn with_segment_size(mut self, segment_size: Option<usize>) -> Self {
        self.segment_size = segment_size;
        self
    }

    /// How many datagrams the transmit holds: at least 1, since an empty transmit is one
    /// zero-length datagram.
    pub fn datagrams(&self) -> usize {
        match self.segment_size {
            Some(n) if n > 0 => self.size.div_ceil(n).max(1),
            _ => 1,
        }
    }
}

/// What the adapter learned about one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// The sender's address and port.
    pub source: SocketAddr,
    /// The destination address of the datagram, from `IP_PKTINFO` / `IPV6_RECVPKTINFO`, when
    /// the adapter could learn it.
    ///
    /// An [`IpAddr`], not a [`Group`](crate::addr::Group): a socket bound to a port also
    /// receives what was sent to that port's unicast or broadcast addresses, or to a group it
    /// did not join, and the receiver counts exactly those apart as
    /// [stray](crate::session::Datagram::Stray) by looking at this address. Group traffic is
    /// counted under its [`Group`](crate::addr::Group) in
    /// [`GroupStats`](crate::session::GroupStats).
    pub destination: Option<IpAddr>,
    /// The index of the interface it arrived on, when known.
    pub ifindex: Option<u32>,
    /// The datagram's length in bytes.
    pub len: usize,
    /// The receiving socket's cumulative count of datagrams the kernel dropped for lack of
    /// buffer space, from `SO_RXQ_OVFL`, when known. The count is the one the kernel held when
    /// this datagram was queued, so drops after the last queued datagram show up only with the
    /// next one.
    pub kernel_drops: Option<u32>,
    /// With UDP GRO, when the buffer holds several datagrams of one sender coalesced by the
    /// kernel: the size of each (the last may be shorter). `None` for a single datagram.
    pub segment_size: Option<u16>,
    /// The TTL (IPv4) or hop limit (IPv6) the datagram arrived with, when the socket asked
    /// for it (`IP_RECVTTL` / `IPV6_RECVHOPLIMIT`).
    pub hop_limit: Option<u8>,
    /// When the kernel received the datagram, in nanoseconds since the Unix epoch
    /// (`SO_TIMESTAMPNS`), when the socket asked for it: a round trip or delay measured from
    /// it leaves out how long the receiving process took to wake up.
    pub timestamp_ns: Option<u64>,
}

impl RecvMeta {
    /// Metadata with only the source and length known.
    pub fn new(source: SocketAddr, len: usize) -> Self {
        Self {
            source,
            destination: None,
            ifindex: None,
            len,
            kernel_drops: None,
            segment_size: None,
            hop_limit: None,
            timestamp_ns: None,
        }
    }

    /// The same metadata with the destination address set.
    pub fn with_destination(mut self, destination: Option<IpAddr>) -> Self {
        self.destination = destination;
        self
    }

    /// The same metadata with the interface index set.
    pub fn with_ifindex(mut self, ifindex: Option<u32>) -> Self {
        self.ifindex = ifindex;
        self
    }

    /// The same metadata with the socket's cumulative kernel drop count set.
    pub fn with_kernel_drops(mut self, kernel_drops: Option<u32>) -> Self {
        self.kernel_drops = kernel_drops;
        self
    }

    /// The same metadata with the kernel's receive time set (see [`RecvMeta::timestamp_ns`]).
    pub fn with_timestamp_ns(mut self, timestamp_ns: Option<u64>) -> Self {
        self.timestamp_ns = timestamp_ns;
        self
    }

    /// The same metadata with the GRO segment size set (see [`RecvMeta::segment_size`]).
    pub fn with_segment_size(mut self, segment_size: Option<u16>) -> Self {
        self.segment_size = segment_size;
        self
    }

    /// The same metadata with the arrival TTL / hop limit set (see [`RecvMeta::hop_limit`]).
    pub fn with_hop_limit(mut self, hop_limit: Option<u8>) -> Self {
        self.hop_limit = hop_limit;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_count_follows_segment_size() {
        let d: SocketAddr = "224.1.1.5:50001".parse().unwrap();
        // An empty transmit is one zero-length datagram, whatever its segment size says.
        assert_eq!(Transmit::new(d, 0).datagrams(), 1);
        assert_eq!(
            Transmit::new(d, 0).with_segment_size(Some(0)).datagrams(),
            1
        );
        assert_eq!(
            Transmit::new(d, 0).with_segment_size(Some(4)).datagrams(),
            1
        );
        assert_eq!(Transmit::new(d, 10).datagrams(), 1);
        assert_eq!(
            Transmit::new(d, 10).with_segment_size(Some(4)).datagrams(),
            3
        );
        assert_eq!(
            Transmit::new(d, 8).with_segment_size(Some(4)).datagrams(),
            2
        );
    }

    proptest::proptest! {
        // A transmit of any size holds at least one datagram, and its datagrams cover its
        // bytes exactly: all but the last full, the last not empty unless the transmit is.
        #[test]
        fn datagrams_cover_the_bytes(size in 0usize..200_000, seg in proptest::option::of(0usize..70_000)) {
            let d: SocketAddr = "224.1.1.5:50001".parse().unwrap();
            let t = Transmit::new(d, size).with_segment_size(seg);
            let n = t.datagrams();
            proptest::prop_assert!(n >= 1);
            match seg {
                Some(seg) if seg > 0 && size > 0 => {
                    proptest::prop_assert!((n - 1) * seg < size && size <= n * seg);
                }
                _ => proptest::prop_assert_eq!(n, 1),
            }
        }
    }

    #[test]
    fn recv_meta_starts_unknown_and_builders_fill_it_in() {
        let meta = RecvMeta::new("127.0.0.1:40000".parse().unwrap(), 5);
        assert_eq!(meta.kernel_drops, None);
        assert_eq!(meta.hop_limit, None);
        let meta = meta
            .with_kernel_drops(Some(7))
            .with_ifindex(Some(1))
            .with_hop_limit(Some(64));
        assert_eq!(
            (meta.kernel_drops, meta.ifindex, meta.len, meta.hop_limit),
            (Some(7), Some(1), 5, Some(64))
        );
    }
}
