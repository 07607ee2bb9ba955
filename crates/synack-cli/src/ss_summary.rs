//! `synack ss --summary`: one process's counts per state, memory, listener queues, SYN
//! cookies, fragments and drops by reason.

use serde_json::Value;

pub fn summary(doc: &Value) -> String {
    let s = &doc["summary"];
    let mut out = String::new();
    let up = doc["uptime_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    out.push_str(&format!(
        "synack pid {} ({}), up {up:.1} s\n",
        doc["pid"],
        doc["program"].as_str().unwrap_or("?")
    ));
    out.push_str(&format!(
        "Total: {} connections ({} in TIME-WAIT)\n",
        s["connections"], s["time_wait"]
    ));
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "Memory: data {} received + {} to send (budget {}); rings {} (emptied ones keep up to {}); \
         given back when idle {} times, {} in all\n",
        bytes(n("receive_memory")),
        bytes(n("send_memory")),
        bytes(n("memory_budget")),
        bytes(n("ring_storage")),
        bytes(n("retained_ring_storage")),
        n("memory_releases"),
        bytes(n("memory_released")),
    ));
    let states = crate::ss::state_names()
        .filter_map(|k| s["states"].get(k).map(|v| format!("{k} {v}")))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&format!(
        "States: {}\n",
        if states.is_empty() { "none" } else { &states }
    ));
    let listeners = doc["listeners"].as_array().cloned().unwrap_or_default();
    if listeners.is_empty() {
        out.push_str("Listeners: none\n");
    } else {
        out.push_str("Listeners:\n");
        let w = listeners
            .iter()
            .map(|l| l["local"].as_str().unwrap_or("*").len())
            .max()
            .unwrap_or(0);
        for l in &listeners {
            out.push_str(&format!(
                "  {:<w$}  SYN queue {}, accept queue {} (backlog {})\n",
                l["local"].as_str().unwrap_or("*"),
                l["syn_queue"],
                l["accept_queue"],
                l["backlog"]
            ));
        }
    }
    let c = &s["syn_cookies"];
    out.push_str(&format!(
        "SYN cookies: {} sent, {} validated, {} invalid; SYNs dropped with the SYN queue full: {}\n",
        c["sent"], c["validated"], c["invalid"], s["syn_queue_full"]
    ));
    out.push_str(&format!(
        "Opens: {} active, {} passive; resets sent {}; packets {} in ({} kept whole until read), {} out\n",
        s["active_opens"],
        s["passive_opens"],
        s["resets_sent"],
        s["packets_in"],
        s["packets_kept"],
        s["packets_out"]
    ));
    let f = &s["fragments"];
    if f["received"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!(
            "Fragments: {} received, {} datagrams reassembled, {} being reassembled ({} bytes), {} Time Exceeded sent\n",
            f["received"], f["reassembled"], f["pending"], f["pending_bytes"], f["time_exceeded_sent"]
        ));
    }
    let drops: Vec<String> = s["drops"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_u64().unwrap_or(0) > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "Drops: {}\n",
        if drops.is_empty() {
            "none".to_string()
        } else {
            drops.join(", ")
        }
    ));
    out
}

/// A byte count as people read it: 1000 B, 12.3 KiB, 4.0 MiB, 1.0 GiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shows_fragments_once_there_are_any() {
        let mut doc: Value = serde_json::from_str(
            r#"{"pid":1,"program":"t","uptime_ms":0,"listeners":[],"summary":{
                "connections":0,"time_wait":0,"receive_memory":0,"states":{},
                "syn_cookies":{"sent":0,"validated":0,"invalid":0},"syn_queue_full":0,
                "fragments":{"received":0,"reassembled":0,"pending":0,"pending_bytes":0,
                "time_exceeded_sent":0},"drops":{"fragment_overlap":0}}}"#,
        )
        .unwrap();
        assert!(!summary(&doc).contains("Fragments"));
        doc["summary"]["fragments"]["received"] = 7.into();
        doc["summary"]["fragments"]["reassembled"] = 2.into();
        doc["summary"]["drops"]["fragment_overlap"] = 1.into();
        let text = summary(&doc);
        assert!(
            text.contains("Fragments: 7 received, 2 datagrams reassembled, 0 being reassembled"),
            "{text}"
        );
        assert!(text.contains("Drops: fragment_overlap 1"), "{text}");
    }
}
