//! `synack ss`: the connection table of running synack processes, read from their control
//! sockets (see `synack::control`) and printed like `ss -tin`, or summarised, or as JSON.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;
use synack_proto::State;

use crate::ss_find;
use crate::ss_summary::summary;

#[derive(Args, Debug)]
pub struct SsArgs {
    /// Read only this control socket (default: every synack process with a control socket in
    /// the default directory, /run/synack as root, else $XDG_RUNTIME_DIR/synack).
    #[arg(long, value_name = "PATH", conflicts_with = "dir")]
    pub socket: Option<PathBuf>,
    /// Look for control sockets in DIR instead of the default directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// JSON as an array (one element per process) even for one process. (Every process is
    /// shown without it; kept for scripts written when one had to ask for them.)
    #[arg(long, hide = true)]
    pub all: bool,
    /// Say which control sockets were skipped (left behind by processes that are gone).
    #[arg(short, long)]
    pub verbose: bool,
    /// Only connections in STATE (repeatable): established, syn-sent, syn-recv,
    /// fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack, closing, listening, or the
    /// groups connected (all but listening) and synchronized (all but syn-sent/syn-recv).
    #[arg(long, value_name = "STATE")]
    pub state: Vec<String>,
    /// Counts per state, listener queue depths, SYN cookies, drops by reason.
    #[arg(short, long)]
    pub summary: bool,
    /// The control socket's JSON (filtered like the table).
    #[arg(long)]
    pub json: bool,
    /// Show listeners too, with their SYN and accept queues as Recv-Q/Send-Q... (ss -l).
    #[arg(short, long)]
    pub listening: bool,
    /// Only connections whose local port is PORT.
    #[arg(long, value_name = "PORT")]
    pub sport: Option<u16>,
    /// Only connections whose remote port is PORT.
    #[arg(long, value_name = "PORT")]
    pub dport: Option<u16>,
    /// Only connections whose local address is IP.
    #[arg(long, value_name = "IP")]
    pub src: Option<IpAddr>,
    /// Only connections whose remote address is IP.
    #[arg(long, value_name = "IP")]
    pub dst: Option<IpAddr>,
    /// Only connections with this endpoint on either side: IP, :PORT or IP:PORT
    /// ([IPv6]:PORT).
    #[arg(value_name = "ADDR")]
    pub filter: Vec<String>,
}

/// `ss`'s short state names.
fn ss_name(rfc: &str) -> &str {
    match rfc {
        "ESTABLISHED" => "ESTAB",
        "SYN-RECEIVED" => "SYN-RECV",
        "LISTEN" => "LISTEN",
        other => other,
    }
}

/// Every state's RFC name, LISTEN first and CLOSED last: the order the tools print them in.
pub(crate) fn state_names() -> impl Iterator<Item = &'static str> {
    State::ALL[1..]
        .iter()
        .chain(&State::ALL[..1])
        .map(|s| s.name())
}

/// The RFC state names a `--state` word selects.
fn states_for(word: &str) -> Result<Vec<&'static str>, String> {
    // The states of connections (LISTEN is a listener's).
    let all: Vec<&'static str> = state_names().filter(|s| *s != "LISTEN").collect();
    let w = word.to_ascii_lowercase().replace('_', "-");
    Ok(match w.as_str() {
        "established" | "estab" => vec!["ESTABLISHED"],
        "syn-sent" => vec!["SYN-SENT"],
        "syn-recv" | "syn-received" => vec!["SYN-RECEIVED"],
        "fin-wait-1" => vec!["FIN-WAIT-1"],
        "fin-wait-2" => vec!["FIN-WAIT-2"],
        "time-wait" => vec!["TIME-WAIT"],
        "close-wait" => vec!["CLOSE-WAIT"],
        "last-ack" => vec!["LAST-ACK"],
        "closing" => vec!["CLOSING"],
        "closed" => vec!["CLOSED"],
        "listening" | "listen" => vec!["LISTEN"],
        "connected" => all.into_iter().filter(|s| *s != "CLOSED").collect(),
        "synchronized" => all
            .into_iter()
            .filter(|s| !matches!(*s, "CLOSED" | "SYN-SENT" | "SYN-RECEIVED"))
            .collect(),
        "all" => {
            let mut v = all;
            v.push("LISTEN");
            v
        }
        _ => return Err(format!("--state {word}: unknown state")),
    })
}

