//! Being written: listing interfaces and reading /proc/net/igmp{,6}.
