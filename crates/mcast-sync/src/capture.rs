//! Capturing link-layer frames for `mcast sniff`: an `AF_PACKET` socket bound to one interface.
//!
//! ```no_run
//! use std::time::Duration;
//! use mcast_sync::capture::{Capture, Filter};
//! let mut cap = Capture::open(&"veth-a".parse()?)?;
//! cap.set_filter(Filter { port: Some(50001), group: None });
//! cap.set_timeout(Duration::from_millis(200))?;
//! let mut buf = vec![0u8; 65536];
//! while let Some(frame) = cap.next(&mut buf)? {
//!     println!("{} bytes at {:?}", frame.len, frame.timestamp);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What a [`Capture`] delivers:
//! - every frame seen on the interface in either direction, starting with its link header
//!   (Ethernet on Ethernet-like links, including `lo`, where the header is all zeros);
//! - on a loopback interface only the incoming copy: the kernel shows each looped packet twice
//!   (once `PACKET_OUTGOING`, once incoming), and the outgoing copy is dropped;
//! - only frames the [`Filter`] accepts. The exact check happens in user space, on the bytes;
//!   on Ethernet-like links a classic BPF program that accepts a superset of the filter (all
//!   IPv6 and VLAN-tagged frames, IPv4 checked exactly) spares the kernel most of the copying.
//!
//! The socket also asks the interface for all multicast traffic (`PACKET_MR_ALLMULTI`), so groups
//! this host has not joined are seen too; the kernel undoes that when the socket closes.
//!
//! Each frame's time is the kernel's receive timestamp (`SO_TIMESTAMPNS`, the same clock and
//! the same moment tcpdump reports), not the time user space got to it. A VLAN tag the driver
//! stripped into the packet's metadata (as veth and most NICs do) is put back into the frame
//! from `PACKET_AUXDATA`, as libpcap does, so the frame reads as it was on the wire.
//!
//! Opening needs `CAP_NET_RAW`; without it [`CaptureError::NotPermitted`] carries a hint.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use mcast_core::iface::IfaceSpec;
use mcast_core::packet::filter::BpfInsn;
use socket2::{Domain, Socket, Type};

use crate::ifaces::{self, IfaceLookupError, Interface};

/// The hint shown when a capture socket may not be opened.
pub const NOT_PERMITTED_HINT: &str =
    "sniffing needs root or CAP_NET_RAW (try sudo, or setcap cap_net_raw+ep $(which mcast))";

/// The read timeout a new [`Capture`] starts with.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// Why capturing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The process lacks `CAP_NET_RAW` (`EPERM`/`EACCES` from `socket(AF_PACKET, …)`).
    #[error("cannot open a packet capture socket")]
    NotPermitted(#[source] io::Error),
    /// The interface could not be found.
    #[error(transparent)]
    Iface(#[from] IfaceLookupError),
    /// Creating or configuring the socket failed for another reason.
    #[error("cannot open a packet capture socket")]
    Open(#[source] io::Error),
    /// Binding to the interface failed (it vanished, or is down).
    #[error("cannot capture on {iface}")]
    Bind {
        /// The interface's name.
        iface: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// Reading a frame failed.
    #[error("capture on {iface} failed")]
    Recv {
        /// The interface's name.
        iface: String,
        /// What the kernel said.
        source: io::Error,
    },
}

impl CaptureError {
    /// A line telling the user how to fix a known trap, if this is one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::NotPermitted(_) => Some(NOT_PERMITTED_HINT),
            Self::Bind { source, .. } if source.raw_os_error() == Some(libc::ENETDOWN) => {
                Some("the interface is down: ip link set IFACE up")
            }
            _ => None,
        }
    }
}

/// Which way a captured frame went (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// Addressed to this host (`PACKET_HOST`).
    Host,
    /// Link-layer broadcast (`PACKET_BROADCAST`).
    Broadcast,
    /// Link-layer multicast (`PACKET_MULTICAST`).
    Multicast,
    /// Addressed to another host, seen in promiscuous mode (`PACKET_OTHERHOST`).
    OtherHost,
    /// Sent by this host (`PACKET_OUTGOING`).
    Outgoing,
    /// Another value.
    Other(u8),
}

impl Direction {
    /// Decodes `sll_pkttype`.
    pub fn from_pkttype(t: u8) -> Self {
        match t {
            0 => Self::Host,
            1 => Self::Broadcast,
            2 => Self::Multicast,
            3 => Self::OtherHost,
            4 => Self::Outgoing,
            other => Self::Other(other),
        }
    }
}

