//! The simulator: hosts, links, the event queue and the virtual clock.
//!
//! Time only moves when [`Sim::step`] jumps it to the next scheduled thing: a packet arrival
//! (from a queue ordered by `(time, insertion number)`), an endpoint deadline
//! (`poll_timeout`) or an app timer. At equal times packet arrivals go first (in insertion
//! order), then endpoint deadlines (by host index), then app timers (by host index). Every
//! random decision comes from streams derived from the one seed, so a seed replays exactly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use synack_proto::{Config, ConnHandle, Endpoint, Event, FourTuple, Instant, State};

use crate::apps::{App, AppCtx};
use crate::check::{self, RunReport};
use crate::link::{flip_bit, Decision, Fate, LinkConfig, LinkDir};
use crate::pcap::PcapWriter;
use crate::rng::{derive_seed, Rng};

/// A host of the simulation (its index, in the order hosts were added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub usize);

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host{}", self.0)
    }
}

/// One packet a host put on a link, and what the link did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketRecord {
    /// Unique, in sending order (a duplicate gets the id after its original).
    pub id: u64,
    /// When the host sent it.
    pub sent: Instant,
    pub from: HostId,
    pub to: HostId,
    /// The packet as sent (before any corruption).
    pub data: Vec<u8>,
    pub fate: Fate,
    /// For a copy made by the link's duplication: the id of the original.
    pub duplicate_of: Option<u64>,
    /// For [`Fate::Corrupted`]: the bit that was flipped (MSB-first index into `data`).
    pub flipped_bit: Option<usize>,
}

/// A packet about to be put on a link, as the drop filter ([`Sim::set_drop_filter`]) sees it.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    /// The id its [`PacketRecord`] gets.
    pub id: u64,
    /// Now: when the host sends it.
    pub sent: Instant,
    pub from: HostId,
    pub to: HostId,
    /// The IP packet.
    pub data: &'a [u8],
}

/// Decides, for every packet a host sends, whether the network drops it (`true`) before the
/// link's own impairments apply. See [`Sim::set_drop_filter`].
pub type DropFilter = Box<dyn FnMut(&PacketView<'_>) -> bool>;

/// One state transition of one connection, as its endpoint reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionRecord {
    pub at: Instant,
    pub host: HostId,
    pub conn: ConnHandle,
    pub tuple: FourTuple,
    pub from: State,
    pub to: State,
    pub cause: &'static str,
}

/// Counters of what the links did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Packets hosts put on links (duplicates not included).
    pub sent: u64,
    /// Packets delivered intact (duplicates included).
    pub delivered: u64,
    pub lost: u64,
    pub corrupted: u64,
    pub duplicated: u64,
    /// Dropped for exceeding the link MTU.
    pub too_big: u64,
    /// Dropped at a full link queue ([`LinkConfig::queue_limit`]).
    pub queue_full: u64,
    /// Dropped by the drop filter ([`Sim::set_drop_filter`]).
    pub filtered: u64,
    /// Dropped because no linked host owns the destination (or the packet was not IPv4).
    pub unroutable: u64,
    /// Packets put straight into a host with [`Sim::inject`].
    pub injected: u64,
    /// Simulation steps taken.
    pub steps: u64,
}

struct Host {
    name: String,
    addr: Ipv4Addr,
    endpoint: Endpoint,
    app: Option<Box<dyn App>>,
    app_started: bool,
    app_timer: Option<Instant>,
}

/// A packet in flight.
struct Arrival {
    at: Instant,
    seq: u64,
    to: usize,
    data: Vec<u8>,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Arrival {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Clone, Copy, Debug)]
enum Next {
    Start,
    Packet(Instant),
    Timeout(usize, Instant),
    AppTimer(usize, Instant),
}

impl Next {
    fn at(self, now: Instant) -> Instant {
        match self {
            Next::Start => now,
            Next::Packet(t) | Next::Timeout(_, t) | Next::AppTimer(_, t) => t,
        }
    }
}

/// How many times in a row one endpoint may ask for a timeout at the same instant before the
/// simulator calls it a livelock.
const MAX_TIMEOUT_REPEATS: u32 = 1000;
/// Rounds of event draining and transmitting per step before the simulator gives up.
const MAX_SERVICE_ROUNDS: u32 = 100_000;