/// One `ADDR` filter: IP, :PORT or IP:PORT.
#[derive(Debug, PartialEq)]
struct EndFilter {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

fn parse_end(s: &str) -> Result<EndFilter, String> {
    if let Some(p) = s.strip_prefix(':') {
        let port = p.parse().map_err(|_| format!("{s}: not a port"))?;
        return Ok(EndFilter {
            ip: None,
            port: Some(port),
        });
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(EndFilter {
            ip: Some(ip),
            port: None,
        });
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(EndFilter {
            ip: Some(a.ip()),
            port: Some(a.port()),
        });
    }
    Err(format!("{s}: expected IP, :PORT or IP:PORT"))
}

impl EndFilter {
    fn matches(&self, a: &SocketAddr) -> bool {
        self.ip.is_none_or(|ip| ip == a.ip()) && self.port.is_none_or(|p| p == a.port())
    }
}

struct Filter {
    states: Option<Vec<&'static str>>,
    ends: Vec<EndFilter>,
    sport: Option<u16>,
    dport: Option<u16>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
}

impl Filter {
    fn new(args: &SsArgs) -> Result<Filter, String> {
        let states = if args.state.is_empty() {
            None
        } else {
            let mut v = Vec::new();
            for w in &args.state {
                v.extend(states_for(w)?);
            }
            Some(v)
        };
        Ok(Filter {
            states,
            ends: args
                .filter
                .iter()
                .map(|s| parse_end(s))
                .collect::<Result<_, _>>()?,
            sport: args.sport,
            dport: args.dport,
            src: args.src,
            dst: args.dst,
        })
    }

    fn conn(&self, c: &Value) -> bool {
        let state = c["state"].as_str().unwrap_or("");
        let local: Option<SocketAddr> = c["local"].as_str().and_then(|s| s.parse().ok());
        let remote: Option<SocketAddr> = c["remote"].as_str().and_then(|s| s.parse().ok());
        let (Some(local), Some(remote)) = (local, remote) else {
            return false;
        };
        self.states.as_ref().is_none_or(|v| v.contains(&state))
            && self.sport.is_none_or(|p| p == local.port())
            && self.dport.is_none_or(|p| p == remote.port())
            && self.src.is_none_or(|ip| ip == local.ip())
            && self.dst.is_none_or(|ip| ip == remote.ip())
            && self
                .ends
                .iter()
                .all(|e| e.matches(&local) || e.matches(&remote))
    }

