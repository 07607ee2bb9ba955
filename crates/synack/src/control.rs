//! The control socket: a local Unix socket on which a running stack tells what it holds —
//! every connection with its state, queues, timers and counters, its listeners and the
//! endpoint's counters — as one JSON document. `synack ss` reads it.
//!
//! Opt-in: [`crate::StackBuilder::control_socket`] names the path (the CLI turns it on by
//! default at [`default_path`]). The protocol is one request line (`snapshot`, or nothing)
//! and one JSON answer, then the server closes the connection.
//!
//! Timers and listener queues are the endpoint's own (`Endpoint::timers`,
//! `Endpoint::listeners`); the runtime keeps a small `Tracker` beside it only for when each
//! connection entered its state.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use synack_proto::{ConnHandle, Event, FourTuple, Instant, State, ACCEPT_ANY};

use crate::stack::{Direction, Shared};

/// The directory control sockets go in by default: `/run/synack` for root, else
/// `$XDG_RUNTIME_DIR/synack`, else `/tmp/synack-<uid>`.
pub fn default_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        return PathBuf::from("/run/synack");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("synack"),
        _ => PathBuf::from(format!("/tmp/synack-{uid}")),
    }
}

/// This process's default control socket: `<default_dir>/<pid>.sock`.
pub fn default_path() -> PathBuf {
    default_dir().join(format!("{}.sock", std::process::id()))
}

/// Read the snapshot a control socket serves (what `synack ss` does).
pub fn query(path: &Path, timeout: Duration) -> io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"snapshot\n")?;
    let mut out = String::new();
    io::Read::read_to_string(&mut s, &mut out)?;
    Ok(out)
}

// ----- the tracker ------------------------------------------------------------------------

/// What the runtime notes about one connection while a control socket is on.
#[derive(Clone, Copy, Debug)]
struct Times {
    /// When the connection entered its current state.
    since: Instant,
    /// When a segment last arrived from the peer.
    last_in: Instant,
    /// When the retransmission timer was last (re)started, as seen on the wire.
    rto_start: Instant,
    /// Highest cumulative ACK seen from the peer and end of the sequence space we sent
    /// (SND.UNA and SND.MAX as the wire shows them), once we sent something.
    snd: Option<(u32, u32)>,
}

/// Per-connection times the endpoint does not expose (see the module docs). Bounded by the
/// endpoint's connections: entries are made by state changes and dropped on CLOSED (and by
/// every snapshot for connections the endpoint no longer has).
#[derive(Default)]
pub(crate) struct Tracker {
    by_tuple: HashMap<FourTuple, Times>,
}

/// The fields of a TCP segment the tracker needs, read straight from the datagram (no
/// checksum work: the endpoint has already judged it).
struct Seg {
    tuple: FourTuple,
    seq: u32,
    ack: Option<u32>,
    /// Sequence space the segment occupies (payload + SYN + FIN).
    len: u32,
}

fn peek_tcp(dir: Direction, p: &[u8]) -> Option<Seg> {
    let (src, dst, tcp) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            if p.len() < ihl + 20 || p[9] != 6 || ihl < 20 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
            let src: [u8; 4] = p[12..16].try_into().ok()?;
            let dst: [u8; 4] = p[16..20].try_into().ok()?;
            (
                std::net::IpAddr::from(src),
                std::net::IpAddr::from(dst),
                p.get(ihl..total)?,
            )
        }
        6 => {
            if p.len() < 60 || p[6] != 6 {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
            let src: [u8; 16] = p[8..24].try_into().ok()?;
            let dst: [u8; 16] = p[24..40].try_into().ok()?;
            (
                std::net::IpAddr::from(src),
                std::net::IpAddr::from(dst),
                p.get(40..(40 + plen).min(p.len()))?,
            )
        }
        _ => return None,
    };
    if tcp.len() < 20 {
        return None;
    }
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
    let off = usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    let payload = tcp.len().saturating_sub(off) as u32;
    let len = payload + u32::from(flags & 0x02 != 0) + u32::from(flags & 0x01 != 0);
    let (a, b) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    let tuple = match dir {
        Direction::In => FourTuple {
            local: b,
            remote: a,
        },
        Direction::Out => FourTuple {
            local: a,
            remote: b,
        },
    };
    Some(Seg {
        tuple,
        seq,
        ack: (flags & 0x10 != 0).then_some(ack),
        len,
    })
}