/// A deterministic network of hosts (endpoints + apps) joined by impaired links.
pub struct Sim {
    seed: u64,
    now: Instant,
    hosts: Vec<Host>,
    by_addr: BTreeMap<Ipv4Addr, usize>,
    links: BTreeMap<(usize, usize), LinkDir>,
    queue: BinaryHeap<Reverse<Arrival>>,
    next_seq: u64,
    next_packet_id: u64,
    packets: Vec<PacketRecord>,
    transitions: Vec<TransitionRecord>,
    capture: bool,
    drop_filter: Option<DropFilter>,
    stats: SimStats,
    violations: Vec<String>,
    stalled: bool,
    repeat: (usize, Instant, u32),
    replay: Option<String>,
    buf: Vec<u8>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("in_flight", &self.queue.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Sim {
    /// An empty simulation whose every random decision derives from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            now: Instant::ZERO,
            hosts: Vec::new(),
            by_addr: BTreeMap::new(),
            links: BTreeMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            next_packet_id: 0,
            packets: Vec::new(),
            transitions: Vec::new(),
            capture: true,
            drop_filter: None,
            stats: SimStats::default(),
            violations: Vec::new(),
            stalled: false,
            repeat: (usize::MAX, Instant::ZERO, 0),
            replay: None,
            buf: vec![0; 65536],
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Add a host owning `addr`. Its endpoint's secret derives from the seed and the host's
    /// index, and `config.local_addrs` is set to `[addr]`. If two hosts claim one address,
    /// the first keeps it.
    pub fn add_host(&mut self, name: &str, addr: Ipv4Addr, mut config: Config) -> HostId {
        let index = self.hosts.len();
        config.local_addrs = vec![IpAddr::V4(addr)];
        let mut secret = [0u8; 16];
        let mut rng = Rng::new(derive_seed(self.seed, &[0x4057, index as u64]));
        secret[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        secret[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        self.hosts.push(Host {
            name: name.to_string(),
            addr,
            endpoint: Endpoint::new(config, secret),
            app: None,
            app_started: false,
            app_timer: None,
        });
        self.by_addr.entry(addr).or_insert(index);
        HostId(index)
    }

    /// Join `a` and `b` with a link, both directions with `link` but independent queues and
    /// random streams. Replaces an existing link between them.
    ///
    /// # Panics
    /// If `a` or `b` is not a host of this simulation.
    pub fn connect_hosts(&mut self, a: HostId, b: HostId, link: LinkConfig) {
        assert!(
            a.0 < self.hosts.len() && b.0 < self.hosts.len(),
            "no such host"
        );
        for (x, y) in [(a.0, b.0), (b.0, a.0)] {
            let seed = derive_seed(self.seed, &[0x11E4, x as u64, y as u64]);
            self.links.insert((x, y), LinkDir::new(link.clone(), seed));
        }
    }

    /// Install `app` on `host`; it starts at the next step.
    pub fn set_app(&mut self, host: HostId, app: Box<dyn App>) {
        let h = &mut self.hosts[host.0];
        h.app = Some(app);
        h.app_started = false;
        h.app_timer = None;
    }

    /// The host's endpoint (for setup, inspection, or driving it by hand).
    pub fn endpoint(&mut self, host: HostId) -> &mut Endpoint {
        &mut self.hosts[host.0].endpoint
    }

    /// The host's endpoint, read-only.
    pub fn endpoint_ref(&self, host: HostId) -> &Endpoint {
        &self.hosts[host.0].endpoint
    }

    /// The host's app, if one is installed.
    pub fn app(&self, host: HostId) -> Option<&dyn App> {
        self.hosts[host.0].app.as_deref()
    }

    /// The name given to `add_host`.
    pub fn host_name(&self, host: HostId) -> &str {
        &self.hosts[host.0].name
    }

    /// The host's address.
    pub fn host_addr(&self, host: HostId) -> Ipv4Addr {
        self.hosts[host.0].addr
    }

    /// All hosts, in the order they were added.
    pub fn hosts(&self) -> impl Iterator<Item = HostId> {
        (0..self.hosts.len()).map(HostId)
    }

    /// The host owning `addr`.
    pub fn host_by_addr(&self, addr: Ipv4Addr) -> Option<HostId> {
        self.by_addr.get(&addr).map(|&i| HostId(i))
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Link counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Packets currently in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Keep (`true`, the default) or stop keeping packet records (long runs save memory).
    pub fn set_capture(&mut self, capture: bool) {
        self.capture = capture;
    }

    /// Install (or with `None` remove) a deterministic drop filter: it sees every packet a
    /// host puts on a link, in sending order, and returns `true` to drop it
    /// ([`Fate::Filtered`]) before the link's own impairments apply (a filtered packet takes
    /// no queue slot and draws nothing from the link's random stream). Tests use it to lose
    /// exactly the segments they mean to, e.g. three consecutive data segments.
    pub fn set_drop_filter(&mut self, filter: Option<DropFilter>) {
        self.drop_filter = filter;
    }

    /// What [`RunReport::assert_ok`] tells the reader to run to replay a failure (default:
    /// `SYNACK_SEED=<seed> cargo test -p synack-sim`).
    pub fn set_replay_hint(&mut self, hint: impl Into<String>) {
        self.replay = Some(hint.into());
    }

    pub(crate) fn replay_hint(&self) -> String {
        self.replay
            .clone()
            .unwrap_or_else(|| format!("SYNACK_SEED={} cargo test -p synack-sim", self.seed))
    }

    /// Every packet put on a link so far (when capturing), in sending order.
    pub fn packets(&self) -> &[PacketRecord] {
        &self.packets
    }

    /// Every state transition so far, in order.
    pub fn transitions(&self) -> &[TransitionRecord] {
        &self.transitions
    }

    /// Problems the simulator itself detected (an endpoint spinning on its timer, …).
    pub fn sim_violations(&self) -> &[String] {
        &self.violations
    }

    /// What happens next, if anything (`&mut` because `poll_timeout` is).
    fn next(&mut self) -> Option<Next> {
        if self.stalled {
            return None;
        }
        if self.hosts.iter().any(|h| h.app.is_some() && !h.app_started) {
            return Some(Next::Start);
        }
        let mut best: Option<Next> = self.queue.peek().map(|Reverse(a)| Next::Packet(a.at));
        let now = self.now;
        let better = |best: &Option<Next>, t: Instant| match best {
            None => true,
            Some(b) => t < b.at(now),
        };
        for (i, h) in self.hosts.iter_mut().enumerate() {
            if let Some(t) = h.endpoint.poll_timeout() {
                if better(&best, t) {
                    best = Some(Next::Timeout(i, t));
                }
            }
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if let Some(t) = h.app_timer.filter(|_| h.app.is_some()) {
                if better(&best, t) {
                    best = Some(Next::AppTimer(i, t));
                }
            }
        }
        best
    }

    /// When the next thing happens, if anything is scheduled.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        let now = self.now;
        self.next().map(|n| n.at(now).max(now))
    }

    /// Advance the clock to the next packet arrival, endpoint deadline or app timer and
    /// process it: deliver or `handle_timeout`, run the host's app on the resulting events,
    /// put what the endpoint transmits on the links. Apps not yet started start first.
    /// Returns false when nothing is scheduled (or the simulation stalled).
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next() else {
            return false;
        };
        self.stats.steps += 1;
        self.now = self.now.max(next.at(self.now));
        match next {
            Next::Start => {
                for i in 0..self.hosts.len() {
                    if self.hosts[i].app.is_some() && !self.hosts[i].app_started {
                        self.hosts[i].app_started = true;
                        self.with_app(i, |app, ctx| app.on_start(ctx));
                        self.service(i);
                    }
                }
            }
            Next::Packet(_) => {
                if let Some(Reverse(a)) = self.queue.pop() {
                    let now = self.now;
                    // The packet is the host's to keep (Endpoint::handle_owned): large
                    // in-order text may stay in it until the application reads it.
                    let len = a.data.len();
                    let ep = &mut self.hosts[a.to].endpoint;
                    drop(ep.handle_owned(now, a.data, len));
                    self.service(a.to);
                    while self.hosts[a.to].endpoint.reclaim().is_some() {}
                }
            }
            Next::Timeout(i, _) => {
                let (host, at, count) = self.repeat;
                let count = if host == i && at == self.now {
                    count + 1
                } else {
                    1
                };
                self.repeat = (i, self.now, count);
                if count > MAX_TIMEOUT_REPEATS {
                    let name = self.hosts[i].name.clone();
                    self.stall(format!(
                        "{name}: endpoint still asks for a timeout at {} after {count} \
                         handle_timeout calls at that instant",
                        self.now
                    ));
                    return false;
                }
                let now = self.now;
                self.hosts[i].endpoint.handle_timeout(now);
                self.service(i);
            }
            Next::AppTimer(i, _) => {
                self.hosts[i].app_timer = None;
                self.with_app(i, |app, ctx| app.on_timer(ctx));
                self.service(i);
            }
        }
        true
    }

    fn stall(&mut self, why: String) {
        self.violations.push(why);
        self.stalled = true;
    }

    /// Run `f` on host `i`'s app (if any) with a fresh context.
    fn with_app(&mut self, i: usize, f: impl FnOnce(&mut dyn App, &mut AppCtx<'_>)) {
        let now = self.now;
        let h = &mut self.hosts[i];
        if let Some(app) = h.app.as_deref_mut() {
            let mut ctx = AppCtx {
                endpoint: &mut h.endpoint,
                now,
                host: HostId(i),
                addr: h.addr,
                timer: &mut h.app_timer,
            };
            f(app, &mut ctx);
        }
    }

    /// Drain host `i`'s events into its app and its transmit queue onto the links, until both
    /// are empty.
    fn service(&mut self, i: usize) {
        let now = self.now;
        let mut out: Vec<Vec<u8>> = Vec::new();
        for _ in 0..MAX_SERVICE_ROUNDS {
            let mut progressed = false;
            let h = &mut self.hosts[i];
            while let Some(ev) = h.endpoint.poll_event() {
                progressed = true;
                if let Event::StateChanged {
                    conn,
                    tuple,
                    from,
                    to,
                    cause,
                } = ev
                {
                    self.transitions.push(TransitionRecord {
                        at: now,
                        host: HostId(i),
                        conn,
                        tuple,
                        from,
                        to,
                        cause,
                    });
                }
                if let (Some(app), true) = (h.app.as_deref_mut(), h.app_started) {
                    let mut ctx = AppCtx {
                        endpoint: &mut h.endpoint,
                        now,
                        host: HostId(i),
                        addr: h.addr,
                        timer: &mut h.app_timer,
                    };
                    app.on_event(&mut ctx, &ev);
                }
            }
            while let Some(n) = h.endpoint.poll_transmit(now, &mut self.buf) {
                progressed = true;
                out.push(self.buf[..n.min(self.buf.len())].to_vec());
            }
            for packet in out.drain(..) {
                self.transmit(i, packet);
            }
            if !progressed {
                return;
            }
        }
        let name = self.hosts[i].name.clone();
        self.stall(format!(
            "{name}: endpoint kept producing events or packets for {MAX_SERVICE_ROUNDS} rounds at {now}"
        ));
    }

    /// Deliver `packet` (an IPv4 datagram, sent by no host of the simulation) to the host
    /// owning its destination address at `at` (or now, if `at` is in the past), bypassing links,
    /// their impairments and the drop filter: what an off-path attacker's spoofed segment or a
    /// test's hand-made one does. It is not captured (`packets()`); [`SimStats::injected`]
    /// counts it. Returns false (and schedules nothing) when no host owns the destination.
    pub fn inject(&mut self, at: Instant, packet: Vec<u8>) -> bool {
        let dst = match packet.get(..20) {
            Some(h) if h[0] >> 4 == 4 => Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            _ => return false,
        };
        let Some(&to) = self.by_addr.get(&dst) else {
            return false;
        };
        self.stats.injected += 1;
        self.schedule(at.max(self.now), to, packet);
        true
    }

    /// Put a packet from host `from` on the link toward its destination's owner.
    fn transmit(&mut self, from: usize, data: Vec<u8>) {
        let dst = match data.get(..20) {
            Some(h) if h[0] >> 4 == 4 => Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            _ => {
                self.stats.unroutable += 1;
                return;
            }
        };
        let Some(&to) = self.by_addr.get(&dst) else {
            self.stats.unroutable += 1;
            return;
        };
        let Some(link) = self.links.get_mut(&(from, to)) else {
            self.stats.unroutable += 1;
            return;
        };
        let now = self.now;
        let id = self.next_packet_id;
        let filtered = self.drop_filter.as_mut().is_some_and(|f| {
            f(&PacketView {
                id,
                sent: now,
                from: HostId(from),
                to: HostId(to),
                data: &data,
            })
        });
        let decision = if filtered {
            Decision {
                fate: Fate::Filtered,
                flipped_bit: None,
                duplicate_at: None,
            }
        } else {
            link.transmit(now, data.len())
        };
        self.next_packet_id += 1;
        self.stats.sent += 1;
        match decision.fate {
            Fate::TooBig => self.stats.too_big += 1,
            Fate::Lost => self.stats.lost += 1,
            Fate::QueueFull => self.stats.queue_full += 1,
            Fate::Filtered => self.stats.filtered += 1,
            Fate::Delivered { at } => {
                self.stats.delivered += 1;
                self.schedule(at, to, data.clone());
            }
            Fate::Corrupted { at } => {
                self.stats.corrupted += 1;
                let mut bad = data.clone();
                if let Some(bit) = decision.flipped_bit {
                    flip_bit(&mut bad, bit);
                }
                self.schedule(at, to, bad);
            }
        }
        let dup = decision.duplicate_at.map(|at| {
            self.stats.duplicated += 1;
            self.stats.delivered += 1;
            self.schedule(at, to, data.clone());
            let dup_id = self.next_packet_id;
            self.next_packet_id += 1;
            (dup_id, at)
        });
        if self.capture {
            let rec = PacketRecord {
                id,
                sent: now,
                from: HostId(from),
                to: HostId(to),
                data,
                fate: decision.fate,
                duplicate_of: None,
                flipped_bit: decision.flipped_bit,
            };
            if let Some((dup_id, at)) = dup {
                let copy = PacketRecord {
                    id: dup_id,
                    fate: Fate::Delivered { at },
                    duplicate_of: Some(id),
                    flipped_bit: None,
                    ..rec.clone()
                };
                self.packets.push(rec);
                self.packets.push(copy);
            } else {
                self.packets.push(rec);
            }
        }
    }

    fn schedule(&mut self, at: Instant, to: usize, data: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse(Arrival { at, seq, to, data }));
    }

    /// Step until `done(self)` is true (returns true), nothing is scheduled, or the next
    /// thing would happen after `limit` (both return false; the clock stays at the last event).
    pub fn run_until(&mut self, limit: Instant, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            match self.next_event_time() {
                Some(t) if t <= limit => {
                    if !self.step() {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }

    /// Run until quiet (nothing in flight, no deadline, no app timer) or until the next thing
    /// would happen after `limit`, then check the invariants (see [`RunReport`]).
    pub fn run(&mut self, limit: Instant) -> RunReport {
        self.run_until(limit, |_| false);
        let hit_limit = !self.stalled && self.next_event_time().is_some();
        check::check(self, hit_limit)
    }

    /// Outcomes of all installed apps, by host.
    pub fn outcomes(&self) -> Vec<(HostId, crate::apps::AppOutcome)> {
        self.hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.app.as_ref().map(|a| (HostId(i), a.outcome())))
            .collect()
    }

    /// Connections alive on each host (`connection_count()`), by host.
    pub(crate) fn connection_counts(&self) -> Vec<(HostId, usize)> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (HostId(i), h.endpoint.connection_count()))
            .collect()
    }

    /// Host names by index (for messages).
    pub(crate) fn names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// A pcap file of every original packet (not link-made duplicates) at its send time, as a
    /// capture at the senders would show it (lost ones included). With `link`, only packets
    /// between those two hosts (either direction).
    pub fn pcap_bytes_for(&self, link: Option<(HostId, HostId)>) -> Vec<u8> {
        let mut w = PcapWriter::new();
        for p in &self.packets {
            let on_link = match link {
                None => true,
                Some((a, b)) => (p.from == a && p.to == b) || (p.from == b && p.to == a),
            };
            if p.duplicate_of.is_none() && on_link {
                w.record(p.sent, &p.data);
            }
        }
        w.into_bytes()
    }

    /// [`Sim::pcap_bytes_for`] all links.
    pub fn pcap_bytes(&self) -> Vec<u8> {
        self.pcap_bytes_for(None)
    }

    /// Write [`Sim::pcap_bytes_for`] `link` to `path`.
    pub fn write_pcap(&self, path: &Path, link: Option<(HostId, HostId)>) -> std::io::Result<()> {
        std::fs::write(path, self.pcap_bytes_for(link))
    }
}
