//! The sockets the CLI asks mcast-sync for: a sender, a receiver, `mcast ping`'s and
//! ssmping's pairs, built from a validated [`crate::plan`]. The CLI opens no socket itself:
//! every socket here is built and owned by mcast-sync, and the subcommands hand mcast-sync's
//! own types to its drivers.
//!
//! The module arrows point one way: `errors` ← `plan` ← `adapter` (the interface lookup and
//! the usage errors live in `plan`, the adapter errors' hints in `hints`).

use std::ops::ControlFlow;

use mcast_core::iface::IfaceSpec;

use crate::plan::{RecvPlan, SendPlan};

/// This host's directed broadcast addresses (`192.168.56.255`), so that a receiver counts
/// datagrams sent to them as broadcast rather than unicast; empty when the interfaces cannot
/// be listed.
pub(crate) fn broadcast_addresses() -> Vec<std::net::IpAddr> {
    mcast_sync::ifaces::list()
        .map(|l| l.iter().flat_map(|i| i.broadcast_addrs()).collect())
        .unwrap_or_default()
}

/// Opens a sender for the plan that hands batches to the kernel by `path`.
pub(crate) fn open_sender(
    plan: &SendPlan,
    path: mcast_sync::SendPath,
) -> anyhow::Result<mcast_sync::Sender> {
    let mut builder = mcast_sync::Sender::builder(plan.group, plan.port)
        .iface(plan.iface.clone())
        .ttl(u32::from(plan.ttl))
        .loopback(plan.loopback)
        .send_path(path);
    if let Some(port) = plan.source_port {
        let any = if plan.group.is_ipv6() {
            std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        builder = builder.bind(std::net::SocketAddr::new(any, port));
    }
    let sender = builder.build()?;
    tracing::info!(
        group = %plan.group,
        port = plan.port,
        iface = %plan.iface,
        ttl = plan.ttl,
        loopback = plan.loopback,
        "sender open"
    );
    Ok(sender)
}

/// Opens a receiver for the plan: binds, joins every group (with the sources), asks for a
/// receive buffer of `rcvbuf` bytes when given, and returns once every join succeeded.
pub(crate) fn open_receiver(
    plan: &RecvPlan,
    rcvbuf: Option<usize>,
) -> anyhow::Result<mcast_sync::Receiver> {
    open_receiver_with_progress(plan, rcvbuf, |_| ControlFlow::Continue(()))
}

/// [`open_receiver`], telling `progress` after every join how far the joins have come; when it
/// breaks, the joins stop and the error is `mcast_sync::Error::JoinStopped`.
pub(crate) fn open_receiver_with_progress(
    plan: &RecvPlan,
    rcvbuf: Option<usize>,
    progress: impl FnMut(mcast_sync::JoinProgress) -> ControlFlow<()>,
) -> anyhow::Result<mcast_sync::Receiver> {
    let mut builder = mcast_sync::Receiver::builder(plan.port)
        .groups(plan.groups.iter().copied())
        .iface(plan.iface.clone())
        .sources(plan.sources.iter().copied())
        // GSO senders' batches arrive whole; the driver cuts them back into datagrams.
        .gro(true);
    if let Some(size) = rcvbuf {
        builder = builder.recv_buffer_size(size);
    }
    let receiver = builder.build_with_progress(progress)?;
    tracing::info!(
        groups = plan.groups.len(),
        first = %plan.groups.first().map_or_else(String::new, ToString::to_string),
        port = plan.port,
        iface = %plan.iface_label,
        sources = plan.sources.len(),
        "joined"
    );
    Ok(receiver)
}

/// The receive buffer asked for and granted, for the JSON `stats` record.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct RecvBufferRecord {
    requested: usize,
    granted: usize,
    rmem_max: Option<usize>,
    forced: bool,
    clamped: bool,
}

/// The receive buffer asked for and granted, when `--rcvbuf` was given.
pub(crate) fn recv_buffer_record(rx: &mcast_sync::Receiver) -> Option<RecvBufferRecord> {
    rx.recv_buffer_report().map(|r| RecvBufferRecord {
        requested: r.requested,
        granted: r.granted,
        rmem_max: r.rmem_max,
        forced: r.forced,
        clamped: r.clamped(),
    })
}

/// One line on the receive buffer granted, naming what capped it when the kernel took less
/// than the request.
pub(crate) fn recv_buffer_note(rx: &mcast_sync::Receiver) -> Option<String> {
    rx.recv_buffer_report().map(|r| recv_buffer_text(&r))
}

/// The line of [`recv_buffer_note`]. The kernel's figure (`granted`) is twice what it accepted
/// of the request, so the line says both. Only a plain request is capped by
/// `net.core.rmem_max`: with `CAP_NET_ADMIN` (`forced`) the cap is the most a socket holds.
fn recv_buffer_text(r: &mcast_sync::RecvBufferReport) -> String {
    let rmem_max = r
        .rmem_max
        .map_or_else(String::new, |m| format!(" ({m} bytes)"));
    let grant = format!(
        "{} bytes ({} accepted, doubled: the kernel counts its bookkeeping)",
        r.granted,
        r.accepted()
    );
    match (r.clamped(), r.forced) {
        (true, true) => format!(
            "note: asked for a {} byte receive buffer, the kernel granted {grant}: the most a socket can hold, even past net.core.rmem_max{rmem_max} with CAP_NET_ADMIN",
            r.requested
        ),
        (true, false) => format!(
            "note: asked for a {} byte receive buffer, the kernel granted {grant}: net.core.rmem_max{rmem_max} caps it without CAP_NET_ADMIN (raise it with `sysctl -w net.core.rmem_max=N`, or run as root)",
            r.requested
        ),
        (false, true) => format!(
            "receive buffer: the kernel granted {grant}, forced past net.core.rmem_max{rmem_max} with CAP_NET_ADMIN"
        ),
        (false, false) => format!("receive buffer: the kernel granted {grant}"),
    }
}

