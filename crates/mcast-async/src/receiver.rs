//! The tokio multicast receiver, over one socket or, for many groups, several.

use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use mcast_core::addr::{Group, Source};
use mcast_core::iface::IfaceSpec;
use mcast_core::RecvMeta;
use mcast_sync::{Joined, RecvBatch, RecvBufferReport, ResolvedIface, SocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::error::io;
use crate::{DatagramStream, Error, FrameStream};

/// Options for an async [`Receiver`]: the same as mcast-sync's
/// [`ReceiverBuilder`](mcast_sync::ReceiverBuilder) (port, groups, interface, SSM sources,
/// buffer, read timeout, ...), but [`ReceiverBuilder::build`] returns the tokio [`Receiver`]:
/// an async builder cannot yield blocking sockets.
///
/// ```
/// use std::time::Duration;
/// use mcast_async::Receiver;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rx: mcast_async::Receiver = Receiver::builder(43011)
///     .group("224.1.1.5".parse()?)
///     .iface("127.0.0.1".parse()?)
///     .read_timeout(Some(Duration::from_millis(10)))
///     .build()?;
/// # Ok(())
/// # }
/// ```
///
/// The builder never gives a blocking receiver:
///
/// ```compile_fail
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rx: mcast_sync::Receiver = mcast_async::Receiver::builder(43011)
///     .group("224.1.1.5".parse()?)
///     .iface("127.0.0.1".parse()?)
///     .build()?;
/// # Ok(())
/// # }
/// ```
///
/// For a blocking receiver moved onto tokio, use [`Receiver::from_sync`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ReceiverBuilder(mcast_sync::ReceiverBuilder);

impl ReceiverBuilder {
    /// Adds a group to join.
    pub fn group(self, group: Group) -> Self {
        Self(self.0.group(group))
    }

    /// Adds groups to join (e.g. a `GroupRange::iter()`).
    pub fn groups(self, groups: impl IntoIterator<Item = Group>) -> Self {
        Self(self.0.groups(groups))
    }

    /// The interface to join on (see [`mcast_sync::ReceiverBuilder::iface`]; default
    /// [`IfaceSpec::Any`], the kernel's choice).
    pub fn iface(self, iface: IfaceSpec) -> Self {
        Self(self.0.iface(iface))
    }

    /// The interfaces to join on: every group is joined on each (see
    /// [`mcast_sync::ReceiverBuilder::ifaces`]).
    pub fn ifaces(self, ifaces: impl IntoIterator<Item = IfaceSpec>) -> Self {
        Self(self.0.ifaces(ifaces))
    }

    /// Adds a source: every group is then joined source-specifically, once per source.
    pub fn source(self, source: Source) -> Self {
        Self(self.0.source(source))
    }

    /// Adds sources (see [`ReceiverBuilder::source`]).
    pub fn sources(self, sources: impl IntoIterator<Item = Source>) -> Self {
        Self(self.0.sources(sources))
    }

    /// The local address to bind (see [`mcast_sync::ReceiverBuilder::bind_addr`]).
    pub fn bind_addr(self, addr: IpAddr) -> Self {
        Self(self.0.bind_addr(addr))
    }

    /// Asks for a receive buffer of this many bytes per socket (see
    /// [`mcast_sync::ReceiverBuilder::recv_buffer_size`]).
    pub fn recv_buffer_size(self, bytes: usize) -> Self {
        Self(self.0.recv_buffer_size(bytes))
    }

    /// How long [`Receiver::recv_from`], [`Receiver::recv_batch`] and the streams wait before
    /// an error for which [`Error::is_timeout`] holds (default: forever), with tokio's timer.
    pub fn read_timeout(self, timeout: Option<Duration>) -> Self {
        Self(self.0.read_timeout(timeout))
    }

    /// Asks the kernel for each datagram's receive time (see
    /// [`mcast_sync::ReceiverBuilder::timestamps`]).
    pub fn timestamps(self, on: bool) -> Self {
        Self(self.0.timestamps(on))
    }

    /// Asks for coalesced runs of datagrams (UDP GRO; see [`mcast_sync::ReceiverBuilder::gro`]).
    pub fn gro(self, on: bool) -> Self {
        Self(self.0.gro(on))
    }

    /// Asks for each datagram's TTL or hop limit (see
    /// [`mcast_sync::ReceiverBuilder::recv_hop_limit`]).
    pub fn recv_hop_limit(self, on: bool) -> Self {
        Self(self.0.recv_hop_limit(on))
    }

    /// Overrides the per-socket membership limit (see
    /// [`mcast_sync::ReceiverBuilder::groups_per_socket`]).
    pub fn groups_per_socket(self, limit: usize) -> Self {
        Self(self.0.groups_per_socket(limit))
    }

    /// The groups so far.
    pub fn group_list(&self) -> &[Group] {
        self.0.group_list()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// The read timeout so far.
    pub fn timeout(&self) -> Option<Duration> {
        self.0.timeout()
    }

    /// Opens the sockets with mcast-sync's setup, joins every group and registers the sockets
    /// with tokio. When this returns, every join is done.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::net::UdpSocket::from_std`).
    pub fn build(self) -> Result<Receiver, Error> {
        Receiver::from_sync(self.0.build()?)
    }
}

/// A tokio multicast receiver over the sockets mcast-sync set up and joined.
#[derive(Debug)]
pub struct Receiver {
    sockets: Vec<UdpSocket>,
    joined: Joined,
    timeout: Option<Duration>,
    next: usize,
    /// Each socket's latest cumulative `SO_RXQ_OVFL` count (0 until one is known).
    drops: Vec<u32>,
}

impl Drop for Receiver {
    /// Closes the sockets newest first, as mcast-sync's receiver does: the kernel then finds
    /// each group it leaves at the head of the interface's membership list, and leaving even
    /// 100,000 groups stays linear.
    fn drop(&mut self) {
        while self.sockets.pop().is_some() {}
    }
}

impl Receiver {
    /// Starts a builder for a receiver on `port` (mcast-sync's options); its
    /// [`build`](ReceiverBuilder::build) returns this async receiver. The builder's
    /// [`read_timeout`](ReceiverBuilder::read_timeout) is honoured by [`Receiver::recv_from`]
    /// and the streams, with tokio's timer.
    pub fn builder(port: u16) -> ReceiverBuilder {
        ReceiverBuilder(mcast_sync::Receiver::builder(port))
    }

    /// Builds and joins with mcast-sync's setup and registers the sockets with tokio: the same
    /// as [`ReceiverBuilder::build`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn open(builder: ReceiverBuilder) -> Result<Self, Error> {
        builder.build()
    }

    /// Moves a blocking receiver onto tokio, keeping its read timeout (its sockets are made
    /// nonblocking).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn from_sync(receiver: mcast_sync::Receiver) -> Result<Self, Error> {
        let timeout = receiver.read_timeout();
        let (std_sockets, joined) = receiver.into_parts();
        let mut sockets = Vec::with_capacity(std_sockets.len());
        for s in std_sockets {
            mcast_sync::setup::set_nonblocking(&s)?;
            sockets.push(
                UdpSocket::from_std(s)
                    .map_err(|e| io("cannot register the socket with tokio", e))?,
            );
        }
        Ok(Self {
            drops: vec![0; sockets.len()],
            sockets,
            joined,
            timeout,
            next: 0,
        })
    }

    /// Receives the next datagram from any of the sockets into `buf`. Returns its length and
    /// metadata: the sender, the group it was sent to and the interface index.
    ///
    /// A datagram longer than `buf` is never cut silently: the call fails with
    /// [`mcast_sync::Error::Truncated`] (its first `buf.len()` bytes are in `buf`, its full
    /// length in the error's metadata). A buffer of 65,535 bytes holds any UDP datagram.
    ///
    /// With a [read timeout](Self::read_timeout), fails with an error for which
    /// [`Error::is_timeout`] holds (`mcast_sync::Error::TimedOut`) when no datagram arrives
    /// in time; call again to go on waiting.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. A datagram is read from a socket only inside a poll that
    /// then returns it at once, so if `recv_from` is used as the event in a
    /// [`select!`](https://docs.rs/tokio/1/tokio/macro.select.html) and another branch completes first, no datagram has been taken
    /// off any socket.
    pub async fn recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, RecvMeta), Error> {
        let timeout = self.timeout;
        with_timeout(timeout, poll_fn(|cx| self.poll_recv_from(cx, buf))).await
    }

    /// Polls every socket, round-robin, for a datagram. On `Pending`, each socket will wake the
    /// task when it becomes readable. This is the building block of [`Receiver::recv_from`]
    /// and the streams; it applies no read timeout.
    ///
    /// A datagram is read (inside tokio's `try_io`) only when the poll returns it, so dropping
    /// the caller between polls loses nothing.
    pub fn poll_recv_from(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<(usize, RecvMeta), Error>> {
        let capacity = buf.len();
        let recv_one = |state: &SocketState, fd: BorrowedFd<'_>| {
            let meta = state.recv(fd, buf)?;
            Ok((meta, Visit::Stop, meta.kernel_drops))
        };
        let meta = ready!(self.poll_sockets(cx, recv_one))?;
        Poll::Ready(mcast_sync::receiver::whole(meta, capacity).map_err(Error::Socket))
    }

    /// Waits until any of the sockets is readable and receives as many queued datagrams as
    /// fit `batch`, with `recvmmsg` (many datagrams per system call, see
    /// [`SocketState::recv_batch`]). The batch is cleared first; on success it holds at least
    /// one datagram, each with the same metadata [`Receiver::recv_from`] gives (sender, group,
    /// interface index). Returns how many it holds.
    ///
    /// The sockets are visited round-robin, as `recv_from` visits them, and the batch is
    /// filled from every readable one in turn until it is full; datagrams of one socket keep
    /// their arrival order. Nothing is allocated: the caller owns every buffer (see
    /// [`RecvBatch`]). A datagram longer than [`RecvBatch::buf_len`] is cut to it, as
    /// `recv_from` cuts it to its buffer, and [`RecvBatch::is_truncated`] tells it apart.
    ///
    /// # Errors
    ///
    /// With a [read timeout](Self::read_timeout), an error for which [`Error::is_timeout`]
    /// holds (`mcast_sync::Error::TimedOut`) when no datagram arrives in time, exactly as
    /// `recv_from` fails; call again to go on waiting. An I/O error when receiving fails
    /// before any datagram of this call arrived (after some, the call returns what it has).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. Datagrams are taken off a socket only inside the poll that
    /// then returns them at once, so if `recv_batch` is used as the event in a
    /// [`select!`](https://docs.rs/tokio/1/tokio/macro.select.html) and another branch completes first, no datagram has been taken off
    /// any socket (the batch is then left empty).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcast_async::{Receiver, RecvBatch, Sender};
    /// use mcast_core::addr::Group;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let lo: mcast_core::iface::IfaceSpec = "127.0.0.1".parse()?;
    /// let group: Group = "224.1.1.5".parse()?;
    /// let mut rx = Receiver::builder(41223)
    ///     .group(group)
    ///     .iface(lo.clone())
    ///     .read_timeout(Some(Duration::from_secs(2)))
    ///     .build()?;
    /// let tx = Sender::builder(group, 41223).iface(lo).ttl(0).build()?;
    /// for i in 0..8 {
    ///     tx.send(format!("datagram {i}").as_bytes()).await?;
    /// }
    /// let mut batch = RecvBatch::new(32, 1500);
    /// let mut got = 0;
    /// while got < 8 {
    ///     // Fails (`is_timeout()`) after 2 s without a datagram.
    ///     let n = rx.recv_batch(&mut batch).await?;
    ///     assert!(n >= 1);
    ///     for (bytes, meta) in batch.iter() {
    ///         println!("[{:?}] {} bytes from {}", meta.destination, bytes.len(), meta.source);
    ///         assert_eq!(bytes, format!("datagram {got}").as_bytes());
    ///         got += 1;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn recv_batch(&mut self, batch: &mut RecvBatch) -> Result<usize, Error> {
        let timeout = self.timeout;
        with_timeout(timeout, poll_fn(|cx| self.poll_recv_batch(cx, batch))).await
    }

    /// Polls every socket, round-robin, and fills `batch` (cleared first) from every readable
    /// one until it is full; ready with how many datagrams it holds (at least one). On
    /// `Pending`, the batch is empty and each socket will wake the task when it becomes
    /// readable. This is the building block of [`Receiver::recv_batch`]; it applies no read
    /// timeout.
    ///
    /// Datagrams are read (inside tokio's `try_io`) only when the poll returns them, so
    /// dropping the caller between polls loses nothing.
    pub fn poll_recv_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut RecvBatch,
    ) -> Poll<Result<usize, Error>> {
        batch.clear();
        ready!(self.poll_sockets(cx, |state, fd| {
            let before = batch.len();
            state.recv_batch(fd, batch)?;
            let visit = if batch.is_full() {
                Visit::Stop
            } else {
                Visit::Next
            };
            let drops = batch.metas()[before..]
                .iter()
                .rev()
                .find_map(|m| m.kernel_drops);
            Ok(((), visit, drops))
        }))?;
        Poll::Ready(Ok(batch.len()))
    }

    /// The receive loop shared by [`Receiver::poll_recv_from`] and
    /// [`Receiver::poll_recv_batch`]: visits every socket once, round-robin from `self.next`,
    /// and on each readable one runs `op` inside tokio's `try_io`, so readiness is cleared
    /// (and the waker registered) when `op` finds nothing queued (`WouldBlock`).
    ///
    /// `op` is called only when a socket is readable and takes datagrams only when it
    /// returns `Ok`, with a value, whether to stop or go on to the next socket, and the latest
    /// cumulative kernel drop count the datagrams carried (kept as that socket's). Ready with
    /// the last successful `op`'s value once the visit ended (stopped, all sockets visited,
    /// or an error after a success, which is dropped as the blocking receiver drops it); ready
    /// with the error when one comes first; `Pending` when no socket had anything (every socket is
    /// then registered to wake the task). The next visit starts one past the first socket
    /// that gave something, so a busy socket cannot starve the rest.
    fn poll_sockets<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&SocketState, BorrowedFd<'_>) -> std::io::Result<(T, Visit, Option<u32>)>,
    ) -> Poll<Result<T, Error>> {
        let n = self.sockets.len();
        let state = self.joined.state();
        // The first socket that gave something, and the last value.
        let mut got: Option<(usize, T)> = None;
        for k in 0..n {
            let i = (self.next + k) % n;
            match poll_socket(&self.sockets[i], cx, |fd| op(state, fd)) {
                Poll::Pending => continue,
                Poll::Ready(Ok((value, visit, drops))) => {
                    if let Some(d) = drops {
                        self.drops[i] = d;
                    }
                    let first = got.map_or(i, |(first, _)| first);
                    got = Some((first, value));
                    if visit == Visit::Stop {
                        break;
                    }
                }
                Poll::Ready(Err(_)) if got.is_some() => break,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(io("cannot receive", e))),
            }
        }
        match got {
            Some((first, value)) => {
                self.next = (first + 1) % n;
                Poll::Ready(Ok(value))
            }
            None => Poll::Pending,
        }
    }

    /// The read timeout of [`Receiver::recv_from`] and the streams (`None`: wait forever).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Changes the read timeout (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The groups joined.
    pub fn groups(&self) -> &[Group] {
        self.joined.groups()
    }

    /// The SSM sources joined (empty: any source).
    pub fn sources(&self) -> &[Source] {
        self.joined.sources()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.joined.port()
    }

    /// The interface joined on, resolved (the first, when there are several).
    pub fn iface(&self) -> &ResolvedIface {
        self.joined.iface()
    }

    /// Every interface joined on, resolved, the first one first.
    pub fn ifaces(&self) -> impl Iterator<Item = &ResolvedIface> + '_ {
        self.joined.ifaces()
    }

    /// Joins `group` too, as mcast-sync's [`Receiver::join`](mcast_sync::Receiver::join)
    /// does (same rules and errors: a receiver meant to take more groups later is built with
    /// [`ReceiverBuilder::bind_addr`] `0.0.0.0` or `::`). When this returns, the join is done.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcast_async::{Receiver, Sender};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let lo: mcast_async::core::iface::IfaceSpec = "127.0.0.1".parse()?;
    /// let (a, b) = ("239.255.43.3".parse()?, "239.255.43.4".parse()?);
    /// let mut rx = Receiver::builder(43013)
    ///     .group(a)
    ///     .iface(lo.clone())
    ///     .bind_addr("0.0.0.0".parse()?)
    ///     .read_timeout(Some(Duration::from_secs(2)))
    ///     .build()?;
    /// rx.join(b)?;
    /// Sender::builder(b, 43013).iface(lo).ttl(0).build()?.send(b"to b").await?;
    /// let mut buf = [0u8; 1500];
    /// let (n, meta) = rx.recv_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], meta.destination), (&b"to b"[..], Some(b.addr())));
    /// rx.leave(a)?;
    /// assert_eq!(rx.groups(), [b]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&mut self, group: Group) -> Result<(), Error> {
        for sock in self.joined.join(&self.sockets, group)? {
            mcast_sync::setup::set_nonblocking(&sock)?;
            self.sockets.push(
                UdpSocket::from_std(sock)
                    .map_err(|e| io("cannot register the socket with tokio", e))?,
            );
            self.drops.push(0);
        }
        Ok(())
    }

    /// Leaves `group`, as mcast-sync's [`Receiver::leave`](mcast_sync::Receiver::leave) does.
    pub fn leave(&mut self, group: Group) -> Result<(), Error> {
        Ok(self.joined.leave(&self.sockets, group)?)
    }

    /// The receiver's sockets, to read an option this crate does not offer. There is no
    /// `AsFd` for the receiver: past the kernel's per-socket membership limit it holds several
    /// sockets (see [`Receiver::socket_count`]).
    pub fn fds(&self) -> impl ExactSizeIterator<Item = BorrowedFd<'_>> + '_ {
        self.sockets.iter().map(AsFd::as_fd)
    }

    /// How many sockets carry the joins (more than one past `igmp_max_memberships` groups).
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// The receive buffer the kernel granted per socket, when one was asked for
    /// ([`ReceiverBuilder::recv_buffer_size`]).
    pub fn recv_buffer_size(&self) -> Option<usize> {
        self.joined.recv_buffer_size()
    }

    /// What came of the receive buffer request ([`ReceiverBuilder::recv_buffer_size`]): asked,
    /// granted, `net.core.rmem_max`, and whether `SO_RCVBUFFORCE` passed the cap. `None` when
    /// no size was asked for.
    pub fn recv_buffer_report(&self) -> Option<RecvBufferReport> {
        self.joined.recv_buffer_report()
    }

    /// How many datagrams the kernel dropped because a socket's receive buffer was full, summed
    /// over the receiver's sockets (`SO_RXQ_OVFL`), as mcast-sync's `Receiver::kernel_drops`
    /// counts them: each socket's count is the cumulative one the latest datagram received from
    /// it carried.
    pub fn kernel_drops(&self) -> u64 {
        self.drops.iter().map(|&d| u64::from(d)).sum()
    }

    /// The first socket's local address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        let sock = self.sockets.first().ok_or(mcast_sync::Error::NoGroups)?;
        sock.local_addr()
            .map_err(|e| io("cannot read the local address", e))
    }

    /// A [`Stream`](crate::Stream) of raw datagrams with their metadata. The read timeout carries
    /// over: see [`DatagramStream`].
    pub fn into_datagrams(self) -> DatagramStream {
        DatagramStream::new(self)
    }

    /// A [`Stream`](crate::Stream) of decoded frames with their metadata; malformed datagrams are
    /// yielded as [`Error::Frame`] and the stream goes on. The read timeout carries over: see
    /// [`FrameStream`].
    pub fn into_frames(self) -> FrameStream {
        FrameStream::new(self)
    }
}

