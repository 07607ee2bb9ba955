//! `synack serve`: a TCP server on synack over a TUN device — echo, discard, or static files
//! over HTTP/1.0.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use clap::Args;
use synack::net::{TcpListener, TcpStream};

use crate::tunnel::{start_stack, TunArgs};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub tun: TunArgs,
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 7)]
    pub port: u16,
    /// Send back everything received (the default).
    #[arg(long, group = "mode")]
    pub echo: bool,
    /// Read and throw away everything received.
    #[arg(long, group = "mode")]
    pub discard: bool,
    /// Serve the files under DIR over HTTP/1.0.
    #[arg(long, value_name = "DIR", group = "mode")]
    pub http: Option<PathBuf>,
    /// Exit after serving this many connections.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
}

#[derive(Clone, Debug)]
enum Mode {
    Echo,
    Discard,
    Http(PathBuf),
}

pub fn run(args: &ServeArgs) -> Result<(), String> {
    let mode = match (&args.http, args.discard) {
        (Some(dir), _) => {
            if !dir.is_dir() {
                return Err(format!("{}: not a directory", dir.display()));
            }
            Mode::Http(dir.clone())
        }
        (None, true) => Mode::Discard,
        (None, false) => Mode::Echo,
    };
    let grace = args.tun.grace()?;
    let stack = Arc::new(start_stack(&args.tun)?);
    let stopper = crate::stop::Stopper::install(stack.clone(), grace, "serve")?;
    let mut addrs = vec![args.tun.addr];
    if !args.tun.no_ipv6 {
        addrs.push(args.tun.addr6);
    }
    let what = match &mode {
        Mode::Echo => "echo".to_string(),
        Mode::Discard => "discard".to_string(),
        Mode::Http(dir) => format!("HTTP files from {}", dir.display()),
    };
    // One accepting thread per address (IPv4 and IPv6), all feeding one queue; they end
    // when the stack stops.
    let (tx, rx) = mpsc::channel::<io::Result<(TcpStream, SocketAddr)>>();
    for ip in addrs {
        let local = SocketAddr::new(ip, args.port);
        let listener =
            TcpListener::bind(&stack, local).map_err(|e| format!("listen {local}: {e}"))?;
        eprintln!("synack serve: listening on {local} ({what})");
        let tx = tx.clone();
        thread::spawn(move || loop {
            let r = listener.accept();
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                return;
            }
        });
    }
    drop(tx);
    let mut workers: Vec<thread::JoinHandle<()>> = Vec::new();
    let mut served = 0usize;
    while args.count.is_none_or(|n| served < n) {
        let next = rx.recv();
        if stopper.requested() {
            // A signal stopped the stack (the accepts fail once it stops).
            stopper.wait();
            for w in workers {
                let _ = w.join();
            }
            return Ok(());
        }
        let (conn, peer) = next
            .map_err(|_| "accept: no listener left".to_string())?
            .map_err(|e| format!("accept: {e}"))?;
        served += 1;
        eprintln!("synack serve: connection from {peer}");
        let mode = mode.clone();
        workers.push(thread::spawn(move || match handle(conn, &mode) {
            Ok((rx, tx)) => eprintln!("synack serve: {peer} done: {rx} bytes in, {tx} out"),
            Err(e) => eprintln!("synack serve: {peer}: {e}"),
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    if stopper.requested() {
        stopper.wait();
    } else {
        stack.shutdown(Duration::from_secs(2));
    }
    Ok(())
}

/// Serve one connection; returns bytes received and sent.
fn handle(mut conn: TcpStream, mode: &Mode) -> io::Result<(u64, u64)> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut rx, mut tx) = (0u64, 0u64);
    match mode {
        Mode::Echo | Mode::Discard => loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                conn.shutdown(Shutdown::Write)?;
                return Ok((rx, tx));
            }
            rx += n as u64;
            if matches!(mode, Mode::Echo) {
                conn.write_all(&buf[..n])?;
                tx += n as u64;
            }
        },
        Mode::Http(root) => {
            conn.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            rx = req.len() as u64;
            let (head, body) = http_response(root, &req);
            conn.write_all(head.as_bytes())?;
            conn.write_all(&body)?;
            tx = (head.len() + body.len()) as u64;
            conn.shutdown(Shutdown::Write)?;
            // Read until the client closes, so the close is a clean FIN exchange and not a
            // reset for unread data.
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            Ok((rx, tx))
        }
    }
}

/// The response head and body for a request.
fn http_response(root: &Path, req: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8_lossy(req);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let reply = |status: &str, ctype: &str, body: Vec<u8>, send_body: bool| {
        let head = format!(
            "HTTP/1.0 {status}\r\nServer: synack\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        (head, if send_body { body } else { Vec::new() })
    };
    if method != "GET" && method != "HEAD" {
        return reply(
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n".to_vec(),
            true,
        );
    }
    let head_only = method == "HEAD";
    let Some(path) = resolve(root, target) else {
        return reply(
            "404 Not Found",
            "text/plain",
            b"not found\n".to_vec(),
            !head_only,
        );
    };
    match fs::read(&path) {
        Ok(body) => reply("200 OK", content_type(&path), body, !head_only),
        Err(_) => reply(
            "404 Not Found",
            "text/plain",
            b"not found\n".to_vec(),
            !head_only,
        ),
    }
}

/// Map a request target to a file under `root`; `None` for anything that would leave it.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut full = root.join(rel);
    if full.is_dir() {
        full.push("index.html");
    }
    full.is_file().then_some(full)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_paths_stay_under_the_root() {
        let dir = std::env::temp_dir().join(format!("synack-serve-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("index.html"), "hi").unwrap();
        assert_eq!(resolve(&dir, "/"), Some(dir.join("index.html")));
        assert_eq!(
            resolve(&dir, "/index.html?x=1"),
            Some(dir.join("index.html"))
        );
        assert_eq!(resolve(&dir, "/../etc/passwd"), None);
        assert_eq!(resolve(&dir, "/nope"), None);
        let (head, body) = http_response(&dir, b"GET / HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 200 OK"));
        assert_eq!(body, b"hi");
        let (head, _) = http_response(&dir, b"POST / HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 405"));
        let _ = fs::remove_dir_all(&dir);
    }
}