/// `a` after `b` in sequence space.
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Tracker {
    pub(crate) fn on_event(&mut self, now: Instant, ev: &Event) {
        if let Event::StateChanged { tuple, to, .. } = *ev {
            if to == State::Closed {
                self.by_tuple.remove(&tuple);
            } else {
                self.by_tuple
                    .entry(tuple)
                    .and_modify(|t| t.since = now)
                    .or_insert(Times {
                        since: now,
                        last_in: now,
                        rto_start: now,
                        snd: None,
                    });
            }
        }
    }

    pub(crate) fn on_packet(&mut self, now: Instant, dir: Direction, p: &[u8]) {
        let Some(seg) = peek_tcp(dir, p) else { return };
        let Some(t) = self.by_tuple.get_mut(&seg.tuple) else {
            return;
        };
        match dir {
            Direction::In => {
                t.last_in = now;
                if let (Some(ack), Some((una, max))) = (seg.ack, t.snd.as_mut()) {
                    // RFC 6298 5.3: an ACK of new data restarts the timer.
                    if seq_gt(ack, *una) && !seq_gt(ack, *max) {
                        *una = ack;
                        t.rto_start = now;
                    }
                }
            }
            Direction::Out => {
                if seg.len == 0 {
                    return;
                }
                let end = seg.seq.wrapping_add(seg.len);
                match t.snd.as_mut() {
                    None => {
                        t.snd = Some((seg.seq, end));
                        t.rto_start = now;
                    }
                    Some((una, max)) => {
                        // 5.1: sent while nothing was outstanding starts it; a retransmission
                        // (5.4–5.6) restarts it.
                        if *una == *max || seq_gt(*max, seg.seq) {
                            t.rto_start = now;
                        }
                        if seq_gt(end, *max) {
                            *max = end;
                        }
                    }
                }
            }
        }
    }

    fn get(&self, tuple: &FourTuple) -> Option<&Times> {
        self.by_tuple.get(tuple)
    }

    fn retain(&mut self, alive: &std::collections::HashSet<FourTuple>) {
        self.by_tuple.retain(|k, _| alive.contains(k));
    }
}

// ----- the snapshot -----------------------------------------------------------------------

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// `until - now` in milliseconds, negative when overdue.
fn left_ms(until: Instant, now: Instant) -> String {
    let us = until.as_micros() as i128 - now.as_micros() as i128;
    format!("{:.3}", us as f64 / 1000.0)
}