/// What [`Receiver::poll_sockets`] does after a successful receive on one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Return what was received.
    Stop,
    /// Go on to the next socket.
    Next,
}

/// Polls one socket: while it is readable, runs `op` inside `try_io`. A `WouldBlock` from `op`
/// clears the readiness, and the next `poll_recv_ready` registers the waker and is `Pending`.
fn poll_socket<T>(
    sock: &UdpSocket,
    cx: &mut Context<'_>,
    mut op: impl FnMut(BorrowedFd<'_>) -> std::io::Result<T>,
) -> Poll<std::io::Result<T>> {
    loop {
        ready!(sock.poll_recv_ready(cx))?;
        match sock.try_io(Interest::READABLE, || op(sock.as_fd())) {
            // Readiness was cleared: poll again so the waker is registered.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            result => return Poll::Ready(result),
        }
    }
}

/// Runs a receive future under the receiver's read timeout (`None`: no timeout).
async fn with_timeout<T>(
    timeout: Option<Duration>,
    receive: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(timeout) = timeout else {
        return receive.await;
    };
    match tokio::time::timeout(timeout, receive).await {
        Ok(result) => result,
        Err(_elapsed) => Err(timed_out(timeout)),
    }
}

/// The error a read timeout yields (the blocking receiver's, so [`Error::is_timeout`] holds).
pub(crate) fn timed_out(timeout: Duration) -> Error {
    Error::Socket(mcast_sync::Error::TimedOut(timeout))
}
