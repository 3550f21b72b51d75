//! [`RecvBatch`]: caller-owned buffers for many datagrams, filled by `recvmmsg`.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

use mcast_core::RecvMeta;

use super::recv::{parse_msghdr, CmsgBuf, CMSG_BUF_LEN};

/// How many datagrams one `recvmmsg` asks for at most;
/// [`SocketState::recv_batch`](super::SocketState::recv_batch) loops for more. The
/// `mmsghdr`/`iovec` arrays of one call live on the stack (about 5 KiB).
pub(super) const MMSG_CHUNK: usize = 64;

/// Caller-owned buffers for [`SocketState::recv_batch`](super::SocketState::recv_batch) and
/// [`crate::Receiver::recv_batch`]: `capacity` datagram buffers of `buf_len` bytes each, with
/// room for each datagram's source address and control messages (`IP_PKTINFO`/`IPV6_PKTINFO`,
/// `SO_RXQ_OVFL`), and the [`RecvMeta`] of each.
///
/// Everything is allocated once, in [`RecvBatch::new`]; receiving into a batch allocates
/// nothing. The `mmsghdr`/`iovec` arrays the kernel needs hold pointers into these buffers, so
/// they are not stored here but rebuilt on the stack on every call (which is cheap, and keeps
/// the batch free of self-references and `Send`).
///
/// A datagram longer than `buf_len` is cut to `buf_len` bytes, exactly as
/// [`crate::Receiver::recv`] cuts it to its buffer: its [`RecvMeta::len`] is then `buf_len`,
/// and [`RecvBatch::is_truncated`] tells it apart.
///
/// ```
/// use mcast_sync::RecvBatch;
/// let batch = RecvBatch::new(32, 1500);
/// assert_eq!(batch.capacity(), 32);
/// assert!(batch.is_empty());
/// for (bytes, meta) in batch.iter() {
///     println!("{} bytes from {}: {bytes:?}", meta.len, meta.source);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RecvBatch {
    pub(super) data: Vec<u8>,
    pub(super) buf_len: usize,
    pub(super) names: Vec<SockaddrBuf>,
    pub(super) controls: Vec<CmsgBuf>,
    pub(super) metas: Vec<RecvMeta>,
    pub(super) truncated: Vec<bool>,
    pub(super) len: usize,
}

/// A `sockaddr_storage`, initialised once so the kernel's partial writes leave no uninitialised
/// bytes behind.
#[derive(Clone, Copy)]
pub(super) struct SockaddrBuf(libc::sockaddr_storage);

impl std::fmt::Debug for SockaddrBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SockaddrBuf")
    }
}

impl RecvBatch {
    /// Room for `capacity` datagrams (at least 1) of up to `buf_len` bytes each (at least 1).
    /// 65,535 bytes holds any UDP datagram; 1,500 an unfragmented one on Ethernet.
    ///
    /// # Panics
    ///
    /// When `capacity * buf_len` bytes cannot be addressed (it overflows `usize`), as `vec!`
    /// panics for an impossible size.
    pub fn new(capacity: usize, buf_len: usize) -> Self {
        let capacity = capacity.max(1);
        let buf_len = buf_len.max(1);
        // The receive path relies on `data` holding exactly `capacity` slots of `buf_len`.
        let data_len = capacity
            .checked_mul(buf_len)
            .expect("RecvBatch::new: capacity * buf_len overflows usize");
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let zero_name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let placeholder = RecvMeta::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), 0);
        Self {
            data: vec![0; data_len],
            buf_len,
            names: vec![SockaddrBuf(zero_name); capacity],
            controls: vec![CmsgBuf([0; CMSG_BUF_LEN]); capacity],
            metas: vec![placeholder; capacity],
            truncated: vec![false; capacity],
            len: 0,
        }
    }

    /// How many datagrams the batch can hold.
    pub fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// The size of each datagram buffer.
    pub fn buf_len(&self) -> usize {
        self.buf_len
    }

    /// How many datagrams the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the batch is full.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Forgets the datagrams held (the buffers stay allocated).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The `i`th datagram held: its bytes (`meta.len` of them) and metadata.
    pub fn get(&self, i: usize) -> Option<(&[u8], &RecvMeta)> {
        let meta = self.metas[..self.len].get(i)?;
        let start = i * self.buf_len;
        Some((&self.data[start..start + meta.len.min(self.buf_len)], meta))
    }

    /// Whether the `i`th datagram was longer than [`RecvBatch::buf_len`] and cut to it
    /// (`MSG_TRUNC`); false when there is no `i`th datagram.
    pub fn is_truncated(&self, i: usize) -> bool {
        self.truncated[..self.len].get(i).copied().unwrap_or(false)
    }

    /// The metadata of the datagrams held, in arrival order.
    pub fn metas(&self) -> &[RecvMeta] {
        &self.metas[..self.len]
    }

    /// The datagrams held, in arrival order, with a run that UDP GRO coalesced into one slot
    /// ([`RecvMeta::segment_size`]) cut back into its datagrams: bytes and metadata, each
    /// datagram's `len` its own and `segment_size` `None`. This is what a receiver wants
    /// whether or not GRO is on ([`crate::ReceiverBuilder::gro`]). A zero-length datagram
    /// is one datagram of no bytes.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], RecvMeta)> + '_ {
        self.iter().flat_map(|(bytes, meta)| {
            let seg = meta.segment_size.map_or(bytes.len(), usize::from).max(1);
            // At least one: an empty slot is an empty datagram, which `chunks` would skip.
            let n = bytes.len().div_ceil(seg).max(1);
            (0..n).map(move |i| {
                let chunk = &bytes[(i * seg).min(bytes.len())..((i + 1) * seg).min(bytes.len())];
                let mut one = meta.with_segment_size(None);
                one.len = chunk.len();
                (chunk, one)
            })
        })
    }

    /// The slots held, in arrival order: bytes and metadata, one slot per message the kernel
    /// handed over (with UDP GRO a slot may hold several datagrams: see
    /// [`RecvBatch::datagrams`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &RecvMeta)> + '_ {
        self.data
            .chunks_exact(self.buf_len)
            .zip(&self.metas[..self.len])
            .map(|(buf, meta)| (&buf[..meta.len.min(buf.len())], meta))
    }
}

