//! Matching what the stack sent against the script's `>` lines, and the end of a script.
//!
//! Segmentation. A `>` line may stand for several back-to-back segments the stack sent
//! (contiguous, same ACK, within the timing tolerance of the first), as a TSO/GSO
//! super-segment would: they are merged into one before the comparison, in every mode. In
//! relaxed mode the reverse holds too: one segment may stand for several back-to-back lines
//! of the script, and is split — the line takes its first bytes, the rest waits for the
//! next lines (PSH and FIN stay with the last part). Nothing else is tolerated: a segment
//! (or run of merged segments) shorter than the line expects fails with the length, in
//! relaxed mode too.

use synack_wire::TcpFlags;

use crate::ast::{IcmpSpec, PacketSpec};
use crate::packets::{self, Actual};
use crate::runner::{Runner, Sent};
use crate::{Failure, NoteKind};

impl Runner<'_> {
    /// The oldest packet the stack sent, waiting for timers up to `deadline` if none is
    /// queued.
    fn next_sent(&mut self, deadline: u64) -> Result<Option<Sent>, Box<Failure>> {
        loop {
            if let Some(s) = self.out_q.pop_front() {
                return Ok(Some(s));
            }
            match self.next_deadline() {
                Some(d) if d <= deadline => self.set_now(d)?,
                _ => return Ok(None),
            }
        }
    }

    fn nothing_sent(
        &mut self,
        expected: String,
        t0: u64,
        deadline: u64,
        any: bool,
    ) -> Result<(), Box<Failure>> {
        let when = if any {
            "before the endpoint went idle".to_string()
        } else {
            format!("by {}", Self::secs(deadline))
        };
        self.advance_to(self.now.max(t0))?;
        Err(self.failure(
            self.line,
            format!("expected outbound packet not sent {when}"),
            Some(expected),
            Some("(nothing)".into()),
        ))
    }

    pub(crate) fn outbound(
        &mut self,
        p: &PacketSpec,
        t0: u64,
        t1: u64,
        any: bool,
    ) -> Result<(), Box<Failure>> {
        let tol = self.check.tolerance_usecs;
        let deadline = if any { u64::MAX / 4 } else { t1 + tol };
        let expected = format!("> {}", packets::render_spec(p));
        let mut a = match self.next_sent(deadline)? {
            None => return self.nothing_sent(expected, t0, deadline, any),
            Some(Sent::Tcp(a)) => a,
            Some(Sent::Bad(_, raw)) => {
                // Every outbound segment must parse, checksum included (MUST-2).
                let msg = format!(
                    "the stack sent a packet that is not a valid TCP segment: {:02x?}",
                    &raw[..raw.len().min(60)]
                );
                return Err(self.fail(msg));
            }
            Some(other @ Sent::Icmp(_)) => {
                let actual = format!("> {}", other.render(&self.map));
                return Err(self.failure(
                    self.line,
                    "expected a TCP segment, the stack sent ICMP".into(),
                    Some(expected),
                    Some(actual),
                ));
            }
        };
        self.merge(&mut a, p.len);
        if self.check.relaxed && a.len > p.len && p.len > 0 {
            self.split(&mut a, p.len);
        }
        let (local, remote) = self.tuple();
        let mut bad = packets::check_outbound(p, &a, &mut self.map, self.check);
        let wrong_ips = a.dst.ip() != remote.ip() || a.src.ip() != self.local_ip;
        if wrong_ips || (self.cur.is_some() && (a.src != local || a.dst != remote)) {
            bad.push(format!(
                "addresses: expected {local} > {remote} got {} > {}",
                a.src, a.dst
            ));
        }
        if !any && (a.time + tol < t0 || a.time > t1 + tol) {
            bad.push(format!(
                "time: expected {} got {} (tolerance {} us)",
                Self::secs(t0),
                Self::secs(a.time),
                tol
            ));
        }
        let saved = self.now;
        self.now = self.now.max(a.time);
        self.remote.received(a.flags, a.script_ack(&self.map));
        let actual = format!("> {}", a.render(&self.map));
        self.trace_line(actual.clone());
        self.now = saved;
        if !bad.is_empty() {
            return Err(self.failure(self.line, bad.join("; "), Some(expected), Some(actual)));
        }
        Ok(())
    }

    /// Merge back-to-back data segments into `a` while it is shorter than `want`, as a
    /// TSO/GSO super-segment would be.
    fn merge(&mut self, a: &mut Actual, want: u32) {
        let tol = self.check.tolerance_usecs;
        while a.len > 0 && a.len < want {
            let Some(Sent::Tcp(b)) = self.out_q.front() else {
                break;
            };
            let contiguous = b.seq == a.seq.wrapping_add(a.len) && b.ack == a.ack && b.len > 0;
            if !contiguous || b.time > a.time + tol || b.flags.contains(TcpFlags::SYN) {
                break;
            }
            let b = b.clone();
            self.out_q.pop_front();
            a.len += b.len;
            a.flags |= b.flags;
            a.win = b.win;
        }
    }

    /// Relaxed: the line expects the first `want` bytes of `a`; the rest goes back to the
    /// head of the queue for the next line.
    fn split(&mut self, a: &mut Actual, want: u32) {
        let mut rest = a.clone();
        rest.seq = a.seq.wrapping_add(want);
        rest.len = a.len - want;
        a.len = want;
        a.flags.remove(TcpFlags::PSH | TcpFlags::FIN);
        self.trace.push(format!(
            "{:>11}   (relaxed: {} bytes of one {}-byte segment; the other {} wait for the next line)",
            Self::secs(a.time),
            want,
            want + rest.len,
            rest.len
        ));
        self.out_q.push_front(Sent::Tcp(rest));
    }

    pub(crate) fn outbound_icmp(
        &mut self,
        spec: &IcmpSpec,
        t0: u64,
        t1: u64,
        any: bool,
    ) -> Result<(), Box<Failure>> {
        let tol = self.check.tolerance_usecs;
        let deadline = if any { u64::MAX / 4 } else { t1 + tol };
        let expected = self.src_line(self.line);
        let sent = match self.next_sent(deadline)? {
            None => return self.nothing_sent(expected, t0, deadline, any),
            Some(s) => s,
        };
        let actual = format!("> {}", sent.render(&self.map));
        let Sent::Icmp(i) = sent else {
            return Err(self.failure(
                self.line,
                "expected ICMP, the stack sent another packet".into(),
                Some(expected),
                Some(actual),
            ));
        };
        let mut bad = i.check(spec);
        if i.src != self.local_ip || i.dst != self.remote_ip {
            bad.push(format!(
                "addresses: expected {} > {} got {} > {}",
                self.local_ip, self.remote_ip, i.src, i.dst
            ));
        }
        if !any && (i.time + tol < t0 || i.time > t1 + tol) {
            bad.push(format!(
                "time: expected {} got {} (tolerance {tol} us)",
                Self::secs(t0),
                Self::secs(i.time)
            ));
        }
        self.trace_line(actual.clone());
        if !bad.is_empty() {
            return Err(self.failure(self.line, bad.join("; "), Some(expected), Some(actual)));
        }
        Ok(())
    }

    /// The script ended: a blocked call must have returned, and in strict mode nothing the
    /// stack sent before the last event may be left unmatched.
    pub(crate) fn finish(&mut self) -> Result<(), Box<Failure>> {
        let last = self.now;
        if let Some(b) = &self.blocking {
            let limit = b.end + self.check.tolerance_usecs;
            self.advance_to(limit.max(self.now))?;
            if let Some(b) = &self.blocking {
                let msg = format!("blocking {} never returned", b.call.name);
                return Err(self.failure(b.line, msg, None, None));
            }
        }
        let mut unexpected = Vec::new();
        while let Some(sent) = self.out_q.pop_front() {
            let t = sent.time();
            let text = format!("> {} at {}", sent.render(&self.map), Self::secs(t));
            if t + self.check.tolerance_usecs < last && !self.check.relaxed {
                unexpected.push(text);
            } else {
                self.note(NoteKind::Warning, format!("not in the script: {text}"));
            }
        }
        if !unexpected.is_empty() {
            return Err(self.failure(
                self.line,
                "the stack sent segments the script does not expect".into(),
                Some("(nothing)".into()),
                Some(unexpected.join("\n")),
            ));
        }
        Ok(())
    }
}
