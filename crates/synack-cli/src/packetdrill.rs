//! `synack packetdrill FILE.pkt...`: run packetdrill scripts against synack in virtual time.

use std::path::{Path, PathBuf};

use clap::Args;
use synack_packetdrill::{run_file, RunOptions};

#[derive(Args, Debug)]
pub struct PacketdrillArgs {
    /// Scripts to run.
    #[arg(required_unless_present = "conformance")]
    files: Vec<PathBuf>,
    /// For scripts written for another stack: ignore window values, outbound option order
    /// and content, and the initial-window size (flags, seq, ack and lengths still count).
    #[arg(long)]
    relaxed: bool,
    /// Timing tolerance in microseconds (overrides the script's --tolerance_usecs).
    #[arg(long)]
    tolerance_usecs: Option<u64>,
    /// Print the notes (skipped constructs, warnings) of passing scripts too.
    #[arg(short, long)]
    verbose: bool,
    /// Regenerate CONFORMANCE.md in the repository root given (default: current directory)
    /// from the tests and scripts, instead of running scripts.
    #[arg(long, value_name = "REPO", num_args = 0..=1, default_missing_value = ".")]
    conformance: Option<PathBuf>,
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
    let opts = RunOptions {
        relaxed: args.relaxed,
        tolerance_usecs: args.tolerance_usecs,
    };
    let (mut passed, mut failed) = (0, 0);
    for f in &args.files {
        match run_file(Path::new(f), &opts) {
            Ok(o) if o.passed() => {
                passed += 1;
                println!("PASS {}", f.display());
                if args.verbose || !o.notes.is_empty() {
                    print!("{o}");
                }
            }
            Ok(o) => {
                failed += 1;
                println!("FAIL {}", f.display());
                print!("{o}");
            }
            Err(e) => {
                failed += 1;
                println!("ERROR {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        Err(format!("{failed} script(s) failed"))
    } else {
        Ok(())
    }
}