    fn listener(&self, l: &Value) -> bool {
        if self.states.as_ref().is_some_and(|v| !v.contains(&"LISTEN")) {
            return false;
        }
        let local: Option<SocketAddr> = l["local"].as_str().and_then(|s| s.parse().ok());
        match local {
            // Accept-any listens everywhere.
            None => self.sport.is_none() && self.src.is_none() && self.ends.is_empty(),
            Some(a) => {
                self.sport.is_none_or(|p| p == a.port())
                    && self.src.is_none_or(|ip| ip == a.ip())
                    && self.dport.is_none()
                    && self.dst.is_none()
                    && self.ends.iter().all(|e| e.matches(&a))
            }
        }
    }
}

/// The processes to show: the one `--socket` names, or every one in the directory. Stale
/// socket files are skipped (named with `--verbose`); sockets that cannot be read for another
/// reason are named on stderr and skipped.
fn processes(args: &SsArgs) -> Result<Vec<ss_find::Process>, String> {
    if let Some(p) = &args.socket {
        return Ok(vec![ss_find::one(p)?]);
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(synack::control::default_dir);
    let found = ss_find::scan(&dir);
    if args.verbose {
        for p in &found.stale {
            crate::errln!(
                "synack ss: skipped {}: nobody answers (its process is gone)",
                p.display()
            );
        }
    }
    for (p, e) in &found.unreadable {
        crate::errln!("synack ss: cannot read {}: {e}", p.display());
    }
    if found.live.is_empty() {
        let stale = match found.stale.len() {
            0 => String::new(),
            1 => " (1 left behind by an exited process)".to_string(),
            n => format!(" ({n} left behind by exited processes)"),
        };
        return Err(format!(
            "no running synack process has a control socket in {}{stale} (use --socket PATH \
             or --dir DIR)",
            dir.display()
        ));
    }
    Ok(found.live)
}

pub fn run(args: &SsArgs) -> Result<(), String> {
    let filter = Filter::new(args)?;
    let mut docs = Vec::new();
    for ss_find::Process { path, mut doc } in processes(args)? {
        // Filter in place, so --json shows what the table would.
        if let Some(Value::Array(cs)) = doc.get_mut("connections") {
            cs.retain(|c| filter.conn(c));
        }
        if let Some(Value::Array(ls)) = doc.get_mut("listeners") {
            ls.retain(|l| filter.listener(l));
        }
        doc["control_socket"] = Value::String(path.display().to_string());
        docs.push(doc);
    }
    if args.json {
        let out = if docs.len() == 1 && !args.all {
            docs.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(docs)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let many = docs.len() > 1;
    for (i, doc) in docs.iter().enumerate() {
        if many && i > 0 {
            println!();
        }
        if args.summary {
            // Its first line names the process.
            print!("{}", summary(doc));
        } else {
            if many {
                print!("{}", heading(doc));
            }
            print!(
                "{}",
                table(doc, args.listening || filter_wants_listen(&filter))
            );
        }
    }
    Ok(())
}

/// The line above each process's table when there are several.
fn heading(doc: &Value) -> String {
    format!(
        "synack pid {} ({}), control socket {}\n",
        doc["pid"],
        doc["program"].as_str().unwrap_or("?"),
        doc["control_socket"].as_str().unwrap_or("?")
    )
}

fn filter_wants_listen(f: &Filter) -> bool {
    f.states.as_ref().is_some_and(|v| v.contains(&"LISTEN"))
}

fn ms_text(v: &Value) -> String {
    match v.as_f64() {
        Some(ms) if ms.abs() >= 10_000.0 => format!("{:.0}sec", ms / 1000.0),
        Some(ms) if ms.abs() >= 1000.0 => format!("{:.1}sec", ms / 1000.0),
        Some(ms) => format!("{ms:.0}ms"),
        None => "?".into(),
    }
}

/// `timer:(name,left,retries)` the way `ss -o` writes them; `~` marks estimates.
fn timers_text(c: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for t in c["timers"].as_array().into_iter().flatten() {
        let name = match t["name"].as_str().unwrap_or("?") {
            "retransmit" => "on",
            "time-wait" => "timewait",
            other => other,
        };
        let approx = if t["approx"].as_bool() == Some(true) {
            "~"
        } else {
            ""
        };
        let retries = t["backoff"].as_u64().unwrap_or(0);
        out.push(format!(
            "timer:({name},{approx}{},{retries})",
            ms_text(&t["left_ms"])
        ));
    }
    out
}

fn table(doc: &Value, listening: bool) -> String {
    let pid = &doc["pid"];
    let mut rows: Vec<[String; 6]> = vec![[
        "State".into(),
        "Recv-Q".into(),
        "Send-Q".into(),
        "Local Address:Port".into(),
        "Peer Address:Port".into(),
        "Process".into(),
    ]];
    let mut details: Vec<Option<String>> = vec![None];
    let process = format!("synack,pid={pid}");
    if listening {
        for l in doc["listeners"].as_array().into_iter().flatten() {
            rows.push([
                "LISTEN".into(),
                l["accept_queue"].to_string(),
                l["backlog"].to_string(),
                l["local"].as_str().unwrap_or("*").to_string(),
                "*:*".into(),
                process.clone(),
            ]);
            details.push(Some(format!("syn_queue:{}", l["syn_queue"])));
        }
    }
    for c in doc["connections"].as_array().into_iter().flatten() {
        rows.push([
            ss_name(c["state"].as_str().unwrap_or("?")).to_string(),
            c["recv_q"].to_string(),
            c["send_q"].to_string(),
            c["local"].as_str().unwrap_or("?").to_string(),
            c["remote"].as_str().unwrap_or("?").to_string(),
            process.clone(),
        ]);
        details.push(Some(detail(c)));
    }
    let w: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (r, d) in rows.iter().zip(&details) {
        out.push_str(&format!(
            "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:<w4$} {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w0 = w[0].max(10),
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
        ));
        if let Some(d) = d {
            out.push_str(&format!("\t {d}\n"));
        }
    }
    out
}

/// The second line of a connection, like `ss -tin` (plus `-o` timers).
/// The options a connection agreed, as `ss` names them: `wscale:S,R`, `sack`, `ts`.
fn option_words(c: &Value, f: &mut Vec<String>) {
    if let Some(ws) = c["wscale"].as_array() {
        f.push(format!("wscale:{},{}", ws[1], ws[0]));
    }
    if c["sack"].as_bool() == Some(true) {
        f.push("sack".into());
    }
    if c["timestamps"].as_bool() == Some(true) {
        f.push("ts".into());
    }
}

fn detail(c: &Value) -> String {
    if c["state"].as_str() == Some("TIME-WAIT") {
        return time_wait_detail(c);
    }
    let mut f = Vec::new();
    f.push(c["congestion"].as_str().unwrap_or("?").to_string());
    option_words(c, &mut f);
    f.push(format!(
        "rto:{}",
        c["rto_ms"].as_f64().unwrap_or(0.0).round()
    ));
    if let Some(rtt) = c["rtt_ms"].as_f64() {
        f.push(format!(
            "rtt:{:.3}/{:.3}",
            rtt,
            c["rttvar_ms"].as_f64().unwrap_or(0.0)
        ));
    }
    let mss = c["mss"].as_u64().unwrap_or(0).max(1);
    f.push(format!("mss:{mss}"));
    let cwnd = c["cwnd"].as_u64().unwrap_or(0);
    f.push(format!("cwnd:{}", cwnd.div_ceil(mss)));
    let ssthresh = c["ssthresh"].as_u64().unwrap_or(0);
    if ssthresh < u64::from(u32::MAX / 2) {
        f.push(format!("ssthresh:{}", ssthresh.div_ceil(mss)));
    }
    f.push(format!("bytes_sent:{}", c["bytes_sent"]));
    f.push(format!("bytes_acked:{}", c["bytes_acked"]));
    f.push(format!("bytes_received:{}", c["bytes_received"]));
    f.push(format!(
        "retrans:{}/{}",
        c["backoff"].as_u64().unwrap_or(0),
        c["retransmits"]
    ));
    // Loss episodes found spurious and undone (Eifel, D-SACK, F-RTO), and how many of them
    // were timeouts; shown once there are any.
    let undos = c["undos"].as_u64().unwrap_or(0);
    if undos > 0 {
        f.push(format!(
            "undo:{undos}/{}",
            c["spurious_timeouts"].as_u64().unwrap_or(0)
        ));
    }
    let inflight = c["bytes_in_flight"].as_u64().unwrap_or(0);
    if inflight > 0 {
        f.push(format!("unacked:{}", inflight.div_ceil(mss)));
    }
    f.push(format!("snd_wnd:{}", c["snd_wnd"]));
    f.push(format!("rcv_wnd:{}", c["rcv_wnd"]));
    // Quick ACKs (Linux's ss shows qack: the segments quick mode still ACKs at once): left
    // in the current quick mode / ACKed at once so far. Shown once any was sent.
    let qack = c["quick_acks"].as_u64().unwrap_or(0);
    if qack > 0 {
        f.push(format!(
            "qack:{}/{qack}",
            c["quick_acks_left"].as_u64().unwrap_or(0)
        ));
    }
    // RACK-TLP (RFC 8985): segments RACK marked lost, its reordering window, and tail loss
    // probes sent / losses they repaired. Shown once RACK runs on the connection.
    if let Some(reo) = c["reordering_window_ms"].as_f64() {
        f.push(format!(
            "rack:lost{},reo{reo:.1}ms",
            c["rack_lost"].as_u64().unwrap_or(0)
        ));
        let probes = c["tlp_probes"].as_u64().unwrap_or(0);
        if probes > 0 {
            f.push(format!(
                "tlp:{probes}/{}",
                c["tlp_repairs"].as_u64().unwrap_or(0)
            ));
        }
    }
    // The buffers' sizes as autotuning has grown them (Linux's skmem rb and tb).
    if let (Some(rb), Some(tb)) = (c["recv_buffer"].as_u64(), c["send_buffer"].as_u64()) {
        f.push(format!("skmem:(rb{rb},tb{tb})"));
    }
    if let Some(ms) = c["in_state_ms"].as_f64() {
        f.push(format!(
            "in_state:{}",
            ms_text(&Value::from((ms * 1000.0).round() / 1000.0))
        ));
    }
    match c["owner"].as_str() {
        Some("listener") => f.push("unaccepted".into()),
        Some("stack") => f.push("orphan".into()),
        _ => {}
    }
    f.extend(timers_text(c));
    f.join(" ")
}

/// The second line of a TIME-WAIT row: what a TIME-WAIT entry keeps (RFC 9293 3.6.1: the
/// tuple, SND.NXT and RCV.NXT to answer a retransmitted FIN, the options that judge what
/// arrives, the 2×MSL timer), not the zeros of the congestion state and buffers it no longer
/// has. A connection its application still holds in TIME-WAIT also shows its byte counts.
fn time_wait_detail(c: &Value) -> String {
    let mut f = Vec::new();
    // With ts on, PAWS (RFC 7323 5.5) goes on judging what arrives in TIME-WAIT.
    option_words(c, &mut f);
    if let Some(n) = c["snd_nxt"].as_u64() {
        f.push(format!("snd_nxt:{n}"));
    }
    if let Some(n) = c["rcv_nxt"].as_u64() {
        f.push(format!("rcv_nxt:{n}"));
    }
    let count = |k: &str| c[k].as_u64().unwrap_or(0);
    if count("bytes_sent") + count("bytes_received") > 0 {
        f.push(format!("bytes_sent:{}", count("bytes_sent")));
        f.push(format!("bytes_acked:{}", count("bytes_acked")));
        f.push(format!("bytes_received:{}", count("bytes_received")));
    }
    if let Some(ms) = c["in_state_ms"].as_f64() {
        f.push(format!(
            "in_state:{}",
            ms_text(&Value::from((ms * 1000.0).round() / 1000.0))
        ));
    }
    // The stack keeping the entry on its own is TIME-WAIT's norm: no "orphan" mark.
    f.extend(timers_text(c));
    f.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_filters_and_states() {
        assert_eq!(
            parse_end(":80").unwrap(),
            EndFilter {
                ip: None,
                port: Some(80)
            }
        );
        assert_eq!(
            parse_end("[fd00::1]:7").unwrap().ip,
            Some("fd00::1".parse().unwrap())
        );
        assert!(parse_end("nonsense").is_err());
        assert_eq!(states_for("syn-recv").unwrap(), vec!["SYN-RECEIVED"]);
        assert_eq!(states_for("TIME_WAIT").unwrap(), vec!["TIME-WAIT"]);
        assert!(states_for("synchronized").unwrap().contains(&"CLOSE-WAIT"));
        assert!(states_for("bogus").is_err());
    }

    #[test]
    fn detail_shows_the_autotuned_buffer_sizes() {
        let c: Value = serde_json::from_str(
            r#"{"congestion":"cubic","rto_ms":200,"mss":1448,"cwnd":14480,"ssthresh":4294967295,
                "bytes_sent":1,"bytes_acked":1,"bytes_received":0,"backoff":0,"retransmits":0,
                "bytes_in_flight":0,"snd_wnd":65535,"rcv_wnd":262144,
                "recv_buffer":1048576,"send_buffer":524288}"#,
        )
        .unwrap();
        let line = detail(&c);
        assert!(
            line.contains(" rcv_wnd:262144 skmem:(rb1048576,tb524288)"),
            "{line}"
        );
    }

    #[test]
    fn detail_shows_undone_episodes_once_there_are_any() {
        let mut c: Value = serde_json::from_str(
            r#"{"congestion":"cubic","rto_ms":200,"mss":1448,"cwnd":14480,"ssthresh":4294967295,
                "bytes_sent":1,"bytes_acked":1,"bytes_received":0,"backoff":0,"retransmits":3,
                "bytes_in_flight":0,"snd_wnd":65535,"rcv_wnd":262144,"undos":0,
                "spurious_timeouts":0}"#,
        )
        .unwrap();
        assert!(!detail(&c).contains("undo:"), "{}", detail(&c));
        c["undos"] = 2.into();
        c["spurious_timeouts"] = 1.into();
        let line = detail(&c);
        assert!(line.contains(" retrans:0/3 undo:2/1 snd_wnd:"), "{line}");
    }

    #[test]
    fn detail_shows_quick_acks_left_and_sent_once_any_was_sent() {
        let mut c: Value = serde_json::from_str(
            r#"{"congestion":"cubic","rto_ms":200,"mss":1448,"cwnd":14480,"ssthresh":4294967295,
                "bytes_sent":1,"bytes_acked":1,"bytes_received":0,"backoff":0,"retransmits":0,
                "bytes_in_flight":0,"snd_wnd":65535,"rcv_wnd":262144,
                "quick_acks_left":0,"quick_acks":0}"#,
        )
        .unwrap();
        assert!(!detail(&c).contains("qack"), "{}", detail(&c));
        c["quick_acks_left"] = 6.into();
        c["quick_acks"] = 10.into();
        let line = detail(&c);
        assert!(line.contains(" rcv_wnd:262144 qack:6/10"), "{line}");
    }

    #[test]
    fn detail_shows_rack_and_tail_loss_probes_rfc8985() {
        let mut c: Value = serde_json::from_str(
            r#"{"congestion":"cubic","rto_ms":200,"mss":1448,"cwnd":14480,"ssthresh":4294967295,
                "bytes_sent":1,"bytes_acked":1,"bytes_received":0,"backoff":0,"retransmits":0,
                "bytes_in_flight":0,"snd_wnd":65535,"rcv_wnd":262144,
                "rack_lost":0,"tlp_probes":0,"tlp_repairs":0,"reordering_window_ms":null}"#,
        )
        .unwrap();
        assert!(!detail(&c).contains("rack"), "no RACK yet: {}", detail(&c));
        c["reordering_window_ms"] = 5.0.into();
        c["rack_lost"] = 3.into();
        assert!(
            detail(&c).contains(" rack:lost3,reo5.0ms"),
            "{}",
            detail(&c)
        );
        assert!(!detail(&c).contains("tlp"), "no probe yet: {}", detail(&c));
        c["tlp_probes"] = 2.into();
        c["tlp_repairs"] = 1.into();
        assert!(
            detail(&c).contains(" rack:lost3,reo5.0ms tlp:2/1"),
            "{}",
            detail(&c)
        );
    }

