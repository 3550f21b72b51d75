//! Streams of received datagrams and frames, and sinks of outgoing frames. The streams keep
//! each datagram's [`RecvMeta`], which tokio-util's `UdpFramed` would drop.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use mcast_core::frame::{self, Flags, FrameError, FrameRepr, Seq, SessionId};
use mcast_core::session::{self, SenderConfig};
use mcast_core::RecvMeta;
// The send time written into frames: the wall clock the blocking adapter reads too (the core
// never reads a clock).
use mcast_sync::driver::wall_ns;
use tokio::time::Sleep;

use crate::receiver::timed_out;
use crate::{Error, Receiver, Sender};

/// The largest datagram the streams receive whole (a UDP payload cannot be longer).
const MAX_DATAGRAM: usize = 65_535;

/// One received datagram and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender, destination group, interface, length.
    pub meta: RecvMeta,
    /// The payload.
    pub bytes: Bytes,
}

/// A [`Stream`] of [`Datagram`]s, from [`Receiver::into_datagrams`]. It never ends.
///
/// With a [read timeout](Receiver::read_timeout), the stream yields an error for which
/// [`Error::is_timeout`] holds whenever that long passes without a datagram (counted from the
/// first poll after the previous item), and goes on.
///
/// # Cancel safety
///
/// [`StreamExt::next`](https://docs.rs/futures/0.3/futures/stream/trait.StreamExt.html#method.next) is cancel safe: a datagram is taken off a
/// socket only in the poll that yields it, so dropping the `next()` future (a losing
/// [`select!`](https://docs.rs/tokio/1/tokio/macro.select.html) branch) loses nothing. The read-timeout timer is kept in the stream
/// and goes on running across such drops.
#[derive(Debug)]
pub struct DatagramStream {
    rx: Receiver,
    buf: Box<[u8]>,
    /// The read timeout's timer, armed by the first pending poll after an item.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DatagramStream {
    pub(crate) fn new(rx: Receiver) -> Self {
        Self {
            rx,
            buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            sleep: None,
        }
    }

    /// The receiver underneath.
    pub fn get_ref(&self) -> &Receiver {
        &self.rx
    }

    /// The receiver underneath, to join or leave groups, say. Receiving from it directly
    /// takes datagrams the stream then does not see.
    pub fn get_mut(&mut self) -> &mut Receiver {
        &mut self.rx
    }

    /// The receiver back; nothing is lost (the stream holds no datagram between items).
    pub fn into_inner(self) -> Receiver {
        self.rx
    }
}

impl Stream for DatagramStream {
    type Item = Result<Datagram, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = match this.rx.poll_recv_from(cx, &mut this.buf) {
            Poll::Ready(Ok((n, meta))) => Ok(Datagram {
                meta,
                bytes: Bytes::copy_from_slice(&this.buf[..n]),
            }),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => {
                let Some(timeout) = this.rx.read_timeout() else {
                    return Poll::Pending;
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                Err(timed_out(timeout))
            }
        };
        this.sleep = None;
        Poll::Ready(Some(item))
    }
}

/// A received, well-formed frame: the header's values, the payload and tag (sharing one
/// buffer), and the datagram's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Sender, destination group, interface, length.
    pub meta: RecvMeta,
    /// Flag bits other than `AUTH` (see [`FrameRepr::flags`]).
    pub flags: Flags,
    /// The sender's session.
    pub session: SessionId,
    /// The sequence number.
    pub seq: Seq,
    /// The sender's wall clock at send time, ns since the Unix epoch.
    pub sent_at_ns: u64,
    /// The application's bytes.
    pub payload: Bytes,
    /// The authentication tag, when present.
    pub tag: Option<Bytes>,
}

impl ReceivedFrame {
    /// Decodes a datagram with the core's codec.
    pub fn decode(meta: RecvMeta, datagram: Bytes) -> Result<Self, FrameError> {
        let repr = frame::decode(&datagram)?;
        Ok(Self::from_repr(meta, &datagram, &repr))
    }

