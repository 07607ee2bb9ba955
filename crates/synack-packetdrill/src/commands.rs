//! Backquoted shell commands. None is ever run. What they mean is honoured where synack has
//! it:
//!
//! - `sysctl` settings (also `set_sysctls.py /proc/sys/…=v`, and the lines of a script file
//!   such as `../common/defaults.sh` found next to the script) that map to synack's
//!   [`synack_proto::Config`] are applied before the endpoint exists; every other setting is
//!   listed as skipped.
//! - FreeBSD's `sockstat … | grep -c STATE | grep N` is a check: the runner counts the
//!   connections in that state and fails the script when the count differs.
//! - Any other pipeline through `grep` is a check the runner cannot make: the script stops
//!   as unsupported. Other commands (`tc`, `ethtool`, `ip route`, …) are listed as skipped.

use std::time::Duration;

use synack_proto::congestion::Algorithm;
use synack_proto::{Config, State};

use crate::runner::Runner;
use crate::sockets::Kind;
use crate::{Failure, NoteKind};

/// Split one shell statement into words, honouring quotes; `$((a*b))` arithmetic of plain
/// integers is evaluated (defaults.sh writes `$((15*1024*1024))`).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), _) if c == q => quote = None,
            (None, ' ' | '\t') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            _ => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|w| arithmetic(&w)).collect()
}

fn arithmetic(w: &str) -> String {
    let Some(a) = w.find("$((") else {
        return w.to_string();
    };
    let Some(len) = w[a..].find("))") else {
        return w.to_string();
    };
    let inner = &w[a + 3..a + len];
    let v: Option<i64> = inner
        .split('*')
        .map(|f| f.trim().parse::<i64>().ok())
        .try_fold(1i64, |acc, f| f.map(|f| acc.saturating_mul(f)));
    match v {
        Some(v) => format!("{}{v}{}", &w[..a], arithmetic(&w[a + len + 2..])),
        None => w.to_string(),
    }
}

