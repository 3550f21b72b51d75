//! Sending batches: UDP GSO (`UDP_SEGMENT`) and `sendmmsg`.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::SockAddr;

use super::recv::{CmsgBuf, CMSG_BUF_LEN};

/// `UDP_SEGMENT` from `<linux/udp.h>`.
pub(super) const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_MAX_SEGMENTS` from `<linux/udp.h>`.
pub(super) const MAX_GSO_SEGMENTS: usize = 64;
/// How many datagrams one `sendmmsg` carries at most (its arrays live on the stack, about
/// 5 KiB).
pub(super) const MMSG_SEND_CHUNK: usize = 64;
/// The most payload one GSO send may carry: an IPv6 datagram's 65,535 bytes less the UDP and
/// IPv6 headers (IPv4's limit is larger by 20).
pub(super) const MAX_GSO_BYTES: usize = 65_535 - 8 - 40;

/// Whether the kernel refused `UDP_SEGMENT` itself, for this socket for good: `EIO` (no checksum
/// offload on the route, UDP-Lite, IPsec), `EINVAL` (checksums switched off with `SO_NO_CHECK`),
/// `EOPNOTSUPP`/`ENOPROTOOPT` (a kernel without UDP GSO).
pub(super) fn gso_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
    )
}

/// One `sendmsg` carrying `data` as datagrams of `seg` bytes (the last may be shorter).
pub(super) fn send_gso(
    sock: BorrowedFd<'_>,
    destination: SocketAddr,
    data: &[u8],
    seg: usize,
) -> io::Result<()> {
    let seg = u16::try_from(seg).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let addr = SockAddr::from(destination);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut control = CmsgBuf([0; CMSG_BUF_LEN]);
    // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = addr.as_ptr().cast_mut().cast();
    msg.msg_namelen = addr.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
    // SAFETY: the control buffer is aligned and larger than one u16 cmsg; CMSG_* stay inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
    }
    // SAFETY: every pointer in `msg` points to live buffers of the lengths given; the kernel
    // only reads them.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One `sendmmsg` of the first datagrams of `data` (up to [`MMSG_SEND_CHUNK`]), cut into `seg`
/// bytes each (the last may be shorter). Returns how many datagrams went out and how many bytes
/// of `data` they held; the kernel may send fewer than asked (an error after the first message
/// ends its call and is left for the next one to see).
pub(super) fn send_mmsg(
    sock: BorrowedFd<'_>,
    destination: SocketAddr,
    data: &[u8],
    seg: usize,
) -> io::Result<(usize, usize)> {
    let addr = SockAddr::from(destination);
    // Only the first `init` entries are initialised (and zeroed): a short transmit costs a few
    // headers, not 64.
    let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MMSG_SEND_CHUNK];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MMSG_SEND_CHUNK];
    // How many headers the loop below really initialised: the only count passed to the kernel,
    // so no uninitialised header can ever reach sendmmsg.
    let mut init = 0;
    for (chunk, (iov, hdr)) in data.chunks(seg).zip(iovs.iter_mut().zip(hdrs.iter_mut())) {
        let iov = iov.write(libc::iovec {
            iov_base: chunk.as_ptr().cast_mut().cast(),
            iov_len: chunk.len(),
        });
        // SAFETY: mmsghdr is plain data; all-zero is a valid value, the fields are set below.
        let hdr = hdr.write(unsafe { mem::zeroed() });
        let msg = &mut hdr.msg_hdr;
        msg.msg_name = addr.as_ptr().cast_mut().cast();
        msg.msg_namelen = addr.len();
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        init += 1;
    }
    if init == 0 {
        return Ok((0, 0));
    }
    // SAFETY: the loop above initialised exactly the first `init` headers (counted, not
    // assumed); they point to `addr`, to `iovs` and through them to `data`, all live for the
    // call and only read by the kernel (it writes only each header's `msg_len`).
    let n = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            init as libc::c_uint,
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = (n as usize).min(init);
    if n == 0 {
        // The kernel reports an error rather than sending nothing; never loop on it.
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "sendmmsg sent no datagram",
        ));
    }
    Ok((n, (n * seg).min(data.len())))
}
