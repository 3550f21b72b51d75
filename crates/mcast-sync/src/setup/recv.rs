//! Receiving one datagram: `recvmsg` with `MSG_TRUNC`, and the control messages
//! (`IP_PKTINFO`/`IPV6_PKTINFO`, `SO_RXQ_OVFL`, `UDP_GRO`, TTL / hop limit, `SO_TIMESTAMPNS`) read
//! into a [`RecvMeta`].

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use mcast_core::RecvMeta;

/// The size of a control buffer: room for every control message a receiver socket is set up to
/// get (one `in6_pktinfo` or `in_pktinfo`, the u32 of `SO_RXQ_OVFL`, the int of `UDP_GRO`, the
/// int of the TTL / hop limit and the timespec of `SO_TIMESTAMPNS`), and then some.
pub(super) const CMSG_BUF_LEN: usize = 192;

// SAFETY: CMSG_SPACE only computes a size.
pub(super) const CMSG_NEEDED: usize = unsafe {
    libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as libc::c_uint) as usize
        + libc::CMSG_SPACE(size_of::<u32>() as libc::c_uint) as usize
        + 2 * libc::CMSG_SPACE(size_of::<libc::c_int>() as libc::c_uint) as usize
        + libc::CMSG_SPACE(size_of::<libc::timespec>() as libc::c_uint) as usize
};
const _: () = assert!(
    CMSG_NEEDED <= CMSG_BUF_LEN,
    "the control buffer must hold pktinfo, SO_RXQ_OVFL, UDP_GRO, the hop limit and a timestamp"
);

/// `UDP_GRO` from `<linux/udp.h>`: the socket takes coalesced runs of datagrams, each run with
/// a control message giving the segment size.
pub(super) const UDP_GRO: libc::c_int = 104;
const _: () = assert!(size_of::<libc::in_pktinfo>() <= size_of::<libc::in6_pktinfo>());

/// A control buffer of [`CMSG_BUF_LEN`] bytes, aligned for cmsghdr.
#[derive(Clone)]
#[repr(C, align(8))]
pub(super) struct CmsgBuf(pub(super) [u8; CMSG_BUF_LEN]);

impl std::fmt::Debug for CmsgBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CmsgBuf")
    }
}

