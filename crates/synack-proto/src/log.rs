//! The `tracing` events of the hot paths (every segment in and out, every state change), out
//! of line.
//!
//! A `tracing` macro expands to its callsite's registration, interest check and field set
//! right where it is written; in the per-segment functions that code, never run without a
//! subscriber, spread the code that does run over more instruction-cache lines (callgrind:
//! 4% of the lifecycle row's L1 instruction misses). The hot paths test [`enabled`], one
//! atomic load, and call these cold functions, which emit exactly the events they emitted
//! before.

use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::Level;

use crate::event::{ConnHandle, FourTuple};
use crate::state::State;

/// Whether an event at `level` can be recorded at all (a subscriber may still filter it).
#[inline]
pub(crate) fn enabled(level: Level) -> bool {
    level <= STATIC_MAX_LEVEL && level <= LevelFilter::current()
}

/// A segment received (`dir = "in"`) or sent (`"out"`), at TRACE.
#[cold]
#[inline(never)]
pub(crate) fn segment(
    dir: &'static str,
    tuple: &FourTuple,
    flags: synack_wire::TcpFlags,
    seq: u32,
    ack: u32,
    len: usize,
) {
    tracing::trace!(dir, %tuple, flags = %flags, seq, ack, len, "segment");
}

/// A state change, at DEBUG.
#[cold]
#[inline(never)]
pub(crate) fn state(conn: ConnHandle, tuple: &FourTuple, from: State, to: State, cause: &str) {
    tracing::debug!(conn = %conn, %tuple, %from, %to, cause, "state");
}
