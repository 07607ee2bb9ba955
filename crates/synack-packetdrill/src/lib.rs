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
pub mod conformance;
pub mod lexer;
mod options;
pub mod packets;
pub mod parser;
mod remote;
mod runner;
mod sockets;

use std::fmt;
use std::path::Path;

/// How to run a script.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Ignore window values, option order and content on outbound segments, and the initial
    /// window size (for scripts written for another stack).
    pub relaxed: bool,
    /// Override the script's `--tolerance_usecs` (default 4000).
    pub tolerance_usecs: Option<u64>,
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
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "line {}: {}", self.line, self.message)?;
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
    let script = parser::parse(src)?;
    Ok(runner::execute(src, &script, opts.clone()))
}

/// Read, parse and run a script file. Parse errors are `Err`; a failing script is an `Ok`
/// outcome with a failure.
pub fn run_file(path: &Path, opts: &RunOptions) -> Result<Outcome, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    run_script(&src, opts).map_err(|e| format!("{}: {e}", path.display()))
}
