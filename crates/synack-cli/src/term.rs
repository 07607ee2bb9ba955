//! The width the terminal pictures (ladders, the demo's prose) are drawn to.

use std::io::IsTerminal;

/// Used when no width is asked for and stdout is not a terminal (a pipe, a file), so that
/// captured output does not depend on the window it was captured from.
pub const DEFAULT_WIDTH: usize = 100;

/// `--width` if given; else, on a terminal, the terminal's width (`TIOCGWINSZ`, then
/// `COLUMNS`); else [`DEFAULT_WIDTH`].
pub fn width(asked: Option<usize>) -> usize {
    if let Some(w) = asked {
        return w;
    }
    if !std::io::stdout().is_terminal() {
        return DEFAULT_WIDTH;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid for the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        return usize::from(ws.ws_col);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(DEFAULT_WIDTH)
}
