//! Datagrams made by hand, sent from a socket pinned to 127.0.0.1 with TTL 0, and the JSON
//! records they draw: shared by the tests that play a sender the tool did not write (`engine`,
//! `hostile`, `auth`).

use mcast_core::frame::{self, EndOfSession, Flags, FrameRepr, Seq, SessionId};
use serde_json::Value;

use crate::util::LO;

/// A sender socket pinned to 127.0.0.1 with TTL 0, for hand-made datagrams to a group.
pub(crate) fn raw_sender(group: &str, port: u16) -> mcast_sync::Sender {
    mcast_sync::Sender::builder(group.parse().unwrap(), port)
        .iface(LO.parse().unwrap())
        .ttl(0)
        .build()
        .unwrap()
}

/// A plain data frame of `session` carrying `payload`.
pub(crate) fn data_frame(session: u32, seq: u64, sent_at_ns: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let repr = FrameRepr {
        flags: Flags::empty(),
        session: SessionId(session),
        seq: Seq(seq),
        sent_at_ns,
        payload,
        tag: None,
    };
    frame::encode(&repr, &mut buf).unwrap();
    buf
}

/// An end-of-session frame of `session`: the stream was `first..end`.
pub(crate) fn end_frame(session: u32, first: u64, end: u64) -> Vec<u8> {
    let end = EndOfSession {
        first: Seq(first),
        end: Seq(end),
    };
    let body = end.payload();
    let mut buf = Vec::new();
    frame::encode(&end.repr(SessionId(session), now_ns(), &body), &mut buf).unwrap();
    buf
}

/// The wall clock, as the tool stamps frames.
pub(crate) fn now_ns() -> u64 {
    mcast_sync::driver::wall_ns()
}

/// The `data` of the last record of `kind`.
pub(crate) fn record(records: &[Value], kind: &str) -> Value {
    records
        .iter()
        .rev()
        .find(|r| r["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} record in {records:#?}"))["data"]
        .clone()
}
