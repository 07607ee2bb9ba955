//! Leading `--option=value` lines and backquoted commands.
//!
//! packetdrill's own options are honoured where they mean something in a simulation
//! (`--tolerance_usecs`, `--ip_version`, `--local_ip`, `--remote_ip`, `--tcp_ts_tick_usecs`,
//! `--relaxed`/`--strict`); `--synack_*` options set the endpoint's [`synack_proto::Config`]
//! for scripts written for synack. Backquoted commands are the business of `commands.rs`.

use std::net::IpAddr;
use std::time::Duration;

use synack_proto::congestion::Algorithm;

use crate::ast::Script;
use crate::runner::Runner;
use crate::{Failure, NoteKind};

pub(crate) fn apply(r: &mut Runner<'_>, script: &Script) -> Result<(), Box<Failure>> {
    for (name, value, line) in &script.options {
        r.line = *line;
        let v = value.as_deref().unwrap_or("1");
        set(r, name, v).map_err(|m| r.fail(format!("--{name}: {m}")))?;
    }
    if let Some(t) = r.opts.tolerance_usecs {
        r.check.tolerance_usecs = t;
    }
    if let Some((cmd, line)) = &script.init_command {
        r.line = *line;
        r.command(cmd)?;
    }
    Ok(())
}

fn num(v: &str) -> Result<u64, String> {
    v.parse().map_err(|_| format!("`{v}` is not a number"))
}

fn flag(v: &str) -> Result<bool, String> {
    Ok(num(v)? != 0)
}

fn ms(v: &str) -> Result<Option<Duration>, String> {
    let n = num(v)?;
    Ok((n > 0).then(|| Duration::from_millis(n)))
}

fn set(r: &mut Runner<'_>, name: &str, v: &str) -> Result<(), String> {
    let cfg = &mut r.cfg;
    match name {
        "tolerance_usecs" => r.check.tolerance_usecs = num(v)?,
        "tcp_ts_tick_usecs" => r.check.ts_tick_usecs = Some(num(v)?).filter(|&t| t > 0),
        "relaxed" => r.check.relaxed = flag(v)?,
        "strict" => r.check.relaxed = !flag(v)?,
        "ip_version" => match v {
            "ipv4" | "ipv4-mapped-ipv6" => {}
            "ipv6" => {
                r.local_ip = "fd3d:fa7b:d17d::1".parse().unwrap();
                r.remote_ip = "fd3d:fa7b:d17d::2".parse().unwrap();
                r.cfg.local_addrs = vec![r.local_ip];
            }
            other => return Err(format!("unknown IP version `{other}`")),
        },
        "local_ip" | "remote_ip" => {
            let ip: IpAddr = v.parse().map_err(|_| format!("bad address `{v}`"))?;
            if name == "local_ip" {
                r.local_ip = ip;
                r.cfg.local_addrs = vec![ip];
            } else {
                r.remote_ip = ip;
            }
        }
        "synack_timestamps" => cfg.timestamps = flag(v)?,
        "synack_sack" => cfg.sack = flag(v)?,
        "synack_window_scaling" => cfg.window_scaling = flag(v)?,
        "synack_delayed_ack_ms" => cfg.delayed_ack = ms(v)?,
        "synack_quick_acks" => cfg.quick_acks = num(v)?.min(u64::from(u32::MAX)) as u32,
        "synack_nodelay" => cfg.nodelay = flag(v)?,
        "synack_mss" => cfg.mss = num(v)?.min(65535) as u16,
        "synack_recv_buffer" => cfg.recv_buffer = num(v)? as usize,
        "synack_send_buffer" => cfg.send_buffer = num(v)? as usize,
        "synack_msl_ms" => cfg.msl = Duration::from_millis(num(v)?),
        "synack_initial_rto_ms" => cfg.initial_rto = Duration::from_millis(num(v)?),
        "synack_min_rto_ms" => cfg.min_rto = Duration::from_millis(num(v)?),
        "synack_max_rto_ms" => cfg.max_rto = Duration::from_millis(num(v)?),
        "synack_syn_timeout_ms" => cfg.syn_timeout = Duration::from_millis(num(v)?),
        "synack_user_timeout_ms" => cfg.user_timeout = ms(v)?,
        "synack_fin_wait2_timeout_ms" => cfg.fin_wait2_timeout = ms(v)?,
        "synack_keepalive_interval_ms" => cfg.keepalive_interval = Duration::from_millis(num(v)?),
        "synack_keepalive_probes" => cfg.keepalive_probes = num(v)? as u32,
        "synack_r1" => cfg.r1 = num(v)? as u32,
        "synack_congestion" => {
            cfg.congestion = match v {
                "newreno" | "reno" => Algorithm::NewReno,
                "cubic" => Algorithm::Cubic,
                other => return Err(format!("unknown congestion control `{other}`")),
            }
        }
        other => r.note(
            NoteKind::Skipped,
            format!("option --{other}={v} ignored (no meaning in the simulation)"),
        ),
    }
    Ok(())
}
