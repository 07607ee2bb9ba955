//! Output into a closed pipe (`synack demo | head`): the program ends quietly, the way `cat`
//! and `yes` do — killed by SIGPIPE, which a shell reports as exit status 141 (128 + 13) —
//! instead of Rust's default of ignoring SIGPIPE and then panicking in `println!` with
//! "failed printing to stdout: Broken pipe" (exit 101).
//!
//! The commands that only print (demo, trace, ss, soak, packetdrill, bench) restore SIGPIPE's
//! default action at startup ([`default_sigpipe`]). The commands that run a stack (serve,
//! connect, ping) keep it ignored: their stack serves a control socket, and a `synack ss` that
//! hangs up early must not kill the server; they print through [`outln!`], which dies the same
//! way when standard output is a closed pipe, and report through [`errln!`], which drops what
//! a closed standard error cannot take instead of panicking.

/// Let SIGPIPE terminate the process (its default action), as most Unix tools do.
pub fn default_sigpipe() {
    // SAFETY: signal(2) with SIG_DFL installs no handler; called before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What [`outln!`] does when standard output is gone: end the process as SIGPIPE's default
/// action would (status 141 in a shell); any other write error ends it with status 1.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        #[cfg(unix)]
        // SAFETY: restoring the default action and raising the signal terminates the process;
        // nothing runs after it.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
        std::process::exit(141);
    }
    crate::errln!("synack: standard output: {e}");
    std::process::exit(1);
}

/// `println!` that ends the process quietly when standard output is a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::pipe::stdout_failed(&e);
        }
    }};
}

/// `eprintln!` that never panics. With standard error closed (`synack serve 2>&1 | head`),
/// diagnostics have nowhere to go and are dropped: a panic here would kill the thread that
/// printed — the stack's own thread in `--trace`, or the signal handler's, leaving a signalled
/// shutdown to wait forever.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