/// Statements of a command: split at new lines, `;` and `&&` (quotes respected), with `\`
/// continuations joined and `#` comments dropped.
fn statements(cmd: &str) -> Vec<String> {
    let joined = cmd.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = match line
            .find(" #")
            .or(line.trim_start().starts_with('#').then_some(0))
        {
            Some(i) => &line[..i],
            None => line,
        };
        let mut cur = String::new();
        let mut quote = None;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), _) if q == c => quote = None,
                _ => {}
            }
            let split =
                quote.is_none() && (c == ';' || (c == '&' && chars.get(i + 1) == Some(&'&')));
            if split {
                out.push(std::mem::take(&mut cur));
                i += if c == '&' { 2 } else { 1 };
                continue;
            }
            cur.push(c);
            i += 1;
        }
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The effect of one sysctl on the configuration: `Ok(Some(text))` applied, `Ok(None)`
/// unknown (skipped), `Err(why)` known but not applicable.
fn sysctl(cfg: &mut Config, key: &str, value: &str) -> Result<Option<String>, String> {
    let v = value.trim();
    let n = || {
        v.parse::<u64>()
            .map_err(|_| format!("`{v}` is not a number"))
    };
    let on = || n().map(|x| x != 0);
    let ms = |x: u64| Duration::from_millis(x);
    let nums = || -> Vec<u64> {
        v.split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect()
    };
    match key {
        "net.ipv4.tcp_timestamps" => cfg.timestamps = on()?,
        "net.ipv4.tcp_sack" | "net.inet.tcp.sack.enable" => cfg.sack = on()?,
        "net.ipv4.tcp_window_scaling" => cfg.window_scaling = on()?,
        // FreeBSD: 1 both RFC 1323 options, 2 window scaling only, 3 timestamps only.
        "net.inet.tcp.rfc1323" => {
            let x = n()?;
            cfg.window_scaling = x == 1 || x == 2;
            cfg.timestamps = x == 1 || x == 3;
        }
        "net.ipv4.tcp_ecn" | "net.inet.tcp.ecn.enable" => {
            return if n()? == 0 {
                Ok(Some(format!("{key}={v} (synack never negotiates ECN)")))
            } else {
                Err("synack does not do ECN: it neither asks for nor accepts it".into())
            };
        }
        "net.ipv4.tcp_rmem" | "net.ipv4.tcp_wmem" => {
            let x = nums();
            let [_, def, max] = x[..] else {
                return Err(format!("`{v}` is not three numbers"));
            };
            let (def, max) = (def as usize, max.max(def) as usize);
            if key.ends_with("rmem") {
                (cfg.recv_buffer, cfg.recv_buffer_max) = (def, max);
            } else {
                (cfg.send_buffer, cfg.send_buffer_max) = (def, max);
            }
        }
        "net.inet.tcp.recvspace" => cfg.recv_buffer = n()? as usize,
        "net.inet.tcp.sendspace" => cfg.send_buffer = n()? as usize,
        "net.ipv4.tcp_congestion_control" | "net.inet.tcp.cc.algorithm" => {
            cfg.congestion = match v {
                "cubic" => Algorithm::Cubic,
                "reno" | "newreno" => Algorithm::NewReno,
                other => return Err(format!("synack has no congestion control `{other}`")),
            }
        }
        "net.ipv4.tcp_syncookies" | "net.inet.tcp.syncookies" => cfg.syn_cookies = on()?,
        "net.ipv4.tcp_rfc1337" => cfg.rfc1337 = on()?,
        "net.ipv4.tcp_retries1" => cfg.r1 = n()? as u32,
        "net.ipv4.tcp_fin_timeout" => cfg.fin_wait2_timeout = Some(Duration::from_secs(n()?)),
        "net.inet.tcp.finwait2_timeout" => cfg.fin_wait2_timeout = Some(ms(n()?)),
        "net.ipv4.tcp_keepalive_intvl" => cfg.keepalive_interval = Duration::from_secs(n()?),
        "net.inet.tcp.keepintvl" => cfg.keepalive_interval = ms(n()?),
        "net.ipv4.tcp_keepalive_probes" | "net.inet.tcp.keepcnt" => {
            cfg.keepalive_probes = n()? as u32
        }
        "net.inet.tcp.msl" => cfg.msl = ms(n()?),
        // How long an opening connection may take (Linux counts SYN retries instead).
        "net.inet.tcp.keepinit" => cfg.syn_timeout = ms(n()?),
        "net.inet.tcp.delayed_ack" => {
            if !on()? {
                cfg.delayed_ack = None;
            } else if cfg.delayed_ack.is_none() {
                cfg.delayed_ack = Config::default().delayed_ack;
            }
        }
        "net.inet.tcp.delacktime" => cfg.delayed_ack = Some(ms(n()?)),
        "net.inet.tcp.rexmit_min" => cfg.min_rto = ms(n()?),
        "net.inet.tcp.rexmit_initial" => cfg.initial_rto = ms(n()?),
        _ => return Ok(None),
    }
    Ok(Some(format!("{key}={v}")))
}

/// FreeBSD's name for a state, as `sockstat -s` prints it.
fn freebsd_state(s: State) -> &'static str {
    match s {
        State::Closed => "CLOSED",
        State::Listen => "LISTEN",
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RCVD",
        State::Established => "ESTABLISHED",
        State::CloseWait => "CLOSE_WAIT",
        State::FinWait1 => "FIN_WAIT_1",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::FinWait2 => "FIN_WAIT_2",
        State::TimeWait => "TIME_WAIT",
    }
}