    /// The frame `repr`, which was decoded from `datagram` (its payload and tag lie inside
    /// it, which they share).
    pub(crate) fn from_repr(meta: RecvMeta, datagram: &Bytes, repr: &FrameRepr<'_>) -> Self {
        Self {
            meta,
            flags: repr.flags,
            session: repr.session,
            seq: repr.seq,
            sent_at_ns: repr.sent_at_ns,
            payload: datagram.slice_ref(repr.payload),
            tag: repr.tag.map(|t| datagram.slice_ref(t)),
        }
    }

    /// The frame as the core's borrowed representation.
    pub fn repr(&self) -> FrameRepr<'_> {
        FrameRepr {
            flags: self.flags,
            session: self.session,
            seq: self.seq,
            sent_at_ns: self.sent_at_ns,
            payload: &self.payload,
            tag: self.tag.as_deref(),
        }
    }
}

/// A [`Stream`] of [`ReceivedFrame`]s, from [`Receiver::into_frames`]. A malformed datagram
/// is yielded as [`Error::Frame`]; the stream goes on after it. It never ends, and yields read
/// timeouts as [`DatagramStream`] does.
///
/// # Cancel safety
///
/// [`StreamExt::next`](https://docs.rs/futures/0.3/futures/stream/trait.StreamExt.html#method.next) is cancel safe, as on [`DatagramStream`].
#[derive(Debug)]
pub struct FrameStream {
    inner: DatagramStream,
}

impl FrameStream {
    pub(crate) fn new(rx: Receiver) -> Self {
        Self {
            inner: DatagramStream::new(rx),
        }
    }

    /// The receiver underneath.
    pub fn get_ref(&self) -> &Receiver {
        self.inner.get_ref()
    }

    /// The receiver underneath, to join or leave groups, say. Receiving from it directly
    /// takes datagrams the stream then does not see.
    pub fn get_mut(&mut self) -> &mut Receiver {
        self.inner.get_mut()
    }

    /// The receiver back; nothing is lost (the stream holds no datagram between items).
    pub fn into_inner(self) -> Receiver {
        self.inner.into_inner()
    }
}

impl Stream for FrameStream {
    type Item = Result<ReceivedFrame, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(Pin::new(&mut self.get_mut().inner).poll_next(cx));
        Poll::Ready(item.map(|datagram| {
            let d = datagram?;
            ReceivedFrame::decode(d.meta, d.bytes).map_err(|source| Error::Frame {
                meta: Box::new(d.meta),
                source,
            })
        }))
    }
}

/// A [`Sink`] of hand-built frames, from [`Sender::into_frame_sink`]: each [`FrameRepr`] is
/// encoded with the core's codec into the sink's buffer and sent as one datagram on flush (or
/// before the next frame is accepted).
///
/// The caller chooses every header field, the sequence number and the send time included; for
/// frames numbered and stamped for you, use [`Sender::into_framed`] ([`FramedSink`]).
///
/// # Cancel safety
///
/// [`SinkExt::send`](https://docs.rs/futures/0.3/futures/sink/trait.SinkExt.html#method.send) is not cancel safe in the strict sense, but
/// loses nothing: if it is dropped after the sink accepted the frame and before the datagram
/// left, the frame stays buffered and goes out (once) with the next `poll_ready`, flush or
/// close.
#[derive(Debug)]
pub struct FrameSink {
    tx: Sender,
    buf: Vec<u8>,
}

impl FrameSink {
    pub(crate) fn new(tx: Sender) -> Self {
        Self {
            tx,
            buf: Vec::new(),
        }
    }

    /// The sender underneath.
    pub fn get_ref(&self) -> &Sender {
        &self.tx
    }

    /// The sender underneath, to change its TTL, say.
    pub fn get_mut(&mut self) -> &mut Sender {
        &mut self.tx
    }

    /// The sender back. A frame accepted but not yet sent is dropped: flush (or close) the
    /// sink first.
    pub fn into_inner(self) -> Sender {
        self.tx
    }

    fn poll_send_buffered(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let result = ready!(self.tx.poll_send(cx, &self.buf));
        self.buf.clear();
        Poll::Ready(result.map(|_| ()))
    }
}

impl<'a> Sink<FrameRepr<'a>> for FrameSink {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: FrameRepr<'a>) -> Result<(), Error> {
        let this = self.get_mut();
        this.buf.clear();
        frame::encode(&item, &mut this.buf).map_err(Error::Encode)?;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }
}

