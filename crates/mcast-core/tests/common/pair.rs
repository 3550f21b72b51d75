//! A sender and a receiver joined by a [`Netem`], on virtual time (quinn's `Pair`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mcast_core::auth::Rejection;
use mcast_core::frame;
use mcast_core::session::{Arrival, Datagram, Receiver, ReceiverConfig, Sender, SenderConfig};
use mcast_core::RecvMeta;

use super::netem::{Netem, NetemConfig};

/// Wall-clock origin of the virtual run: 2023-11-14T22:13:20Z, in ns since the Unix epoch.
pub const EPOCH_NS: u64 = 1_700_000_000_000_000_000;

pub struct Pair {
    pub sender: Sender,
    pub receiver: Receiver,
    pub netem: Netem,
    pub t0: Instant,
    pub now: Instant,
    pub source: SocketAddr,
    /// Arrivals as the receiver classified them, in delivery order.
    pub arrivals: Vec<Arrival>,
    /// End-of-session frames the sender sent. They bypass the netem (so its log holds data
    /// only) and reach the receiver once the network is empty, as the last word of a stream.
    pub ends: Vec<Vec<u8>>,
    /// End-of-session frames the receiver got.
    pub ends_received: usize,
    /// Datagrams a receiver with a key dropped, in delivery order.
    pub rejected: Vec<Rejection>,
    payload: Vec<u8>,
    buf: Vec<u8>,
}

impl Pair {
    pub fn new(sender: SenderConfig, receiver: ReceiverConfig, netem: NetemConfig) -> Self {
        let t0 = super::time_origin();
        Self {
            sender: Sender::new(sender),
            receiver: Receiver::new(receiver, t0),
            netem: Netem::new(netem),
            t0,
            now: t0,
            source: "192.168.56.1:40000".parse().unwrap(),
            arrivals: Vec::new(),
            ends: Vec::new(),
            ends_received: 0,
            rejected: Vec::new(),
            payload: b"payload".to_vec(),
            buf: Vec::new(),
        }
    }

    /// Framed traffic: `count` datagrams, one per `interval`, without end-of-session frames
    /// (so the receiver sees only the loss between the first and last frame it got).
    pub fn framed(count: u64, interval: Duration, netem: NetemConfig) -> Self {
        let sender = SenderConfig {
            framed: true,
            interval: Some(interval),
            count: Some(count),
            end_frames: 0,
            ..SenderConfig::new("224.1.1.5:50001".parse().unwrap())
        };
        Self::new(sender, ReceiverConfig::default(), netem)
    }

    pub fn wall_ns(&self) -> u64 {
        EPOCH_NS + u64::try_from((self.now - self.t0).as_nanos()).unwrap()
    }

    /// Does everything due at `now`, then moves time to the next deadline. Returns `false`
    /// when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let wall = self.wall_ns();
        while let Some(t) = self
            .sender
            .poll_transmit(self.now, wall, &self.payload, &mut self.buf)
        {
            let seg = t.segment_size.unwrap_or(t.size).max(1);
            for datagram in self.buf[..t.size].chunks(seg) {
                let f = frame::decode(datagram).expect("the sender writes valid frames");
                if f.flags.contains(frame::Flags::END) {
                    self.ends.push(datagram.to_vec());
                } else {
                    self.netem.send(self.now, f.seq.0, datagram);
                }
            }
        }
        while let Some((_, bytes)) = self.netem.poll_datagram(self.now) {
            let meta = RecvMeta::new(self.source, bytes.len())
                .with_destination(Some("224.1.1.5".parse().unwrap()));
            match self.receiver.handle_datagram(self.now, wall, meta, &bytes) {
                Datagram::Framed { arrival, .. } => self.arrivals.push(arrival),
                // Under a key, the network's duplicates are replays.
                Datagram::Rejected(r) => self.rejected.push(r),
                other => panic!("the pair only sends frames, got {other:?}"),
            }
        }
        if self.netem.in_flight() == 0 && self.sender.is_data_done() {
            for bytes in self.ends.drain(..) {
                let meta = RecvMeta::new(self.source, bytes.len());
                match self.receiver.handle_datagram(self.now, wall, meta, &bytes) {
                    Datagram::End { .. } => self.ends_received += 1,
                    other => panic!("an end frame, got {other:?}"),
                }
            }
        }
        while self.receiver.poll_event().is_some() {}
        self.sender.handle_timeout(self.now);
        self.receiver.handle_timeout(self.now);
        // Receiver reports alone do not keep the pair going.
        let next = [self.sender.poll_timeout(), self.netem.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(next) => {
                assert!(next >= self.now, "time never goes back");
                self.now = next;
                true
            }
            None => false,
        }
    }

    /// Steps until nothing is left to do, at most `max_steps` times. Returns whether it
    /// finished.
    pub fn drive_bounded(&mut self, max_steps: usize) -> bool {
        for _ in 0..max_steps {
            if !self.step() {
                return true;
            }
        }
        false
    }

    /// Steps until nothing is left to do.
    pub fn drive(&mut self) {
        assert!(self.drive_bounded(10_000_000), "the pair did not settle");
    }
}
