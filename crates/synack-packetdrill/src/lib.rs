//! synack-packetdrill: run [packetdrill](https://github.com/google/packetdrill) scripts
//! against synack-proto, in virtual time, without a network.
//!
//! A `.pkt` script interleaves system calls with the segments that must arrive (`<`) and
//! leave (`>`), each with a time. Here the script's remote side is packets injected into one
//! synack [`synack_proto::Endpoint`]; its system calls are endpoint calls; time is a virtual
//! clock that jumps from event to event and from timer to timer, so a script that waits for
//! a 2-minute TIME-WAIT runs in microseconds.
//!
//! ```no_run
//! let outcome = synack_packetdrill::run_file("tests/packetdrill/passive_open.pkt".as_ref(),
//!                                            &Default::default()).unwrap();
//! assert!(outcome.passed(), "{outcome}");
//! ```

pub mod ast;
mod code;
mod commands;
pub mod conformance;
mod icmp;
pub mod lexer;
mod options;
mod outbound;
pub mod packets;
pub mod parser;
pub mod preprocess;
mod remote;
mod runner;
mod sockets;
mod sockopt;
mod tcp_info;

use std::fmt;
use std::path::Path;

/// How to run a script.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// For scripts written for another stack: window values, outbound option order and
    /// content and socket buffer sizes are not compared, and one segment may stand for
    /// several back-to-back segments of the script covering the same bytes (see
    /// [`packets`] and the README's "Running packetdrill scripts").
    pub relaxed: bool,
    /// Override the script's `--tolerance_usecs` (default 4000).
    pub tolerance_usecs: Option<u64>,
    /// `--define NAME=VALUE` symbols: `#ifdef NAME` blocks are kept and the word `NAME` is
    /// replaced by `VALUE`. The default defines `STANDARD`, so the RFC-behaviour branch of
    /// FreeBSD's `#ifdef STANDARD … #ifdef FreeBSD` scripts is the one run.
    pub defines: preprocess::Defines,
    /// The script's directory, where a shell command such as `../common/defaults.sh` is
    /// looked up (read for its `sysctl` lines, never run). `run_file` sets it.
    pub script_dir: Option<std::path::PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            relaxed: false,
            tolerance_usecs: None,
            defines: [("STANDARD".to_string(), "1".to_string())].into(),
            script_dir: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// A construct that was not run (code block, shell command, unsupported call or option).
    Skipped,
    /// A shell command's settings applied to the endpoint's configuration.
    Applied,
    /// Something the check could not cover, or extra segments after the script ended.
    Warning,
}

#[derive(Clone, Debug)]
pub struct Note {
    pub line: usize,
    pub kind: NoteKind,
    pub text: String,
}

/// Why a script failed: where, what was expected, what happened, and the trace so far.
#[derive(Clone, Debug)]
pub struct Failure {
    pub line: usize,
    pub source_line: String,
    pub message: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// Every segment, call and state transition up to the failure, with both sides' states.
    pub trace: Vec<String>,
    /// The script stopped at a construct the runner cannot run (`unsupported: …`), not at
    /// a difference in behaviour.
    pub unsupported: bool,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            writeln!(f, "line {}: unsupported: {}", self.line, self.message)?;
        } else {
            writeln!(f, "line {}: {}", self.line, self.message)?;
        }
        if !self.source_line.is_empty() {
            writeln!(f, "  script:   {}", self.source_line)?;
        }
        if let Some(e) = &self.expected {
            writeln!(f, "  expected: {e}")?;
        }
        if let Some(a) = &self.actual {
            for (i, l) in a.lines().enumerate() {
                writeln!(
                    f,
                    "  {} {l}",
                    if i == 0 { "actual:  " } else { "         " }
                )?;
            }
        }
        writeln!(
            f,
            "  trace (virtual time, segment or call, local state, remote state inferred):"
        )?;
        for l in &self.trace {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// The result of running one script.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub failure: Option<Failure>,
    pub notes: Vec<Note>,
    /// Events in the script.
    pub events: usize,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// The script stopped at a construct the runner cannot run.
    pub fn unsupported(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.unsupported)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.notes {
            let k = match n.kind {
                NoteKind::Skipped => "skipped",
                NoteKind::Applied => "applied",
                NoteKind::Warning => "warning",
            };
            writeln!(f, "  line {}: {k}: {}", n.line, n.text)?;
        }
        match &self.failure {
            None => writeln!(f, "  ok ({} events)", self.events),
            Some(fail) => write!(f, "{fail}"),
        }
    }
}

/// Parse and run a script given as text.
pub fn run_script(src: &str, opts: &RunOptions) -> Result<Outcome, String> {
    let script = parser::parse_with(src, &opts.defines)?;
    Ok(runner::execute(src, &script, opts.clone()))
}

/// Read, parse and run a script file. Parse errors are `Err`; a failing script is an `Ok`
/// outcome with a failure.
pub fn run_file(path: &Path, opts: &RunOptions) -> Result<Outcome, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut opts = opts.clone();
    if opts.script_dir.is_none() {
        opts.script_dir = path.parent().map(Path::to_path_buf);
    }
    run_script(&src, &opts).map_err(|e| format!("{}: {e}", path.display()))
}
