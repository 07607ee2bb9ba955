//! Progress bars for long work (`soak`, `demo --bytes`, `connect --send-file`, `bench`,
//! `trace` of a large capture): drawn on
//! standard error, and only when standard error is a terminal. Standard output never carries
//! progress, so what a command prints there is the same on a terminal, in a pipe or in a file;
//! `--quiet` and `--json` turn the bar off too.

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `demo --bytes` shows a bar from this many bytes each way: smaller transfers finish before a
/// bar would be worth drawing.
pub const DEMO_BYTES: u64 = 4_000_000;

/// What the bar counts, for its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Items (`soak`'s seeds): "1234/5000 seeds".
    Count(&'static str),
    /// Bytes: "1.50 MiB/4.00 MiB".
    Bytes,
}

/// Whether to draw: not when the user asked for quiet or machine-readable output, and not when
/// standard error is not a terminal (a pipe, a file, a test harness).
pub fn wanted(quiet: bool, stderr_is_terminal: bool) -> bool {
    !quiet && stderr_is_terminal
}

/// The bar's template for `unit` (a pure function, so the text can be tested).
pub fn template(unit: Unit) -> String {
    let counts = match unit {
        Unit::Count(what) => format!("{{pos}}/{{len}} {what}"),
        Unit::Bytes => "{bytes}/{total_bytes} ({bytes_per_sec})".to_string(),
    };
    format!("{{prefix}} [{{bar:30}}] {counts}, {{elapsed}} (eta {{eta}})")
}

/// A bar of `total` units with `prefix` in front, on standard error; hidden (every call a
/// no-op) when [`wanted`] says no. indicatif's stderr target also hides itself when standard
/// error is not a terminal; the explicit check keeps the rule visible and testable.
pub fn bar(prefix: &str, total: u64, unit: Unit, quiet: bool) -> ProgressBar {
    if !wanted(quiet, io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&template(unit))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_prefix(prefix.to_string())
}

/// A spinner with `prefix` for work of unknown length (`bench`'s rows, `trace` reading a large
/// capture): `{pos}` counts what is done, the message says what is going on. It ticks by itself
/// (a thread of indicatif's) so it moves while one long step runs. Hidden as [`bar`] is.
pub fn spinner(prefix: &str, quiet: bool) -> ProgressBar {
    if !wanted(quiet, io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let style =
        ProgressStyle::with_template(SPINNER).unwrap_or_else(|_| ProgressStyle::default_spinner());
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_prefix(prefix.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The spinner's template.
const SPINNER: &str = "{prefix} {spinner} {elapsed} {msg}";

/// A writer that counts what it passes on into `bar` (`connect --send-file`: bytes the
/// connection accepted).
pub struct Counting<'a, W> {
    pub inner: W,
    pub bar: &'a ProgressBar,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that clears `bar` around each write, so output to a terminal is not drawn over
/// (`connect`'s received data while the bar shows what was sent).
pub struct Suspending<'a, W> {
    pub inner: W,
    pub bar: &'a ProgressBar,
}

impl<W: Write> Write for Suspending<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bar.is_hidden() {
            return self.inner.write(buf);
        }
        let inner = &mut self.inner;
        self.bar.suspend(|| {
            let n = inner.write(buf)?;
            inner.flush()?;
            Ok(n)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_only_on_a_terminal_and_never_when_quiet() {
        assert!(wanted(false, true));
        assert!(!wanted(false, false), "stderr not a terminal: no bar");
        assert!(!wanted(true, true), "--quiet/--json: no bar");
        assert!(!wanted(true, false));
    }

    #[test]
    fn templates_name_what_is_counted() {
        let seeds = template(Unit::Count("seeds"));
        assert!(seeds.contains("{pos}/{len} seeds"), "{seeds}");
        let bytes = template(Unit::Bytes);
        assert!(bytes.contains("{bytes}/{total_bytes}"), "{bytes}");
        // Both parse as indicatif templates.
        assert!(ProgressStyle::with_template(&seeds).is_ok());
        assert!(ProgressStyle::with_template(&bytes).is_ok());
        assert!(ProgressStyle::with_template(SPINNER).is_ok());
    }

    #[test]
    fn counting_writer_adds_what_the_inner_writer_took() {
        let bar = ProgressBar::hidden();
        bar.set_length(10);
        let mut out = Vec::new();
        let mut w = Counting {
            inner: &mut out,
            bar: &bar,
        };
        w.write_all(b"hello").unwrap();
        w.write_all(b" you").unwrap();
        assert_eq!(bar.position(), 9);
        assert_eq!(out, b"hello you");
    }

    #[test]
    fn suspending_writer_passes_bytes_through_unchanged() {
        let bar = ProgressBar::hidden();
        let mut out = Vec::new();
        let mut w = Suspending {
            inner: &mut out,
            bar: &bar,
        };
        w.write_all(b"abc").unwrap();
        assert_eq!(out, b"abc");
        // A hidden bar is never drawn: `bar()` off a terminal returns one.
        assert!(bar.is_hidden());
    }

    #[test]
    fn off_a_terminal_the_bar_is_hidden() {
        // The test harness captures standard error (not a terminal) unless run with
        // --nocapture on a terminal; only assert when it is not one.
        if !io::stderr().is_terminal() {
            assert!(bar("x", 10, Unit::Bytes, false).is_hidden());
        }
        assert!(bar("x", 10, Unit::Bytes, true).is_hidden());
        assert!(spinner("x", true).is_hidden());
    }
}