impl Runner<'_> {
    /// A backquoted command at its time in the script.
    pub(crate) fn command(&mut self, cmd: &str) -> Result<(), Box<Failure>> {
        self.command_depth(cmd, 0)
    }

    fn command_depth(&mut self, cmd: &str, depth: usize) -> Result<(), Box<Failure>> {
        let mut applied = Vec::new();
        let mut skipped = Vec::new();
        for st in statements(cmd) {
            let stages: Vec<Vec<String>> = st.split('|').map(words).collect();
            let first = stages[0].first().cloned().unwrap_or_default();
            if stages.len() > 1
                && stages
                    .iter()
                    .skip(1)
                    .any(|s| s.first().is_some_and(|w| w == "grep"))
            {
                if first == "sockstat" {
                    self.sockstat(&stages, &st)?;
                    continue;
                }
                return Err(self.unsupported(format!("the shell check `{st}`")));
            }
            let w = &stages[0];
            let prog = first.rsplit('/').next().unwrap_or("");
            if prog == "sysctl" || prog == "set_sysctls.py" {
                // Arguments end where a redirection starts (`> /dev/null 2>&1`).
                let args = w[1..]
                    .iter()
                    .take_while(|x| !x.contains('>') && !x.starts_with('<'));
                for kv in args.filter(|x| !x.starts_with('-')) {
                    let Some((k, v)) = kv.split_once('=') else {
                        skipped.push(format!("sysctl {kv} (a read)"));
                        continue;
                    };
                    let key = k.trim_start_matches("/proc/sys/").replace('/', ".");
                    self.apply_sysctl(&key, v, &mut applied, &mut skipped);
                }
                continue;
            }
            // A script the test runs first (`../common/defaults.sh`): read for its sysctls.
            if first.ends_with(".sh") && depth == 0 {
                let path = self.opts.script_dir.as_ref().map(|d| d.join(&first));
                if let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) {
                    self.note(
                        NoteKind::Applied,
                        format!("`{first}` not run; its lines are read as below"),
                    );
                    self.command_depth(&text, depth + 1)?;
                    continue;
                }
            }
            skipped.push(format!("`{st}`"));
        }
        if !applied.is_empty() {
            self.note(
                NoteKind::Applied,
                format!("shell command not run; applied {}", applied.join(", ")),
            );
        }
        for s in skipped {
            self.note(NoteKind::Skipped, format!("shell command skipped: {s}"));
        }
        Ok(())
    }

    fn apply_sysctl(
        &mut self,
        key: &str,
        v: &str,
        applied: &mut Vec<String>,
        skipped: &mut Vec<String>,
    ) {
        // The default idle time of sockets that set none: the runner's, valid at any time.
        let idle = match key {
            "net.ipv4.tcp_keepalive_time" => v.trim().parse::<u64>().ok(),
            "net.inet.tcp.keepidle" => v.trim().parse::<u64>().ok().map(|ms| ms / 1000),
            _ => None,
        };
        if let Some(secs) = idle {
            self.default_keepidle = secs.max(1);
            applied.push(format!("{key}={v}"));
            return;
        }
        let exists = self.endpoint_exists();
        let mut cfg = self.cfg.clone();
        match sysctl(&mut cfg, key, v) {
            Ok(Some(text)) if !exists => {
                self.cfg = cfg;
                applied.push(text);
            }
            Ok(Some(_)) => skipped.push(format!(
                "sysctl {key}={v} (the endpoint already exists; its configuration is fixed)"
            )),
            Ok(None) => skipped.push(format!("sysctl {key}={v} (no synack equivalent)")),
            Err(why) => skipped.push(format!("sysctl {key}={v} ({why})")),
        }
    }

    /// `sockstat [-4|-6] -P tcp [-p PORT] -s [| grep packetdril] | grep -c STATE | grep N`:
    /// count the connections in STATE (only the script's own sockets after `grep
    /// packetdril`; every connection and listener of the endpoint otherwise) and compare.
    fn sockstat(&mut self, stages: &[Vec<String>], text: &str) -> Result<(), Box<Failure>> {
        let args = &stages[0];
        let port: Option<u16> = args
            .iter()
            .position(|a| a == "-p")
            .and_then(|i| args.get(i + 1))
            .and_then(|p| p.parse().ok());
        let mut own = false;
        let mut state = None;
        let mut want = None;
        for s in &stages[1..] {
            match (
                s.first().map(String::as_str),
                s.get(1).map(String::as_str),
                s.get(2),
            ) {
                (Some("grep"), Some("packetdril" | "packetdrill"), None) => own = true,
                (Some("grep"), Some("-c"), Some(st)) => state = Some(st.clone()),
                (Some("grep"), Some(n), None) if state.is_some() && n.parse::<u32>().is_ok() => {
                    want = n.parse::<usize>().ok()
                }
                _ => return Err(self.unsupported(format!("the shell check `{text}`"))),
            }
        }
        let (Some(state), Some(want)) = (state, want) else {
            return Err(self.unsupported(format!("the shell check `{text}`")));
        };
        // (state, local port, remote port) of every socket sockstat would list.
        let mut rows: Vec<(State, u16, u16)> = Vec::new();
        if own {
            let socks: Vec<Kind> = self.sockets.values().map(|s| s.kind).collect();
            for k in socks {
                match k {
                    Kind::Fresh => rows.push((State::Closed, 0, 0)),
                    Kind::Listener(a) => rows.push((State::Listen, a.port(), 0)),
                    Kind::Conn(h) => {
                        let ep = self.ep();
                        let st = ep.state(h).unwrap_or(State::Closed);
                        let t = ep.tuple(h);
                        rows.push((
                            st,
                            t.map_or(0, |t| t.local.port()),
                            t.map_or(0, |t| t.remote.port()),
                        ));
                    }
                }
            }
        } else {
            let ep = self.ep();
            let conns: Vec<_> = ep.connections().collect();
            for h in conns {
                let (Some(st), Some(t)) = (ep.state(h), ep.tuple(h)) else {
                    continue;
                };
                rows.push((st, t.local.port(), t.remote.port()));
            }
            for (a, _) in ep.listeners() {
                rows.push((State::Listen, a.port(), 0));
            }
        }
        let got = rows
            .iter()
            .filter(|(_, l, r)| port.is_none_or(|p| *l == p || *r == p))
            .filter(|(s, _, _)| freebsd_state(*s).contains(state.as_str()))
            .count();
        if got != want {
            return Err(self.fail(format!(
                "`{text}`: {got} socket(s) in {state}, the script expects {want}"
            )));
        }
        self.note(
            NoteKind::Applied,
            format!("shell check evaluated: {got} socket(s) in {state}"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_and_words() {
        assert_eq!(
            statements("a b; c && d \\\n e # comment\n# whole line\nf \"x; y\""),
            vec!["a b", "c", "d   e", "f \"x; y\""]
        );
        assert_eq!(
            words("sysctl -q net.ipv4.tcp_rmem=\"4096 540000 $((15*1024*1024))\""),
            vec!["sysctl", "-q", "net.ipv4.tcp_rmem=4096 540000 15728640"]
        );
    }

    #[test]
    fn sysctls_map_onto_the_config() {
        let mut cfg = Config::default();
        assert!(sysctl(&mut cfg, "net.inet.tcp.rfc1323", "3")
            .unwrap()
            .is_some());
        assert!(cfg.timestamps && !cfg.window_scaling);
        sysctl(&mut cfg, "net.ipv4.tcp_rmem", "4096 87380 6291456").unwrap();
        assert_eq!((cfg.recv_buffer, cfg.recv_buffer_max), (87380, 6291456));
        sysctl(&mut cfg, "net.inet.tcp.sack.enable", "0").unwrap();
        assert!(!cfg.sack);
        assert!(sysctl(&mut cfg, "net.ipv4.tcp_ecn", "1").is_err());
        assert!(sysctl(&mut cfg, "net.ipv4.tcp_ecn", "0").unwrap().is_some());
        assert_eq!(sysctl(&mut cfg, "net.ipv4.tcp_frto", "2"), Ok(None));
    }
}
