//! The one place the CLI talks to an adapter crate (mcast-sync): interface lookup, a sender and
//! a receiver, and the hints adapter errors carry. The CLI opens no socket itself: every socket
//! here is built and owned by mcast-sync.

use std::time::Duration;

use mcast_core::iface::IfaceSpec;
use mcast_core::RecvMeta;

use crate::errors::CliError;
use crate::plan::{RecvPlan, SendPlan};

/// Checks that the interface exists on this host and describes it, e.g. `lo (127.0.0.1)`.
///
/// A missing interface is a usage error (exit 2) with a hint to `mcast ifaces`.
pub(crate) fn resolve_iface(spec: &IfaceSpec) -> Result<String, CliError> {
    if spec.is_any() {
        return Ok("0.0.0.0, the kernel's choice".into());
    }
    match mcast_sync::ifaces::resolve(spec) {
        Ok(i) => Ok(match i.ipv4() {
            Some(v4) => format!("{} ({v4})", i.name),
            None => i.name,
        }),
        Err(e) => Err(CliError::usage(format!(
            "interface not found: {}",
            crate::errors::chain_text(&e)
        ))
        .hint("list the multicast-capable interfaces and their addresses with `mcast ifaces`")),
    }
}

/// The hint an adapter error carries, if `e` is one.
pub(crate) fn hint_of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    e.downcast_ref::<mcast_sync::Error>()
        .and_then(mcast_sync::Error::hint)
}

/// A sender, built by mcast-sync.
pub(crate) struct Tx {
    inner: mcast_sync::Sender,
}

impl Tx {
    /// Opens a sender for the plan.
    pub(crate) fn open(plan: &SendPlan) -> anyhow::Result<Self> {
        let inner = mcast_sync::Sender::builder(plan.group, plan.port)
            .iface(plan.iface.clone())
            .ttl(u32::from(plan.ttl))
            .loopback(plan.loopback)
            .build()?;
        Ok(Self { inner })
    }

    /// Sends one datagram to the group.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.inner.send(bytes)?;
        Ok(())
    }
}

/// A receiver, built by mcast-sync: every group of the plan joined.
pub(crate) struct Rx {
    inner: mcast_sync::Receiver,
}

impl Rx {
    /// Opens a receiver for the plan: binds, joins every group (with the sources), and returns
    /// once every join succeeded.
    pub(crate) fn open(plan: &RecvPlan) -> anyhow::Result<Self> {
        let inner = mcast_sync::Receiver::builder(plan.port)
            .groups(plan.groups.iter().copied())
            .iface(plan.iface.clone())
            .sources(plan.sources.iter().copied())
            .build()?;
        Ok(Self { inner })
    }

    /// Waits up to `timeout` for one datagram; `Ok(None)` when none arrived (or a signal
    /// interrupted the wait, so the caller can look at its Ctrl-C flag).
    pub(crate) fn recv(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> anyhow::Result<Option<RecvMeta>> {
        self.inner
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        match self.inner.recv(buf) {
            Ok((_, meta)) => Ok(Some(meta)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::Interrupted) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}
