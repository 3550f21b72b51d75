//! Being written: AF_PACKET capture for `mcast sniff`.
