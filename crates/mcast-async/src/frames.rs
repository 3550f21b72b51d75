//! Streams of received datagrams and frames, and a sink of outgoing frames. Both keep each
//! datagram's [`RecvMeta`], which tokio-util's `UdpFramed` would drop.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Sink, Stream};
use mcast_core::frame::{self, Flags, FrameError, FrameRepr, Seq, SessionId};
use mcast_core::RecvMeta;

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

/// A [`Stream`] of [`Datagram`]s, from [`Receiver::into_datagrams`].
#[derive(Debug)]
pub struct DatagramStream {
    rx: Receiver,
    buf: Box<[u8]>,
}

impl DatagramStream {
    pub(crate) fn new(rx: Receiver) -> Self {
        Self {
            rx,
            buf: vec![0; MAX_DATAGRAM].into_boxed_slice(),
        }
    }

    /// The receiver underneath.
    pub fn get_ref(&self) -> &Receiver {
        &self.rx
    }
}

impl Stream for DatagramStream {
    type Item = Result<Datagram, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.rx.poll_recv_from(cx, &mut this.buf) {
            Poll::Ready(Ok((n, meta))) => Poll::Ready(Some(Ok(Datagram {
                meta,
                bytes: Bytes::copy_from_slice(&this.buf[..n]),
            }))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
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
        Ok(Self {
            meta,
            flags: repr.flags,
            session: repr.session,
            seq: repr.seq,
            sent_at_ns: repr.sent_at_ns,
            payload: datagram.slice_ref(repr.payload),
            tag: repr.tag.map(|t| datagram.slice_ref(t)),
        })
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
/// is yielded as [`Error::Frame`]; the stream goes on after it.
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
}

impl Stream for FrameStream {
    type Item = Result<ReceivedFrame, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.get_mut().inner).poll_next(cx) {
            Poll::Ready(Some(Ok(d))) => Poll::Ready(Some(
                ReceivedFrame::decode(d.meta, d.bytes).map_err(|source| Error::Frame {
                    meta: d.meta,
                    source,
                }),
            )),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A [`Sink`] of frames, from [`Sender::into_frame_sink`]: each [`FrameRepr`] is encoded with
/// the core's codec into the sink's buffer and sent as one datagram on flush (or before the
/// next frame is accepted).
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

    fn poll_send_buffered(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        match self.tx.poll_send(cx, &self.buf) {
            Poll::Ready(result) => {
                self.buf.clear();
                Poll::Ready(result.map(|_| ()))
            }
            Poll::Pending => Poll::Pending,
        }
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