fn program() -> String {
    std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The whole JSON document: connections, listeners, summary.
pub(crate) fn snapshot(shared: &Shared) -> String {
    let now = shared.now();
    let mut g = shared.lock();
    let inner = &mut *g;
    let ep = &inner.ep;
    let cfg = ep.config();
    let mut handles: Vec<ConnHandle> = ep.connections().collect();
    handles.sort();
    let mut alive = std::collections::HashSet::new();
    let mut per_state: Vec<(State, usize)> = State::ALL.iter().map(|&s| (s, 0)).collect();
    // Listeners with their exact queue depths, exact listeners before wildcard ones before
    // accept-any, as the endpoint matches them.
    let mut queues: Vec<(SocketAddr, synack_proto::ListenerInfo)> = ep.listeners().collect();
    queues.sort_by_key(|(l, _)| (*l == ACCEPT_ANY, l.ip().is_unspecified(), *l));
    let mut conns = String::from("[");
    for (i, &h) in handles.iter().enumerate() {
        let Some(ci) = ep.info(h) else { continue };
        alive.insert(ci.tuple);
        if let Some(e) = per_state.iter_mut().find(|(s, _)| *s == ci.state) {
            e.1 += 1;
        }
        let owned = inner.conns.contains_key(&h);
        // Not the application's, not closing: waiting in a listener's queue.
        let queued = match ci.state {
            _ if owned => None,
            State::SynReceived => Some(true),
            State::Established | State::CloseWait => Some(false),
            _ => None,
        };
        let times = inner.watch.as_ref().and_then(|w| w.get(&ci.tuple)).copied();
        // The endpoint's own deadlines (RFC 6298 timer or persist timer, TIME-WAIT,
        // keep-alive, FIN-WAIT-2, delayed ACK).
        let exact = ep.timers(h).unwrap_or_default();
        let mut timers = Vec::new();
        let mut timer = |name: &str, at: Instant, length: Duration, backoff: Option<u32>| {
            timers.push(format!(
                "{{\"name\":{},\"left_ms\":{},\"length_ms\":{}{}}}",
                js(name),
                left_ms(at, now),
                ms(length),
                backoff
                    .map(|b| format!(",\"backoff\":{b}"))
                    .unwrap_or_default()
            ))
        };
        if let Some(at) = exact.time_wait_at {
            timer("time-wait", at, cfg.msl * 2, None);
        }
        if let Some(at) = exact.rto_at {
            let name = if exact.persist {
                "persist"
            } else {
                "retransmit"
            };
            timer(name, at, ci.rto, Some(ci.backoff));
        }
        if let (Some(at), Some(idle)) = (exact.keepalive_at, ci.keepalive) {
            timer("keepalive", at, idle, None);
        }
        if let (Some(at), Some(len)) = (exact.fin_wait2_at, cfg.fin_wait2_timeout) {
            timer("fin-wait-2", at, len, None);
        }
        if let (Some(at), Some(len)) = (exact.delayed_ack_at, cfg.delayed_ack) {
            timer("delayed-ack", at, len, None);
        }
        if let Some(at) = exact.loss_at {
            // RFC 8985: the tail loss probe's timeout, or RACK's reordering timer.
            let name = if exact.loss_probe {
                "loss-probe"
            } else {
                "rack-reorder"
            };
            timer(name, at, at.saturating_duration_since(now), None);
        }
        if i > 0 {
            conns.push(',');
        }
        let _ = write!(
            conns,
            "\n{{\"id\":{},\"state\":{},\"local\":{},\"remote\":{},\"recv_q\":{},\"send_q\":{},\
\"owner\":{},\"in_state_ms\":{},\"timers\":[{}],\"mss\":{},\"rtt_ms\":{},\"rttvar_ms\":{},\
\"rto_ms\":{},\"cwnd\":{},\"ssthresh\":{},\"bytes_in_flight\":{},\"snd_wnd\":{},\"rcv_wnd\":{},\"snd_una\":{},\"snd_nxt\":{},\
\"rcv_nxt\":{},\
\"retransmits\":{},\"timeouts\":{},\"fast_retransmits\":{},\"undos\":{},\"spurious_timeouts\":{},\"backoff\":{},\"bytes_sent\":{},\
\"bytes_acked\":{},\"bytes_received\":{},\"recv_out_of_order\":{},\"recv_buffer\":{},\"send_buffer\":{},\"congestion\":{},\
\"in_recovery\":{},\"wscale\":{},\"sack\":{},\"timestamps\":{},\"nodelay\":{},\
\"quick_acks_left\":{},\"quick_acks\":{},\"rack_lost\":{},\"tlp_probes\":{},\"tlp_repairs\":{},\
\"reordering_window_ms\":{}}}",
            h.id(),
            js(ci.state.name()),
            js(&ci.tuple.local.to_string()),
            js(&ci.tuple.remote.to_string()),
            ci.recv_buffered,
            ci.send_buffered,
            js(match queued {
                Some(_) => "listener",
                None if owned => "application",
                None => "stack",
            }),
            times
                .map(|t| ms(now.saturating_duration_since(t.since)))
                .unwrap_or_else(|| "null".into()),
            timers.join(","),
            ci.mss,
            ci.srtt.map(ms).unwrap_or_else(|| "null".into()),
            ms(ci.rttvar),
            ms(ci.rto),
            ci.cwnd,
            ci.ssthresh,
            ci.bytes_in_flight,
            ci.snd_wnd,
            ci.rcv_wnd,
            ci.snd_una.0,
            ci.snd_nxt.0,
            ci.rcv_nxt.0,
            ci.retransmits,
            ci.timeouts,
            ci.fast_retransmits,
            ci.undos,
            ci.spurious_timeouts,
            ci.backoff,
            ci.bytes_sent,
            ci.bytes_acked,
            ci.bytes_received,
            ci.recv_out_of_order,
            ci.recv_buffer,
            ci.send_buffer,
            js(ci.controller),
            ci.in_recovery,
            ci.wscale
                .map(|(a, b)| format!("[{a},{b}]"))
                .unwrap_or_else(|| "null".into()),
            ci.sack,
            ci.timestamps,
            ci.nodelay,
            ci.quick_acks_left,
            ci.quick_acks,
            ci.rack_lost,
            ci.tlp_probes,
            ci.tlp_repairs,
            ci.reordering_window
                .map(ms)
                .unwrap_or_else(|| "null".into()),
        );
    }
    conns.push_str("\n]");
    if let Some(w) = inner.watch.as_mut() {
        w.retain(&alive);
    }
    let listeners = queues
        .iter()
        .map(|(l, q)| {
            format!(
                "{{\"local\":{},\"syn_queue\":{},\"accept_queue\":{},\"backlog\":{}}}",
                js(&if *l == ACCEPT_ANY {
                    "*".to_string()
                } else {
                    l.to_string()
                }),
                q.syn_queue,
                q.accept_queue,
                q.backlog
            )
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let st = ep.stats();
    let states = per_state
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{}:{n}", js(s.name())))
        .collect::<Vec<_>>()
        .join(",");
    let mut drops = vec![
        ("not_ours".to_string(), st.not_ours),
        ("bad_address".to_string(), st.bad_address),
        ("syn_queue_full".to_string(), st.syn_queue_full),
        ("control_queue_full".to_string(), st.control_dropped),
        ("syn_cookie_invalid".to_string(), st.syn_cookies_invalid),
        ("stray_ack".to_string(), st.stray_acks),
        ("ooo_memory".to_string(), st.ooo_dropped_memory),
        ("time_wait_overflow".to_string(), st.time_wait_overflow),
        ("time_wait_compacted".to_string(), st.time_wait_compacted),
        ("icmp_ignored".to_string(), st.icmp_ignored),
        ("other_protocol".to_string(), st.other_protocol),
        ("fragment_timeout".to_string(), st.fragments.timeouts),
        ("fragment_overlap".to_string(), st.fragments.overlaps),
        ("fragment_evicted".to_string(), st.fragments.evicted),
        ("fragment_invalid".to_string(), st.fragments.invalid),
        ("fragment_duplicate".to_string(), st.fragments.duplicates),
        ("runtime_unknown_ip".to_string(), inner.rt.other_dropped),
        ("device_send_errors".to_string(), inner.rt.send_errors),
    ];
    for (e, n) in &st.malformed {
        drops.push((format!("malformed:{e:?}"), *n));
    }
    let drops = drops
        .iter()
        .map(|(k, n)| format!("{}:{n}", js(k)))
        .collect::<Vec<_>>()
        .join(",");
    let addrs = cfg
        .local_addrs
        .iter()
        .map(|a| js(&a.to_string()))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\"pid\":{},\"program\":{},\"uptime_ms\":{},\"local_addrs\":[{addrs}],\
\"tracked_timers\":{},\"connections\":{conns},\n\"listeners\":[{listeners}],\n\"summary\":{{\
\"connections\":{},\"states\":{{{states}}},\"time_wait\":{},\"receive_memory\":{},\
\"send_memory\":{},\"memory_budget\":{},\"ring_storage\":{},\"retained_ring_storage\":{},\
\"memory_releases\":{},\"memory_released\":{},\
\"packets_in\":{},\"packets_out\":{},\"packets_kept\":{},\"active_opens\":{},\"passive_opens\":{},\
\"resets_sent\":{},\"syn_cookies\":{{\"sent\":{},\"validated\":{},\"invalid\":{}}},\
\"syn_queue_full\":{},\"fragments\":{{\"received\":{},\"reassembled\":{},\"pending\":{},\
\"pending_bytes\":{},\"time_exceeded_sent\":{}}},\"drops\":{{{drops}}}}}}}\n",
        std::process::id(),
        js(&program()),
        ms(now.saturating_duration_since(Instant::ZERO)),
        inner.watch.is_some(),
        handles.len(),
        ep.time_wait_count(),
        ep.receive_memory(),
        ep.send_memory(),
        cfg.memory_budget,
        ep.ring_storage(),
        cfg.retained_ring_storage,
        st.memory_releases,
        st.memory_released,
        st.packets_in,
        st.packets_out,
        st.packets_kept,
        st.active_opens,
        st.passive_opens,
        st.resets_sent,
        st.syn_cookies_sent,
        st.syn_cookies_validated,
        st.syn_cookies_invalid,
        st.syn_queue_full,
        st.fragments.received,
        st.fragments.reassembled,
        ep.reassembly_datagrams(),
        ep.reassembly_memory(),
        st.icmp_time_exceeded,
    )
}

// ----- the server -------------------------------------------------------------------------

/// The thread serving a control socket; dropping it stops the thread and removes the file.
pub(crate) struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(path: PathBuf, shared: Arc<Shared>) -> io::Result<Server> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            // A socket nobody answers on is left over from a process that is gone.
            match UnixStream::connect(&path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{}: a live control socket", path.display()),
                    ))
                }
                Err(_) => std::fs::remove_file(&path)?,
            }
        }
        let listener = UnixListener::bind(&path)?;
        // Connection details are the owner's business.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("synack-control".into())
            .spawn(move || {
                for s in listener.incoming() {
                    if stop2.load(Ordering::Acquire) {
                        return;
                    }
                    if let Ok(s) = s {
                        let _ = serve_one(s, &shared);
                    }
                }
            })?;
        Ok(Server {
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn serve_one(s: UnixStream, shared: &Shared) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    let _ = BufReader::new(&s).read_line(&mut line);
    let mut w = &s;
    match line.trim() {
        "" | "snapshot" => w.write_all(snapshot(shared).as_bytes()),
        other => w.write_all(
            format!(
                "{{\"error\":{}}}\n",
                js(&format!("unknown request {other:?}"))
            )
            .as_bytes(),
        ),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