/// One `recvmmsg` into the free slots `batch.len..batch.len + n` (n ≤ [`MMSG_CHUNK`]); returns
/// how many datagrams arrived, with their metadata parsed.
pub(super) fn recvmmsg_chunk(
    sock: BorrowedFd<'_>,
    batch: &mut RecvBatch,
    kernel_drops_on: bool,
) -> io::Result<usize> {
    let first = batch.len;
    let n = (batch.capacity() - first).min(MMSG_CHUNK);
    // Only the first `n` entries are initialised (and zeroed): a batch of one costs one
    // header, not 64.
    let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MMSG_CHUNK];
    let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MMSG_CHUNK];
    let slots = batch
        .data
        .chunks_exact_mut(batch.buf_len)
        .zip(batch.names.iter_mut())
        .zip(batch.controls.iter_mut())
        .skip(first)
        .take(n);
    // How many headers the loop below really initialised: the only count passed to the kernel,
    // whatever `n` says, so no uninitialised header can ever reach recvmmsg.
    let mut init = 0;
    for (((buf, name), control), (iov, hdr)) in slots.zip(iovs.iter_mut().zip(hdrs.iter_mut())) {
        let iov = iov.write(libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        });
        // SAFETY: mmsghdr is plain data; all-zero is a valid value, the fields are set below.
        let hdr = hdr.write(unsafe { mem::zeroed() });
        let msg = &mut hdr.msg_hdr;
        msg.msg_name = std::ptr::from_mut(&mut name.0).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        init += 1;
    }
    debug_assert_eq!(init, n, "every free slot gets a header");
    if init == 0 {
        return Ok(0);
    }
    // SAFETY: the loop above initialised exactly the first `init` headers (counted, not
    // assumed); they point to live, disjoint buffers of the batch (data, name, control) of the
    // lengths given, and to `iovs`, which outlives the call.
    let got = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
            init as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = (got as usize).min(init);
    for (k, hdr) in hdrs[..got].iter().enumerate() {
        // SAFETY: `got` ≤ `init`, so this header was initialised above and recvmmsg filled it.
        let hdr = unsafe { hdr.assume_init_ref() };
        // SAFETY: recvmmsg filled this header; its name and control pointers still point into
        // `batch.names`/`batch.controls` (initialised at construction, not moved since).
        match unsafe { parse_msghdr(&hdr.msg_hdr, hdr.msg_len as usize, kernel_drops_on) } {
            Ok(meta) => {
                batch.metas[first + k] = meta;
                batch.truncated[first + k] = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                batch.len += 1;
            }
            // Datagrams before it are kept; it and those after it are dropped.
            Err(e) if k == 0 => return Err(e),
            Err(_) => return Ok(k),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_batch_sizes_that_overflow_are_refused_not_wrapped() {
        // A wrapped size would leave fewer buffer slots than the batch's capacity, and the
        // receive path would hand the kernel headers it never initialised.
        let r = std::panic::catch_unwind(|| RecvBatch::new(2, usize::MAX / 2 + 2));
        assert!(r.is_err(), "an overflowing RecvBatch must not be built");
    }

    #[test]
    fn recv_batch_sizes_are_clamped_and_empty_batches_answer_nothing() {
        let b = RecvBatch::new(0, 0);
        assert_eq!((b.capacity(), b.buf_len()), (1, 1));
        let b = RecvBatch::new(100, 9000);
        assert_eq!((b.capacity(), b.buf_len(), b.len()), (100, 9000, 0));
        assert!(b.is_empty() && !b.is_full());
        assert!(b.get(0).is_none());
        assert!(!b.is_truncated(0));
        assert!(b.metas().is_empty());
        assert_eq!(b.iter().count(), 0);
    }
}
