//! The one small trait every packet device implements, and the handle that interrupts a
//! device's blocking wait.
//!
//! A device carries whole IP datagrams (no link-layer header): what a Linux TUN device with
//! `IFF_NO_PI` reads and writes, and what `synack_proto::Endpoint` consumes and produces.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Makes a device's blocked (or next) [`Device::recv`] return `Ok(None)` early.
///
/// The stack thread waits in `recv` with the endpoint's next deadline as timeout; a user call
/// that queued data (a `write`, a `close`) uses this to make it transmit at once.
#[derive(Clone)]
pub struct Wakeup(Arc<dyn Fn() + Send + Sync>);

impl Wakeup {
    /// A wakeup that calls `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Wakeup {
        Wakeup(Arc::new(f))
    }

    /// Interrupt the device's wait.
    pub fn wake(&self) {
        (self.0)()
    }
}

impl fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wakeup")
    }
}

/// A packet device: receives and sends whole IP datagrams.
pub trait Device: Send {
    /// Wait at most `timeout` (`None`: until something happens) for one datagram and copy it
    /// into `buf`. `Ok(Some(n))`: a datagram of `n` bytes (truncated to `buf.len()`);
    /// `Ok(None)`: the timeout passed or [`Device::wakeup`] was called.
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>>;

    /// Send one datagram. Devices do not queue without bound: when the device is full the
    /// datagram may be dropped (TCP retransmits it), and an error is only for real failures.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;

    /// The largest datagram the device carries, in bytes (the IP MTU).
    fn mtu(&self) -> usize;

    /// The largest datagram [`Device::recv`] may return: the MTU, unless the device hands
    /// over segments the kernel did not split (a TUN device with offloads: 64 KiB). The
    /// stack's receive buffers are this long.
    fn recv_len(&self) -> usize {
        self.mtu()
    }

    /// Send the datagrams laid end to end in `buf`, `lens` giving their lengths in order; the
    /// stack hands over everything one round produced at once. A device may write several
    /// consecutive segments of one TCP flow as one datagram (a TUN device with offloads);
    /// the default sends them one by one. Returns how many datagrams failed (each is logged).
    fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
        send_each(self, buf, lens)
    }

    /// A handle that interrupts [`Device::recv`]; callable from any thread.
    fn wakeup(&self) -> Wakeup;
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        (**self).recv(buf, timeout)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        (**self).send(packet)
    }
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    fn recv_len(&self) -> usize {
        (**self).recv_len()
    }
    fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
        (**self).send_batch(buf, lens)
    }
    fn wakeup(&self) -> Wakeup {
        (**self).wakeup()
    }
}

/// [`Device::send_batch`] one datagram at a time, through [`Device::send`].
pub fn send_each<D: Device + ?Sized>(dev: &mut D, buf: &[u8], lens: &[usize]) -> usize {
    let mut off = 0;
    let mut failed = 0;
    for &len in lens {
        let Some(p) = buf.get(off..off + len) else {
            break;
        };
        off += len;
        if let Err(e) = dev.send(p) {
            tracing::warn!(error = %e, len, "device send failed; datagram dropped");
            failed += 1;
        }
    }
    failed
}

/// The IP version of a datagram (its first nibble), if it has one we know.
pub fn ip_version(packet: &[u8]) -> Option<u8> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Some(4),
        Some(6) => Some(6),
        _ => None,
    }
}
