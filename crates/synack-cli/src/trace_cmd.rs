//! `synack trace FILE`: every TCP connection in a capture, drawn as a ladder with both sides'
//! inferred states, annotated like Wireshark's TCP analysis; as text, JSON or a web page.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};
use synack_trace::segments::Filter;
use synack_trace::{
    render_html, render_json, render_text, trace_capture, HtmlOptions, HtmlPart, RenderOptions,
    TraceOptions,
};

/// Data rows kept before and after a shortened run of ordinary data segments.
const COLLAPSE_KEEP: usize = 6;

/// Captures from this size get a spinner on a terminal while they are decoded.
const LARGE_CAPTURE: usize = 8_000_000;

#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// A pcap or pcapng file (tcpdump, Wireshark, `synack demo --pcap`, ...).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Only connection N (numbered in order of first appearance; see the list).
    #[arg(long, value_name = "N")]
    conn: Option<usize>,
    /// Only connections matching all of these terms: an address, `port N`, `host ADDR`,
    /// or `ADDR:PORT`, e.g. --filter "127.0.0.1 port 8080".
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Print the ladders and summaries as JSON.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained web page with the ladder diagrams (SVG) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// No ANSI colours (also off when stdout is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// Plain ASCII arrows.
    #[arg(long)]
    ascii: bool,
    /// Draw every segment (long transfers are otherwise shortened in the middle; annotated
    /// segments are always drawn).
    #[arg(long)]
    full: bool,
    /// Raw sequence numbers instead of numbers relative to each side's ISN.
    #[arg(long)]
    absolute: bool,
    /// Line width of the diagram [default: the terminal's width, or 100 when not a terminal].
    #[arg(long, value_name = "COLUMNS")]
    width: Option<usize>,
}

pub fn run(args: &TraceArgs) -> Result<(), String> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let opts = TraceOptions {
        conn: args.conn,
        filter,
    };
    // A large capture takes a while to decode: say so on a terminal (stderr; not with --json).
    let spinner = if bytes.len() >= LARGE_CAPTURE {
        let s = crate::progress::spinner("trace", args.json);
        s.set_message(format!(
            "reading {} ({:.1} MB)",
            args.file.display(),
            bytes.len() as f64 / 1e6
        ));
        s
    } else {
        indicatif::ProgressBar::hidden()
    };
    let res = trace_capture(&bytes, &opts);
    spinner.finish_and_clear();
    let res = res.map_err(|e| format!("{}: {e}", args.file.display()))?;
    for w in &res.warnings {
        eprintln!("synack trace: {}: {w}", args.file.display());
    }
    if let Some(n) = args.conn {
        let total = res.total_connections;
        if n == 0 || n > total {
            return Err(match total {
                0 => format!("--conn {n}: {} has no TCP connection", args.file.display()),
                1 => format!(
                    "--conn {n}: {} has 1 connection (--conn 1)",
                    args.file.display()
                ),
                _ => format!(
                    "--conn {n}: {} has {total} connections (numbered 1 to {total})",
                    args.file.display()
                ),
            });
        }
    }
    // Frames of a link type the reader cannot look into were skipped (and warned about): the
    // counts below would be silently short, so the command fails after printing them.
    let unreadable = match res.unreadable_linktypes.as_slice() {
        [] => Ok(()),
        lts => Err(format!(
            "{}: cannot read link type {}: {} frame{} skipped",
            args.file.display(),
            lts.iter()
                .map(|(lt, _)| lt.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            lts.iter().map(|(_, n)| n).sum::<usize>(),
            if lts.iter().map(|(_, n)| n).sum::<usize>() == 1 {
                ""
            } else {
                "s"
            }
        )),
    };
    let collapse = (!args.full).then_some(COLLAPSE_KEEP);
    let name = args.file.display().to_string();

    if let Some(path) = &args.html {
        let summaries: Vec<String> = res.connections.iter().map(|c| c.summary.text()).collect();
        let parts: Vec<HtmlPart<'_>> = res
            .connections
            .iter()
            .zip(&summaries)
            .map(|(c, s)| HtmlPart {
                heading: c.summary.title(),
                ladder: &c.ladder,
                summary: s.clone(),
            })
            .collect();
        let page = render_html(
            &parts,
            &HtmlOptions {
                title: format!("synack trace {name}"),
                absolute: args.absolute,
                collapse,
            },
        );
        std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }

    if args.json {
        let conns: Vec<Value> = res
            .connections
            .iter()
            .map(|c| {
                let mut v = render_json(&c.ladder);
                if let Value::Object(m) = &mut v {
                    m.insert("summary".into(), c.summary.json());
                }
                v
            })
            .collect();
        let v = json!({
            "file": name,
            "format": res.format,
            "frames": res.frames,
            "tcp_segments": res.tcp_segments,
            "total_connections": res.total_connections,
            "warnings": res.warnings,
            "unreadable_link_types": res.unreadable_linktypes.iter().map(|(lt, n)| json!({"link_type": lt, "frames": n})).collect::<Vec<_>>(),
            "connections": conns,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return unreadable;
    }

    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let ropts = RenderOptions {
        color,
        width: crate::term::width(args.width),
        absolute: args.absolute,
        ascii: args.ascii,
        collapse,
    };
    println!(
        "{name}: {}, {} frames, {} TCP segments, {} connection{}",
        res.format,
        res.frames,
        res.tcp_segments,
        res.total_connections,
        if res.total_connections == 1 { "" } else { "s" }
    );
    if res.connections.is_empty() {
        println!("no connection matches");
    }
    for c in &res.connections {
        println!();
        println!("{}", c.summary.title());
        println!();
        println!("{}", render_text(&c.ladder, &ropts));
        print!("{}", c.summary.text());
    }
    if let Some(path) = &args.html {
        println!();
        println!("web page: {}", path.display());
    }
    unreadable
}