    /// A TIME-WAIT entry's row as the control socket gives it (synack-proto's
    /// time_wait_info: no MSS, RTO, cwnd or buffers): its sequence numbers, options and
    /// 2×MSL timer, none of the placeholders.
    #[test]
    fn time_wait_rows_show_what_the_entry_keeps() {
        let c: Value = serde_json::from_str(
            r#"{"state":"TIME-WAIT","local":"10.200.0.2:80","remote":"10.200.0.1:5000",
                "recv_q":0,"send_q":0,"owner":"stack","in_state_ms":1300.0,
                "timers":[{"name":"time-wait","left_ms":59000.0,"length_ms":60000.0}],
                "mss":0,"rtt_ms":null,"rttvar_ms":0.0,"rto_ms":0.0,"cwnd":0,"ssthresh":0,
                "bytes_in_flight":0,"snd_wnd":0,"rcv_wnd":65535,"snd_una":1001,
                "snd_nxt":1001,"rcv_nxt":2002,"retransmits":0,"backoff":0,"bytes_sent":0,
                "bytes_acked":0,"bytes_received":0,"recv_buffer":0,"send_buffer":0,
                "congestion":"cubic","wscale":null,"sack":true,"timestamps":true}"#,
        )
        .unwrap();
        assert_eq!(
            detail(&c),
            "sack ts snd_nxt:1001 rcv_nxt:2002 in_state:1.3sec timer:(timewait,59sec,0)"
        );
        let mut no_ts = c.clone();
        no_ts["timestamps"] = false.into();
        no_ts["sack"] = false.into();
        assert_eq!(
            detail(&no_ts),
            "snd_nxt:1001 rcv_nxt:2002 in_state:1.3sec timer:(timewait,59sec,0)"
        );
        // Still a full connection (its application holds it): the counts it keeps, too.
        let mut held = c.clone();
        held["bytes_sent"] = 119.into();
        held["bytes_acked"] = 119.into();
        held["bytes_received"] = 18.into();
        held["wscale"] = serde_json::json!([10, 7]);
        let line = detail(&held);
        assert!(
            line.starts_with(
                "wscale:7,10 sack ts snd_nxt:1001 rcv_nxt:2002 bytes_sent:119 \
                              bytes_acked:119 bytes_received:18 in_state"
            ),
            "{line}"
        );
        for gone in [
            "rto:", "mss:", "cwnd:", "retrans:", "skmem", "orphan", "cubic",
        ] {
            assert!(!line.contains(gone), "{gone} in {line}");
        }
    }

    #[test]
    fn each_process_is_headed_by_its_pid_and_command_line() {
        let doc: Value = serde_json::from_str(
            r#"{"pid":42,"program":"synack serve --port 80","control_socket":"/d/a.sock",
                "listeners":[],"connections":[]}"#,
        )
        .unwrap();
        assert_eq!(
            heading(&doc),
            "synack pid 42 (synack serve --port 80), control socket /d/a.sock\n"
        );
    }
}