pub(super) fn recvmsg(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    kernel_drops_on: bool,
) -> io::Result<RecvMeta> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
    // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: every pointer in `msg` points to live buffers of the lengths given.
    // With MSG_TRUNC, a UDP socket returns the datagram's full length even when it was cut.
    let n = unsafe {
        libc::recvmsg(
            sock.as_raw_fd(),
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: recvmsg filled `msg`; its name is the zero-initialised storage above and its
    // control buffer `control`, both still live.
    unsafe { parse_msghdr(&msg, n as usize, kernel_drops_on) }
}

/// The [`RecvMeta`] of one received datagram of `len` bytes: the source from `msg_name`, the
/// destination and interface from the `IP_PKTINFO`/`IPV6_PKTINFO` control message, the
/// socket's cumulative drop count from the `SO_RXQ_OVFL` one, and the TTL / hop limit from
/// `IP_TTL`/`IPV6_HOPLIMIT` (sent when the socket asked for it). Shared by `recvmsg` and
/// `recvmmsg`.
///
/// The kernel attaches `SO_RXQ_OVFL` only when the count is not zero, so on a socket with the
/// option on (`kernel_drops_on`) a datagram without it reports `Some(0)`. Under `MSG_CTRUNC`,
/// or when the message is too short for its u32, the count is unknown (`None`).
///
/// # Safety
///
/// `msg` was filled by `recvmsg`/`recvmmsg`: `msg_name` points to a live, initialised
/// `sockaddr_storage` and `msg_control` to a live buffer of at least `msg_controllen` bytes,
/// aligned for `cmsghdr`.
pub(super) unsafe fn parse_msghdr(
    msg: &libc::msghdr,
    len: usize,
    kernel_drops_on: bool,
) -> io::Result<RecvMeta> {
    let unknown = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram from an unknown address family",
        )
    };
    if (msg.msg_namelen as usize) < size_of::<libc::sa_family_t>() {
        return Err(unknown());
    }
    // SAFETY: the caller guarantees msg_name points to an initialised sockaddr_storage.
    let name = unsafe { &*msg.msg_name.cast::<libc::sockaddr_storage>() };
    let source = sockaddr_to_std(name).ok_or_else(unknown)?;
    let mut destination = None;
    let mut ifindex = None;
    let mut kernel_drops = None;
    let mut kernel_drops_seen = false;
    let mut segment_size = None;
    let mut hop_limit = None;
    let mut timestamp_ns = None;
    // A truncated control buffer may end in stale bytes: then no control message is trusted.
    let ctrunc = msg.msg_flags & libc::MSG_CTRUNC != 0;
    // SAFETY: the caller guarantees `msg` was filled by the kernel; CMSG_* walk only within
    // msg_controllen of the live control buffer, and a payload is read only when the message's
    // own `cmsg_len` covers it (`cmsg_holds`).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let hdr = &*c;
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if cmsg_holds::<libc::in_pktinfo>(hdr) && !ctrunc =>
                {
                    let info: libc::in_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                    ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if cmsg_holds::<libc::in6_pktinfo>(hdr) && !ctrunc =>
                {
                    let info: libc::in6_pktinfo =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    ifindex = Some(info.ipi6_ifindex);
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                    if cmsg_holds::<libc::timespec>(hdr) && !ctrunc =>
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    timestamp_ns = u64::try_from(ts.tv_sec)
                        .ok()
                        .zip(u64::try_from(ts.tv_nsec).ok())
                        .and_then(|(s, ns)| s.checked_mul(1_000_000_000)?.checked_add(ns));
                }
                (libc::SOL_UDP, UDP_GRO) if cmsg_holds::<libc::c_int>(hdr) && !ctrunc => {
                    let size: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    // Only a size below the buffer's length means several datagrams.
                    segment_size = u16::try_from(size)
                        .ok()
                        .filter(|&s| s > 0 && usize::from(s) < len);
                }
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                    if cmsg_holds::<libc::c_int>(hdr) && !ctrunc =>
                {
                    let hops: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    hop_limit = u8::try_from(hops).ok();
                }
                (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
                    kernel_drops_seen = true;
                    if cmsg_holds::<u32>(hdr) && !ctrunc {
                        kernel_drops =
                            Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
                    }
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    // No SO_RXQ_OVFL message at all (not even a short one) means no drop so far.
    if kernel_drops_on && !ctrunc && !kernel_drops_seen {
        kernel_drops = Some(0);
    }
    Ok(RecvMeta::new(source, len)
        .with_destination(destination)
        .with_ifindex(ifindex)
        .with_kernel_drops(kernel_drops)
        .with_segment_size(segment_size)
        .with_hop_limit(hop_limit)
        .with_timestamp_ns(timestamp_ns))
}

/// Whether a control message's own length covers a payload of type `T`.
pub(super) fn cmsg_holds<T>(hdr: &libc::cmsghdr) -> bool {
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    let need = unsafe { libc::CMSG_LEN(size_of::<T>() as libc::c_uint) } as usize;
    // `cmsg_len` is `size_t` on glibc but `socklen_t` on musl: the cast is needed there.
    #[allow(clippy::unnecessary_cast)]
    let len = hdr.cmsg_len as usize;
    len >= need
}

pub(super) fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Turns a timeout into `poll`'s milliseconds (rounded up, so a 1 ns timeout still waits).
pub(crate) fn poll_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmsg_holds_checks_the_message_length() {
        // SAFETY: cmsghdr is plain data; all-zero is a valid value.
        let mut hdr: libc::cmsghdr = unsafe { mem::zeroed() };
        // SAFETY: CMSG_LEN is pure arithmetic.
        let full = unsafe { libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as libc::c_uint) };
        hdr.cmsg_len = full as _;
        assert!(cmsg_holds::<libc::in_pktinfo>(&hdr));
        assert!(!cmsg_holds::<libc::in6_pktinfo>(&hdr));
        hdr.cmsg_len = (full - 1) as _;
        assert!(!cmsg_holds::<libc::in_pktinfo>(&hdr));
    }

    /// A `msghdr` as `recvmsg` leaves it: the source 192.0.2.1:4000 in `name`, and in `control`
    /// the given control messages (level, type, payload, and `cmsg_len` less this many bytes
    /// than the payload needs), with `flags` as `msg_flags`.
    fn received(
        name: &mut libc::sockaddr_storage,
        control: &mut CmsgBuf,
        cmsgs: &[(libc::c_int, libc::c_int, &[u8], usize)],
        flags: libc::c_int,
    ) -> libc::msghdr {
        // SAFETY: sockaddr_in fits in sockaddr_storage, which is aligned for it.
        let sin = unsafe { &mut *std::ptr::from_mut(name).cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = 4000u16.to_be();
        sin.sin_addr.s_addr = u32::from(Ipv4Addr::new(192, 0, 2, 1)).to_be();
        // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = std::ptr::from_mut(name).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = CMSG_BUF_LEN as _;
        msg.msg_flags = flags;
        let mut used = 0;
        // SAFETY: every message written fits the control buffer (CMSG_NEEDED ≤ CMSG_BUF_LEN
        // for the messages these tests write), and CMSG_* stay inside it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            for (i, (level, kind, payload, short)) in cmsgs.iter().enumerate() {
                if i > 0 {
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                assert!(!c.is_null(), "control buffer too small for the test");
                (*c).cmsg_level = *level;
                (*c).cmsg_type = *kind;
                (*c).cmsg_len =
                    (libc::CMSG_LEN(payload.len() as libc::c_uint) as usize - short) as _;
                std::ptr::copy_nonoverlapping(payload.as_ptr(), libc::CMSG_DATA(c), payload.len());
                used += libc::CMSG_SPACE(payload.len() as libc::c_uint) as usize;
            }
        }
        msg.msg_controllen = used as _;
        msg
    }

    fn pktinfo_v4() -> Vec<u8> {
        // SAFETY: in_pktinfo is plain data; all-zero is a valid value.
        let mut info: libc::in_pktinfo = unsafe { mem::zeroed() };
        info.ipi_ifindex = 3;
        info.ipi_addr.s_addr = u32::from(Ipv4Addr::new(239, 1, 2, 3)).to_be();
        // SAFETY: in_pktinfo is plain data without padding; its bytes are initialised.
        unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&info).cast::<u8>(),
                size_of::<libc::in_pktinfo>(),
            )
        }
        .to_vec()
    }

    fn parse(
        cmsgs: &[(libc::c_int, libc::c_int, &[u8], usize)],
        flags: libc::c_int,
        on: bool,
    ) -> RecvMeta {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
        let msg = received(&mut name, &mut control, cmsgs, flags);
        // SAFETY: `msg` points to the live, initialised `name` and `control` above.
        unsafe { parse_msghdr(&msg, 9, on) }.unwrap()
    }

    #[test]
    fn rxq_ovfl_is_parsed_beside_pktinfo() {
        const PKT: (libc::c_int, libc::c_int) = (libc::IPPROTO_IP, libc::IP_PKTINFO);
        const OVFL: (libc::c_int, libc::c_int) = (libc::SOL_SOCKET, libc::SO_RXQ_OVFL);
        let info = pktinfo_v4();
        let drops = 42u32.to_ne_bytes();
        let both = [
            (PKT.0, PKT.1, &info[..], 0),
            (OVFL.0, OVFL.1, &drops[..], 0),
        ];
        let meta = parse(&both, 0, true);
        assert_eq!(meta.source, "192.0.2.1:4000".parse().unwrap());
        assert_eq!(meta.destination, Some("239.1.2.3".parse().unwrap()));
        assert_eq!(meta.ifindex, Some(3));
        assert_eq!(meta.kernel_drops, Some(42));
        // In the other order too.
        let reversed = [both[1], both[0]];
        assert_eq!(parse(&reversed, 0, true).kernel_drops, Some(42));
        assert_eq!(parse(&reversed, 0, true).ifindex, Some(3));

        // The kernel sends no SO_RXQ_OVFL while the count is 0: with the option on, that is 0.
        let pktinfo_only = [both[0]];
        assert_eq!(parse(&pktinfo_only, 0, true).kernel_drops, Some(0));
        assert_eq!(parse(&pktinfo_only, 0, false).kernel_drops, None);
        assert_eq!(parse(&[], 0, true).kernel_drops, Some(0));

        // A truncated control buffer: nothing in it is trusted, and the count is unknown.
        let cut = parse(&both, libc::MSG_CTRUNC, true);
        assert_eq!(
            (cut.destination, cut.ifindex, cut.kernel_drops),
            (None, None, None)
        );
        assert_eq!(
            parse(&pktinfo_only, libc::MSG_CTRUNC, true).kernel_drops,
            None
        );

        // A message whose own length does not cover its u32 is not read.
        let short = [
            (PKT.0, PKT.1, &info[..], 0),
            (OVFL.0, OVFL.1, &drops[..], 1),
        ];
        let meta = parse(&short, 0, true);
        assert_eq!(meta.kernel_drops, None);
        assert_eq!(meta.ifindex, Some(3));
    }

    #[test]
    fn control_buffer_holds_every_control_message() {
        // SAFETY: CMSG_SPACE is pure arithmetic.
        let v6 = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as libc::c_uint) };
        // SAFETY: as above.
        let ovfl = unsafe { libc::CMSG_SPACE(size_of::<u32>() as libc::c_uint) };
        // SAFETY: as above.
        let int = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as libc::c_uint) };
        // SAFETY: as above.
        let ts = unsafe { libc::CMSG_SPACE(size_of::<libc::timespec>() as libc::c_uint) };
        // The const assertion beside CMSG_BUF_LEN checks CMSG_NEEDED; this checks that it is
        // computed as libc computes it at run time: UDP_GRO and the hop limit are ints.
        assert_eq!((v6 + ovfl + 2 * int + ts) as usize, CMSG_NEEDED);
    }

    // The kernel's receive time is read from SCM_TIMESTAMPNS when its message covers a
    // timespec, and not under MSG_CTRUNC.
    #[test]
    fn receive_timestamps_are_parsed() {
        // SAFETY: timespec is plain data; all-zero is a valid value.
        let mut ts: libc::timespec = unsafe { mem::zeroed() };
        ts.tv_sec = 1_700_000_000;
        ts.tv_nsec = 123_456_789;
        // SAFETY: timespec is plain data without padding on Linux; its bytes are initialised.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&ts).cast::<u8>(),
                size_of::<libc::timespec>(),
            )
        }
        .to_vec();
        let msg = (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &bytes[..], 0);
        let meta = parse(&[msg], 0, true);
        assert_eq!(meta.timestamp_ns, Some(1_700_000_000_123_456_789));
        assert_eq!(parse(&[], 0, true).timestamp_ns, None);
        let short = (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &bytes[..], 1);
        assert_eq!(parse(&[short], 0, true).timestamp_ns, None);
        assert_eq!(parse(&[msg], libc::MSG_CTRUNC, true).timestamp_ns, None);
    }

    // The TTL (IPv4) or hop limit (IPv6) is read when its message covers an int, and not under
    // MSG_CTRUNC.
    #[test]
    fn hop_limit_is_parsed() {
        let ttl = 61_i32.to_ne_bytes();
        let v4 = (libc::IPPROTO_IP, libc::IP_TTL, &ttl[..], 0);
        let v6 = (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &ttl[..], 0);
        assert_eq!(parse(&[v4], 0, true).hop_limit, Some(61));
        assert_eq!(parse(&[v6], 0, true).hop_limit, Some(61));
        assert_eq!(parse(&[], 0, true).hop_limit, None);
        let short = (libc::IPPROTO_IP, libc::IP_TTL, &ttl[..], 1);
        assert_eq!(parse(&[short], 0, true).hop_limit, None);
        assert_eq!(parse(&[v4], libc::MSG_CTRUNC, true).hop_limit, None);
        let info = pktinfo_v4();
        let both = [(libc::IPPROTO_IP, libc::IP_PKTINFO, &info[..], 0), v4];
        let meta = parse(&both, 0, true);
        assert_eq!((meta.hop_limit, meta.ifindex), (Some(61), Some(3)));
    }

    // The UDP_GRO size is read when its message covers an int, only below the buffer's length
    // (the test's datagram is 9 bytes), and not under MSG_CTRUNC.
    #[test]
    fn udp_gro_size_is_parsed() {
        let info = pktinfo_v4();
        let pkt = (libc::IPPROTO_IP, libc::IP_PKTINFO, &info[..], 0);
        let three = 3_i32.to_ne_bytes();
        let nine = 9_i32.to_ne_bytes();
        fn gro(size: &[u8; 4], short: usize) -> (libc::c_int, libc::c_int, &[u8], usize) {
            (libc::SOL_UDP, UDP_GRO, &size[..], short)
        }
        let meta = parse(&[pkt, gro(&three, 0)], 0, true);
        assert_eq!((meta.segment_size, meta.ifindex), (Some(3), Some(3)));
        assert_eq!(parse(&[pkt], 0, true).segment_size, None);
        assert_eq!(
            parse(&[gro(&nine, 0)], 0, true).segment_size,
            None,
            "one datagram"
        );
        assert_eq!(
            parse(&[gro(&three, 1)], 0, true).segment_size,
            None,
            "short"
        );
        let cut = parse(&[pkt, gro(&three, 0)], libc::MSG_CTRUNC, true);
        assert_eq!(cut.segment_size, None);
    }
}