/// One captured frame; its bytes are `buf[..len]` of the buffer passed to [`Capture::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapturedFrame {
    /// Bytes stored in the buffer.
    pub len: usize,
    /// Bytes on the wire; more than `len` when the buffer was too small.
    pub orig_len: usize,
    /// When the kernel received the frame (`SO_TIMESTAMPNS`); the wall clock right after
    /// `recvmsg` only on a kernel that sent no timestamp.
    pub timestamp: SystemTime,
    /// Whether `timestamp` came from the kernel.
    pub kernel_timestamp: bool,
    /// Which way it went.
    pub direction: Direction,
    /// The link's hardware type (`ARPHRD_*`, `sll_hatype`).
    pub hatype: u16,
}

impl CapturedFrame {
    /// Whether the frame starts with a 14-byte Ethernet header (Ethernet and loopback links).
    pub fn is_ethernet(&self) -> bool {
        is_ethernet_hatype(self.hatype)
    }
}

/// Whether a hardware type (`ARPHRD_*`) carries a 14-byte Ethernet header in captures.
pub fn is_ethernet_hatype(hatype: u16) -> bool {
    hatype == libc::ARPHRD_ETHER || hatype == libc::ARPHRD_LOOPBACK
}

/// Which frames a [`Capture`] returns: mcast-core's capture filter, whose
/// [`Filter::bpf_program`] the capture attaches on Ethernet-like links and whose
/// [`Filter::matches`] it checks on every frame.
pub use mcast_core::packet::filter::Filter;

/// The program as the kernel takes it (`struct sock_filter`s, for `SO_ATTACH_FILTER`).
fn sock_filters(prog: &[BpfInsn]) -> Vec<socket2::SockFilter> {
    prog.iter()
        .map(|i| socket2::SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect()
}

/// The hardware type of the interface a packet socket is bound to (`getsockname`).
fn bound_hatype(sock: &Socket) -> io::Result<u16> {
    let mut sll = MaybeUninit::<libc::sockaddr_ll>::zeroed();
    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is valid for `len` bytes.
    let rc = unsafe { libc::getsockname(sock.as_raw_fd(), sll.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised, and getsockname filled it in.
    Ok(unsafe { sll.assume_init() }.sll_hatype)
}

/// `struct packet_mreq` from `<linux/if_packet.h>`.
#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: libc::c_ushort,
    mr_alen: libc::c_ushort,
    mr_address: [libc::c_uchar; 8],
}

/// `PACKET_AUXDATA` from `<linux/if_packet.h>`: a control message per frame with its VLAN tag.
const PACKET_AUXDATA: libc::c_int = 8;
/// `tp_status` bit: `tp_vlan_tci` holds a tag the driver stripped.
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
/// `tp_status` bit: `tp_vlan_tpid` holds the tag's protocol id.
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `struct tpacket_auxdata` from `<linux/if_packet.h>`.
#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// A control buffer for one `SCM_TIMESTAMPNS` and one `PACKET_AUXDATA`, aligned for cmsghdr.
#[repr(C, align(8))]
struct CaptureCmsgBuf([u8; 128]);

// SAFETY: CMSG_SPACE only computes a size.
const _: () = assert!(
    unsafe {
        libc::CMSG_SPACE(size_of::<libc::timespec>() as libc::c_uint) as usize
            + libc::CMSG_SPACE(size_of::<TpacketAuxdata>() as libc::c_uint) as usize
    } <= 128,
    "the capture's control buffer must hold a timestamp and the auxdata"
);

/// Puts a stripped VLAN tag (`tpid`, `tci`) back after the MACs of the `len` frame bytes in
/// `buf`, as libpcap does; returns the new length (the last 4 bytes fall off a full buffer).
fn reinsert_vlan(buf: &mut [u8], len: usize, tpid: u16, tci: u16) -> usize {
    if len < 12 || buf.len() < 16 {
        return len;
    }
    let new_len = (len + 4).min(buf.len());
    buf.copy_within(12..new_len - 4, 16);
    buf[12..14].copy_from_slice(&tpid.to_be_bytes());
    buf[14..16].copy_from_slice(&tci.to_be_bytes());
    new_len
}

/// `struct tpacket_stats` from `<linux/if_packet.h>`.
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    tp_packets: libc::c_uint,
    tp_drops: libc::c_uint,
}

/// Counters the kernel keeps for a capture socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Frames the kernel queued to the socket since the last call (before the user-space filter).
    pub packets: u32,
    /// Frames dropped because the socket's buffer was full, since the last call.
    pub drops: u32,
}

