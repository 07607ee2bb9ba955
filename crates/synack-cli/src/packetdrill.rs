//! `synack packetdrill FILE.pkt|DIR...`: run packetdrill scripts against synack in virtual
//! time; `--summary` counts the outcomes of a whole suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use synack_packetdrill::{run_file, Outcome, RunOptions};

#[derive(Args, Debug)]
pub struct PacketdrillArgs {
    /// Scripts to run; a directory stands for every `.pkt` file below it.
    #[arg(required_unless_present = "conformance")]
    files: Vec<PathBuf>,
    /// For scripts written for another stack: ignore window values, outbound option order
    /// and content and socket buffer sizes, and let one segment stand for several
    /// back-to-back lines covering the same bytes (flags, seq, ack and lengths still count).
    #[arg(long)]
    relaxed: bool,
    /// Timing tolerance in microseconds (overrides the script's --tolerance_usecs).
    #[arg(long)]
    tolerance_usecs: Option<u64>,
    /// Define a symbol for `#ifdef NAME` and replace the word NAME by VALUE (packetdrill's
    /// --define). `STANDARD` is defined unless --undefine STANDARD is given.
    #[arg(long, value_name = "NAME=VALUE")]
    define: Vec<String>,
    /// Remove a symbol defined by default (`STANDARD`).
    #[arg(long, value_name = "NAME")]
    undefine: Vec<String>,
    /// Print the notes (skipped constructs, warnings) of passing scripts too.
    #[arg(short, long)]
    verbose: bool,
    /// Print one line per script and, at the end, counts of passed, failed, unsupported and
    /// unparsable scripts with the most common reasons.
    #[arg(long)]
    summary: bool,
    /// Regenerate CONFORMANCE.md in the repository root given (default: current directory)
    /// from the tests and scripts, instead of running scripts.
    #[arg(long, value_name = "REPO", num_args = 0..=1, default_missing_value = ".")]
    conformance: Option<PathBuf>,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "pkt") {
                collect(&e, out);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// A failure message with its numbers blanked, so that like failures count together.
fn reason(o: &Outcome) -> String {
    let f = o
        .failure
        .as_ref()
        .map_or(String::new(), |f| f.message.clone());
    let mut out = String::new();
    let mut last_digit = false;
    for c in f.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out.chars().take(110).collect()
}

fn top(counts: &BTreeMap<String, usize>, n: usize) -> Vec<(usize, String)> {
    let mut v: Vec<(usize, String)> = counts.iter().map(|(k, c)| (*c, k.clone())).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.truncate(n);
    v
}

pub fn run(args: &PacketdrillArgs) -> Result<(), String> {
    if let Some(root) = &args.conformance {
        let report = synack_packetdrill::conformance::generate(root)?;
        let path = root.join("CONFORMANCE.md");
        std::fs::write(&path, &report.markdown).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {} ({})", path.display(), report.summary());
        return if report.unexplained_musts.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "MUST rows with neither a test nor an explanation: {:?}",
                report.unexplained_musts
            ))
        };
    }
    let mut opts = RunOptions {
        relaxed: args.relaxed,
        tolerance_usecs: args.tolerance_usecs,
        ..Default::default()
    };
    for d in &args.define {
        let (k, v) = d.split_once('=').unwrap_or((d.as_str(), "1"));
        opts.defines.insert(k.to_string(), v.to_string());
    }
    for u in &args.undefine {
        opts.defines.remove(u);
    }
    let mut files = Vec::new();
    for f in &args.files {
        collect(f, &mut files);
    }
    let (mut passed, mut failed, mut unsupported, mut errors) = (0, 0, 0, 0);
    let mut fail_reasons = BTreeMap::new();
    let mut unsup_reasons = BTreeMap::new();
    let mut error_reasons = BTreeMap::new();
    for f in &files {
        match run_file(f, &opts) {
            Ok(o) if o.passed() => {
                passed += 1;
                println!("PASS {}", f.display());
                if !args.summary && (args.verbose || !o.notes.is_empty()) {
                    print!("{o}");
                }
            }
            Ok(o) if o.unsupported() => {
                unsupported += 1;
                println!("UNSUPPORTED {}", f.display());
                *unsup_reasons.entry(reason(&o)).or_insert(0) += 1;
                if !args.summary {
                    print!("{o}");
                }
            }
            Ok(o) => {
                failed += 1;
                println!("FAIL {}", f.display());
                *fail_reasons.entry(reason(&o)).or_insert(0) += 1;
                if !args.summary {
                    print!("{o}");
                }
            }
            Err(e) => {
                errors += 1;
                println!("ERROR {e}");
                let short = e.rsplit(": ").next().unwrap_or(&e).to_string();
                *error_reasons.entry(short).or_insert(0) += 1;
            }
        }
    }
    if args.summary {
        println!();
        println!(
            "{} scripts: {passed} passed, {failed} failed, {unsupported} unsupported, {errors} \
             not parsed",
            files.len()
        );
        for (title, counts) in [
            ("failures", &fail_reasons),
            ("unsupported", &unsup_reasons),
            ("not parsed", &error_reasons),
        ] {
            if counts.is_empty() {
                continue;
            }
            println!("most common {title}:");
            for (n, r) in top(counts, 15) {
                println!("  {n:>5}  {r}");
            }
        }
    } else {
        println!(
            "{passed} passed, {failed} failed, {unsupported} unsupported, {errors} not parsed"
        );
    }
    if failed + unsupported + errors > 0 {
        Err(format!(
            "{} script(s) did not pass",
            failed + unsupported + errors
        ))
    } else {
        Ok(())
    }
}