/// A [`Sink`] of payloads that go out as numbered, stamped frames, from
/// [`Sender::into_framed`], as `mcast send --framed` sends them.
///
/// Each payload becomes one datagram: a frame of the sink's session with the next sequence
/// number (from `Seq(0)`, or the first one given to [`Sender::into_framed_with`]) and the
/// wall clock, read just before the datagram is handed to the
/// socket, as its send time. Numbering and encoding are mcast-core's
/// [`session::Sender`](mcast_core::session::Sender). It takes anything that is
/// `AsRef<[u8]>`: `&[u8]`, `&[u8; N]`, `Vec<u8>`, [`Bytes`], `&str`, `String`.
///
/// A payload too long for one datagram ([`SenderConfig::max_payload`]) is refused with
/// [`Error::Encode`] when given to the sink, and uses no sequence number. A datagram that the
/// socket refuses does use its number, as a lost frame would.
///
/// # Cancel safety
///
/// [`SinkExt::send`](https://docs.rs/futures/0.3/futures/sink/trait.SinkExt.html#method.send) is not cancel safe in the strict sense, but
/// loses nothing: if it is dropped after the sink accepted the payload and before the
/// datagram left, the payload stays buffered and goes out (once, stamped when it goes) with
/// the next `poll_ready`, flush or close.
#[derive(Debug)]
pub struct FramedSink {
    tx: Sender,
    core: session::Sender,
    /// The payload accepted, when `pending`.
    payload: Vec<u8>,
    /// Whether `payload` is accepted but not yet sent.
    pending: bool,
    /// The frame for `pending`, encoded once the socket is ready to take it (empty before).
    buf: Vec<u8>,
}

impl FramedSink {
    pub(crate) fn new(tx: Sender, session: SessionId, first_seq: Seq, flags: Flags) -> Self {
        let core = session::Sender::new(SenderConfig {
            session,
            first_seq,
            flags,
            framed: true,
            ..SenderConfig::new(tx.destination())
        });
        Self {
            tx,
            core,
            payload: Vec::new(),
            pending: false,
            buf: Vec::new(),
        }
    }

    /// The sender underneath.
    pub fn get_ref(&self) -> &Sender {
        &self.tx
    }

    /// The sender underneath, to change its TTL, say.
    pub fn get_mut(&mut self) -> &mut Sender {
        &mut self.tx
    }

    /// The sender back. A payload accepted but not yet sent is dropped (and has used no
    /// sequence number): flush (or close) the sink first.
    pub fn into_inner(self) -> Sender {
        self.tx
    }

    /// The session id written into every frame.
    pub fn session(&self) -> SessionId {
        self.core.config().session
    }

    /// The sequence number the next frame gets.
    pub fn next_seq(&self) -> Seq {
        self.core.next_seq()
    }

    /// Frames handed to the socket so far (failed sends included).
    pub fn frames_sent(&self) -> u64 {
        self.core.datagrams_sent()
    }

    /// The longest payload one frame carries (see [`SenderConfig::max_payload`]).
    pub fn max_payload(&self) -> usize {
        self.core.config().max_payload()
    }

    fn poll_send_buffered(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.pending {
            return Poll::Ready(Ok(()));
        }
        if self.buf.is_empty() {
            // Stamp and number the frame only when the socket can take it, so its send time
            // is the time it leaves even after back-pressure.
            ready!(self.tx.poll_send_ready(cx))?;
            if let Err(e) = self
                .core
                .write_datagram(wall_ns(), &self.payload, &mut self.buf)
            {
                // Checked in `start_send`, so this does not happen; never send a stale buffer.
                self.pending = false;
                self.buf.clear();
                return Poll::Ready(Err(Error::Encode(e)));
            }
        }
        let result = ready!(self.tx.poll_send(cx, &self.buf));
        self.pending = false;
        self.buf.clear();
        Poll::Ready(result.map(|_| ()))
    }
}

impl<T: AsRef<[u8]>> Sink<T> for FramedSink {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Error> {
        let this = self.get_mut();
        let payload = item.as_ref();
        this.core.check_payload(payload).map_err(Error::Encode)?;
        this.payload.clear();
        this.payload.extend_from_slice(payload);
        this.pending = true;
        this.buf.clear();
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_buffered(cx)
    }
}
