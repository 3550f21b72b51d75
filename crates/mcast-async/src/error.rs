//! Errors of the async adapter: the blocking adapter's, plus malformed frames.

use mcast_core::frame::FrameError;
use mcast_core::RecvMeta;

/// An error from the async adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up, joining, sending or receiving failed (see [`mcast_sync::Error`]).
    #[error(transparent)]
    Socket(#[from] mcast_sync::Error),
    /// A datagram arrived that is not a valid frame. A [`crate::FrameStream`] yields this and
    /// goes on with the next datagram.
    #[error("malformed frame from {} to {}", meta.source, meta.destination.map_or_else(|| "?".to_owned(), |d| d.to_string()))]
    Frame {
        /// Where the datagram came from and went to (boxed: it is large, and errors travel in
        /// every `Result`).
        meta: Box<RecvMeta>,
        /// What is wrong with it.
        source: FrameError,
    },
    /// A frame given to a [`crate::FrameSink`] cannot be encoded (a payload or tag too long).
    #[error("cannot encode the frame: {0}")]
    Encode(FrameError),
}

impl Error {
    /// A one-line hint for the known traps, when one applies (see [`mcast_sync::Error::hint`]).
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Socket(e) => e.hint(),
            Self::Frame { .. } => Some(
                "the sender sends raw datagrams, or another program uses the group and port".into(),
            ),
            Self::Encode(_) => None,
        }
    }

    /// Whether this is a read timeout of the underlying receiver.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Socket(e) if e.is_timeout())
    }
}

pub(crate) fn io(context: &'static str, source: std::io::Error) -> Error {
    Error::Socket(mcast_sync::Error::Io { context, source })
}