/// An `AF_PACKET` capture socket bound to one interface.
#[derive(Debug)]
pub struct Capture {
    sock: Socket,
    iface: Interface,
    hatype: u16,
    filter: Filter,
    timeout: Duration,
}

impl Capture {
    /// Opens a capture on the interface the user named. [`IfaceSpec::Any`] is an error: pick an
    /// interface first (for example with [`ifaces::default_multicast`]).
    pub fn open(spec: &IfaceSpec) -> Result<Self, CaptureError> {
        let iface = ifaces::resolve(spec)?;
        Self::open_iface(iface)
    }

    /// Opens a capture on the interface with this index.
    pub fn open_index(ifindex: u32) -> Result<Self, CaptureError> {
        Self::open(&IfaceSpec::Index(ifindex))
    }

    /// Opens a capture on an interface already looked up.
    pub fn open_iface(iface: Interface) -> Result<Self, CaptureError> {
        // Protocol 0 at creation: nothing is queued until bind() names the interface, so no
        // frame from another interface slips in first.
        let sock =
            Socket::new(Domain::PACKET, Type::RAW, None).map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => CaptureError::NotPermitted(e),
                _ => CaptureError::Open(e),
            })?;
        let ifindex = libc::c_int::try_from(iface.index)
            .map_err(|_| CaptureError::Iface(IfaceLookupError::NoSuchIndex(iface.index)))?;
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as libc::c_ushort;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll and the length says so.
        let rc = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                std::ptr::addr_of!(sll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(CaptureError::Bind {
                iface: iface.name,
                source: io::Error::last_os_error(),
            });
        }
        // Best effort: see multicast for groups nobody on this host joined. Loopback and some
        // virtual links refuse; capture still works there.
        let mreq = PacketMreq {
            mr_ifindex: ifindex,
            mr_type: libc::PACKET_MR_ALLMULTI as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        // SAFETY: `mreq` is a valid packet_mreq and the length says so.
        let _ = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                std::ptr::addr_of!(mreq).cast(),
                size_of::<PacketMreq>() as libc::socklen_t,
            )
        };
        // Kernel receive times, and the VLAN tag the driver may have moved out of the frame.
        // Both best effort: without them frames come with the user-space time, untagged.
        let _ = crate::setup::recv_timestamps(&sock);
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid int and the length says so.
        let _ = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_AUXDATA,
                std::ptr::addr_of!(one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // A bigger buffer rides out bursts; the kernel clamps it to net.core.rmem_max.
        let _ = sock.set_recv_buffer_size(4 << 20);
        sock.set_read_timeout(Some(DEFAULT_TIMEOUT))
            .map_err(CaptureError::Open)?;
        let hatype = bound_hatype(&sock).map_err(CaptureError::Open)?;
        Ok(Self {
            sock,
            iface,
            hatype,
            filter: Filter::default(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The interface this capture is bound to.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The link's hardware type (`ARPHRD_*`), as the kernel reports it for the bound socket.
    pub fn hatype(&self) -> u16 {
        self.hatype
    }

    /// Whether frames on this link start with an Ethernet header (see [`is_ethernet_hatype`]);
    /// a pcap file of them has link type Ethernet, else raw IP.
    pub fn is_ethernet(&self) -> bool {
        is_ethernet_hatype(self.hatype)
    }

    /// The filter in use.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// Replaces the filter.
    ///
    /// On Ethernet-like links a classic BPF program that accepts a superset of the filter is
    /// also attached, so the kernel drops most unwanted frames before copying them; the exact
    /// check stays in user space. If the kernel refuses the program, filtering is done in user
    /// space alone.
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
        let prog = if self.is_ethernet() {
            filter.bpf_program()
        } else {
            None
        };
        match prog {
            Some(prog) => {
                let _ = self.sock.attach_filter(&sock_filters(&prog));
            }
            None => {
                let _ = self.sock.detach_filter();
            }
        }
    }

    /// How long [`Capture::next`] waits before returning `Ok(None)`; at least 1 ms.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), CaptureError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.sock
            .set_read_timeout(Some(timeout))
            .map_err(CaptureError::Open)?;
        self.timeout = timeout;
        Ok(())
    }

    /// Waits for the next frame that passes the filter and copies it into `buf` (truncated to
    /// `buf.len()`; 65,536 bytes holds any frame). Returns `Ok(None)` when the timeout passed
    /// (or a signal interrupted the wait) without one, so the caller can check its own deadline
    /// and Ctrl-C flag.
    pub fn next(&mut self, buf: &mut [u8]) -> Result<Option<CapturedFrame>, CaptureError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let Some(frame) = self.recv_raw(buf)? else {
                return Ok(None);
            };
            let loopback_copy =
                frame.direction == Direction::Outgoing && frame.hatype == libc::ARPHRD_LOOPBACK;
            if !loopback_copy && self.filter.matches(&buf[..frame.len], frame.is_ethernet()) {
                return Ok(Some(frame));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Reads and resets the kernel's counters for this socket.
    pub fn stats(&self) -> io::Result<CaptureStats> {
        let mut st = TpacketStats::default();
        let mut len = size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` is a valid tpacket_stats buffer and `len` its size.
        let rc = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                std::ptr::addr_of_mut!(st).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CaptureStats {
            packets: st.tp_packets,
            drops: st.tp_drops,
        })
    }

    fn recv_raw(&self, buf: &mut [u8]) -> Result<Option<CapturedFrame>, CaptureError> {
        let mut sll = MaybeUninit::<libc::sockaddr_ll>::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = CaptureCmsgBuf([0; 128]);
        // SAFETY: msghdr is plain data; all-zero is a valid value, the fields are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = sll.as_mut_ptr().cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        // SAFETY: every pointer in `msg` points to live buffers of the lengths given.
        // MSG_TRUNC makes packet sockets return the frame's full length.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(CaptureError::Recv {
                    iface: self.iface.name.clone(),
                    source: err,
                }),
            };
        }
        let mut timestamp = None;
        let mut aux = None;
        // A truncated control buffer may end in stale bytes: then no control message is trusted.
        if msg.msg_flags & libc::MSG_CTRUNC == 0 {
            // SAFETY: recvmsg filled `msg`, whose control buffer `control` is live and aligned;
            // CMSG_* walk only within msg_controllen, and a payload is read only when the
            // message's own length covers it.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    let hdr = &*c;
                    let holds = |size: usize| {
                        hdr.cmsg_len as usize >= libc::CMSG_LEN(size as libc::c_uint) as usize
                    };
                    match (hdr.cmsg_level, hdr.cmsg_type) {
                        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                            if holds(size_of::<libc::timespec>()) =>
                        {
                            let ts: libc::timespec =
                                std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                            timestamp = u64::try_from(ts.tv_sec)
                                .ok()
                                .zip(u32::try_from(ts.tv_nsec).ok())
                                .map(|(s, ns)| SystemTime::UNIX_EPOCH + Duration::new(s, ns));
                        }
                        (libc::SOL_PACKET, PACKET_AUXDATA) if holds(size_of::<TpacketAuxdata>()) => {
                            aux = Some(std::ptr::read_unaligned(
                                libc::CMSG_DATA(c).cast::<TpacketAuxdata>(),
                            ));
                        }
                        _ => {}
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
        }
        // SAFETY: zero-initialised above; recvmsg filled it in on success.
        let sll = unsafe { sll.assume_init() };
        let mut orig_len = usize::try_from(n).unwrap_or(0);
        let mut len = orig_len.min(buf.len());
        let ethernet = is_ethernet_hatype(sll.sll_hatype);
        if let Some(a) = aux.filter(|a| ethernet && a.tp_status & TP_STATUS_VLAN_VALID != 0) {
            let tpid = if a.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                a.tp_vlan_tpid
            } else {
                0x8100
            };
            len = reinsert_vlan(buf, len, tpid, a.tp_vlan_tci);
            orig_len += 4;
        }
        Ok(Some(CapturedFrame {
            len,
            orig_len,
            timestamp: timestamp.unwrap_or_else(SystemTime::now),
            kernel_timestamp: timestamp.is_some(),
            direction: Direction::from_pkttype(sll.sll_pkttype),
            hatype: sll.sll_hatype,
        }))
    }
}

#[cfg(test)]
mod tests {
    use mcast_core::addr::Group;

    use super::*;

    /// The filters the kernel must accept: a port, an IPv4 and an IPv6 group, and a port with
    /// each kind of group.
    fn filters() -> Vec<Filter> {
        let v4: Group = "224.1.1.5".parse().unwrap();
        let v6: Group = "ff15::5".parse().unwrap();
        let f = |port, group| Filter { port, group };
        vec![
            f(Some(50001), None),
            f(None, Some(v4)),
            f(None, Some(v6)),
            f(Some(50001), Some(v4)),
            f(Some(50001), Some(v6)),
        ]
    }

    #[test]
    fn kernel_accepts_every_bpf_program() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "skipping kernel_accepts_every_bpf_program: AF_PACKET needs root or CAP_NET_RAW"
            );
            return;
        }
        let cap = Capture::open_index(1).unwrap();
        for f in filters() {
            let prog = sock_filters(&f.bpf_program().unwrap());
            cap.sock
                .attach_filter(&prog)
                .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        }
    }

    #[test]
    fn vlan_tag_is_put_back_after_the_macs() {
        let mut buf = [0u8; 24];
        let frame: Vec<u8> = (1..=18).collect();
        buf[..18].copy_from_slice(&frame);
        let len = reinsert_vlan(&mut buf, 18, 0x8100, 5);
        assert_eq!(len, 22);
        assert_eq!(buf[..12], frame[..12]);
        assert_eq!(buf[12..16], [0x81, 0x00, 0x00, 0x05]);
        assert_eq!(buf[16..22], frame[12..]);
        // A full buffer loses its last four bytes; a runt stays as it is.
        let mut full = [7u8; 16];
        assert_eq!(reinsert_vlan(&mut full, 16, 0x88a8, 9), 16);
        assert_eq!(full[12..16], [0x88, 0xa8, 0, 9]);
        let mut runt = [1u8; 20];
        assert_eq!(reinsert_vlan(&mut runt, 10, 0x8100, 1), 10);
    }

    #[test]
    fn direction_decodes() {
        assert_eq!(Direction::from_pkttype(4), Direction::Outgoing);
        assert_eq!(Direction::from_pkttype(2), Direction::Multicast);
        assert_eq!(Direction::from_pkttype(9), Direction::Other(9));
        assert!(is_ethernet_hatype(libc::ARPHRD_LOOPBACK));
        assert!(!is_ethernet_hatype(65534)); // ARPHRD_NONE (tun)
    }

    #[test]
    fn opening_names_missing_interface() {
        let err = Capture::open(&IfaceSpec::Name("mcast-nosuch0".into())).unwrap_err();
        assert!(matches!(
            err,
            CaptureError::Iface(IfaceLookupError::NoSuchName(_))
        ));
    }

    /// Loopback capture of a datagram this test sends to itself on 127.0.0.1 (never leaves lo).
    #[test]
    fn loopback_capture_sees_one_copy() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "skipping loopback_capture_sees_one_copy: AF_PACKET needs root or CAP_NET_RAW"
            );
            return;
        }
        let lo = ifaces::list()
            .unwrap()
            .into_iter()
            .find(|i| i.flags.loopback && i.flags.up)
            .expect("lo is up");
        let mut cap = Capture::open_iface(lo).unwrap();
        assert_eq!(cap.hatype(), libc::ARPHRD_LOOPBACK);
        assert!(cap.is_ethernet());
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port_no = rx.local_addr().unwrap().port();
        cap.set_filter(Filter {
            port: Some(port_no),
            group: None,
        });
        cap.set_timeout(Duration::from_millis(100)).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"mcast-capture-test", ("127.0.0.1", port_no))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let mut seen = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(600) {
            if let Some(frame) = cap.next(&mut buf).unwrap() {
                assert!(frame.is_ethernet());
                assert!(
                    frame.kernel_timestamp,
                    "SO_TIMESTAMPNS on the capture socket"
                );
                let age = SystemTime::now().duration_since(frame.timestamp).unwrap();
                assert!(
                    age < Duration::from_secs(2),
                    "a kernel time of now: {age:?}"
                );
                assert_eq!(frame.len, frame.orig_len);
                assert!(buf[..frame.len].ends_with(b"mcast-capture-test"));
                seen += 1;
            }
        }
        assert_eq!(seen, 1, "one datagram on lo must be captured exactly once");
        assert!(cap.stats().is_ok());
    }
}
