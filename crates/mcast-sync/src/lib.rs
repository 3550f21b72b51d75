//! Being written: blocking multicast sender and receiver on socket2.
#![warn(missing_docs)]

pub mod capture;
pub mod ifaces;