/// The sockets of `mcast ping`: a sender to the group (probes, answers; unicast answers come
/// back to it) and a receiver joined to it (others' probes and multicast answers).
pub(crate) fn ping_sockets(
    send: &SendPlan,
    recv: &RecvPlan,
) -> anyhow::Result<(mcast_sync::Sender, mcast_sync::Receiver)> {
    let sender = mcast_sync::Sender::builder(send.group, send.port)
        .iface(send.iface.clone())
        .ttl(u32::from(send.ttl))
        .loopback(true)
        .send_path(mcast_sync::SendPath::Single)
        .recv_timestamps(true)
        .build()?;
    let receiver = mcast_sync::Receiver::builder(recv.port)
        .groups(recv.groups.iter().copied())
        .iface(recv.iface.clone())
        .timestamps(true)
        .build()?;
    Ok((sender, receiver))
}

/// The two sockets of an ssmping client, built by mcast-sync: a unicast socket connected to
/// the server (queries out, unicast replies in) and a receiver joined to the group on that
/// socket's own port (the server multicasts its replies to the client's port).
pub(crate) struct SsmpingSockets {
    unicast: mcast_sync::unicast::UnicastSocket,
    rx: mcast_sync::Receiver,
}

impl SsmpingSockets {
    /// Connects to `server` from `iface` (the route's choice when it is "any"), then joins
    /// (server, `group`) when `ssm`, else (*, `group`), on the interface the queries leave by,
    /// asking both sockets for each reply's TTL / hop limit. Returns once the join is done.
    pub(crate) fn open(
        server: std::net::SocketAddr,
        group: mcast_core::addr::Group,
        ssm: bool,
        iface: &IfaceSpec,
    ) -> anyhow::Result<Self> {
        let unicast = mcast_sync::unicast::UnicastSocket::builder(server)
            .iface(iface.clone())
            .recv_hop_limit(true)
            .build()?;
        let local = unicast.local_addr();
        // Join where the queries leave: the named interface, or the one holding the address
        // the route chose (never the kernel's default multicast interface).
        let join_on = if iface.is_any() {
            IfaceSpec::Addr(local.ip())
        } else {
            iface.clone()
        };
        let mut builder = mcast_sync::Receiver::builder(local.port())
            .group(group)
            .iface(join_on)
            .recv_hop_limit(true);
        if ssm {
            builder = builder.source(mcast_core::addr::Source::for_group(group, server.ip())?);
        }
        Ok(Self {
            unicast,
            rx: builder.build()?,
        })
    }

    /// The address and port the queries leave from.
    pub(crate) fn local_addr(&self) -> std::net::SocketAddr {
        self.unicast.local_addr()
    }

    /// The interface the queries leave by, e.g. `vb (10.0.0.2)`.
    pub(crate) fn iface_label(&self) -> String {
        let local = self.unicast.local_addr().ip();
        match &self.unicast.iface().name {
            Some(name) => format!("{name} ({local})"),
            None => local.to_string(),
        }
    }

    /// Both sockets, for mcast-sync's ssmping driver.
    pub(crate) fn parts(
        &mut self,
    ) -> (
        &mcast_sync::unicast::UnicastSocket,
        &mut mcast_sync::Receiver,
    ) {
        (&self.unicast, &mut self.rx)
    }
}

#[cfg(test)]
mod tests {
    use super::recv_buffer_text;
    use mcast_sync::RecvBufferReport;

    // issue #3 (review) — as root, 8M past an rmem_max of 4M is forced and granted whole
    // (16M read back); 99999G is capped at the most a socket holds, which is not rmem_max, and
    // root is not told to run as root.
    #[test]
    fn the_receive_buffer_note_names_the_right_cap() {
        let mib = 1 << 20;
        let capped = RecvBufferReport {
            requested: 8 * mib,
            granted: 8 * mib,
            rmem_max: Some(4 * mib),
            forced: false,
        };
        assert_eq!(
            recv_buffer_text(&capped),
            "note: asked for a 8388608 byte receive buffer, the kernel granted 8388608 bytes (4194304 accepted, doubled: the kernel counts its bookkeeping): net.core.rmem_max (4194304 bytes) caps it without CAP_NET_ADMIN (raise it with `sysctl -w net.core.rmem_max=N`, or run as root)"
        );
        let forced = RecvBufferReport {
            granted: 16 * mib,
            forced: true,
            ..capped
        };
        assert_eq!(
            recv_buffer_text(&forced),
            "receive buffer: the kernel granted 16777216 bytes (8388608 accepted, doubled: the kernel counts its bookkeeping), forced past net.core.rmem_max (4194304 bytes) with CAP_NET_ADMIN"
        );
        let huge = RecvBufferReport {
            requested: 99_999 << 30,
            granted: RecvBufferReport::MAX_GRANT,
            ..forced
        };
        let text = recv_buffer_text(&huge);
        assert!(
            text.contains("granted 2147483646 bytes (1073741823 accepted")
                && text.contains("the most a socket can hold")
                && !text.contains("run as root"),
            "{text}"
        );
        let plain = RecvBufferReport {
            requested: 64 << 10,
            granted: 128 << 10,
            ..capped
        };
        assert_eq!(
            recv_buffer_text(&plain),
            "receive buffer: the kernel granted 131072 bytes (65536 accepted, doubled: the kernel counts its bookkeeping)"
        );
    }
}
