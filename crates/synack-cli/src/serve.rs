//! `synack serve`: a TCP server on synack over a TUN device — echo, discard, or static files
//! over HTTP/1.1 (hyper, with tower-http's `ServeDir` behind a fast path: serve_files.rs).
//!
//! It runs on synack's tokio sockets: one task per connection on a small tokio runtime, reaped
//! (by a `JoinSet`) as soon as it ends. A server that has seen millions of connections holds
//! only the ones still open — no thread, no stack mapping and no join handle outlives its
//! connection.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Args;
use hyper_util::rt::{TokioIo, TokioTimer};
use synack::tokio::{TcpListener, TcpStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::serve_files::Files;

use crate::tunnel::{start_stack, TunArgs};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub tun: TunArgs,
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Send back everything received (the default).
    #[arg(long, group = "mode")]
    pub echo: bool,
    /// Read and throw away everything received.
    #[arg(long, group = "mode")]
    pub discard: bool,
    /// Serve the files under DIR over HTTP/1.1 (keep-alive, HEAD, ranges, conditional
    /// requests; nothing outside DIR is reachable).
    #[arg(long, value_name = "DIR", group = "mode")]
    pub http: Option<PathBuf>,
    /// Exit after serving this many connections.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Listen backlog: the SYN queue and the accept queue of each listener (past a full SYN
    /// queue, SYN cookies).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub backlog: usize,
    /// Threads of the tokio runtime that runs the connections (the stack runs on a thread of
    /// its own). Default: the number of CPUs.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// No line per connection on stderr (for load tests).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Clone, Debug)]
enum Mode {
    Echo,
    Discard,
    Http(PathBuf),
}

/// An idle HTTP connection (no complete request head) is closed after this long.
const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

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
    if args.backlog == 0 {
        return Err("--backlog: must be at least 1".into());
    }
    let workers = match args.workers {
        Some(0) => return Err("--workers: must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    args.tun.validate()?;
    let grace = args.tun.grace()?;
    if matches!(mode, Mode::Http(_)) {
        raise_open_file_limit();
    }
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
    let mut listeners = Vec::new();
    for ip in addrs {
        let local = SocketAddr::new(ip, args.port);
        let l = TcpListener::bind_with_backlog(&stack, local, args.backlog)
            .map_err(|e| format!("listen {local}: {e}"))?;
        crate::errln!("synack serve: listening on {local} ({what})");
        listeners.push(l);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("synack-serve")
        // File reads of `--http` run on tokio's blocking pool: a few threads, not one per
        // concurrent request (tokio's default allows 512).
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let opts = Arc::new(Opts {
        mode,
        quiet: args.quiet,
    });
    let outcome = rt.block_on(serve_all(listeners, opts, args.count));
    drop(rt);
    if stopper.requested() {
        // A signal stopped the stack (that is what ended the accepts).
        stopper.wait();
        return Ok(());
    }
    let served = outcome?;
    stack.shutdown(Duration::from_secs(2));
    if !args.quiet {
        crate::errln!("synack serve: served {served} connections");
    }
    Ok(())
}

struct Opts {
    mode: Mode,
    quiet: bool,
}

/// Accept on every listener and serve each connection in a task of its own, until `count`
/// connections were accepted (then wait for them to finish) or the accepts fail (the stack
/// stopped). Returns how many connections were accepted.
async fn serve_all(
    listeners: Vec<TcpListener>,
    opts: Arc<Opts>,
    count: Option<usize>,
) -> Result<usize, String> {
    let (tx, mut rx) = mpsc::channel::<io::Result<(TcpStream, SocketAddr)>>(64);
    let mut acceptors = JoinSet::new();
    for l in listeners {
        let tx = tx.clone();
        acceptors.spawn(async move {
            loop {
                let r = l.accept().await;
                let failed = r.is_err();
                if tx.send(r).await.is_err() || failed {
                    return;
                }
            }
        });
    }
    drop(tx);
    let http = match &opts.mode {
        Mode::Http(root) => Some(Files::new(root.clone())),
        _ => None,
    };
    let mut conns = JoinSet::new();
    let mut accepted = 0usize;
    let mut failure = None;
    while count.is_none_or(|n| accepted < n) {
        tokio::select! {
            next = rx.recv() => match next {
                None => break,
                Some(Err(e)) => {
                    failure = Some(format!("accept: {e}"));
                    break;
                }
                Some(Ok((conn, peer))) => {
                    accepted += 1;
                    let (opts, http) = (opts.clone(), http.clone());
                    conns.spawn(async move {
                        let mut conn = Counted::new(conn);
                        let r = match &opts.mode {
                            Mode::Echo => echo(&mut conn, true).await,
                            Mode::Discard => echo(&mut conn, false).await,
                            Mode::Http(_) => {
                                // A response is a head and then body chunks in separate
                                // writes: with Nagle the body would wait for the ACK of the
                                // head, which a client delays (nginx's `tcp_nodelay on`).
                                let _ = conn.inner.set_nodelay(true);
                                let files = http.expect("http mode");
                                let svc = hyper::service::service_fn(move |req| {
                                    let files = files.clone();
                                    async move { files.handle(req).await }
                                });
                                hyper::server::conn::http1::Builder::new()
                                    // A client that half-closes after its request (`nc -N`,
                                    // HTTP/1.0 tools) still gets the response.
                                    .half_close(true)
                                    .timer(TokioTimer::new())
                                    .header_read_timeout(HTTP_HEADER_TIMEOUT)
                                    .serve_connection(TokioIo::new(&mut conn), svc)
                                    .await
                                    .map_err(io::Error::other)
                            }
                        };
                        if !opts.quiet {
                            match r {
                                Ok(()) => crate::errln!(
                                    "synack serve: {peer} done: {} bytes in, {} out",
                                    conn.read, conn.written
                                ),
                                Err(e) => crate::errln!("synack serve: {peer}: {e}"),
                            }
                        }
                    });
                }
            },
            // Reap finished connections as they end: nothing of theirs stays behind.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // Stop accepting (dropping a listener unlistens it), then let the open connections finish.
    acceptors.shutdown().await;
    while conns.join_next().await.is_some() {}
    match failure {
        Some(e) => Err(e),
        None => Ok(accepted),
    }
}

/// Connections cost no descriptors (they live in synack), but every response being sent holds
/// its file open: a thousand concurrent downloads need more than the usual soft limit of
/// 1024. Raise it to the hard limit, as servers do.
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Echo (or, with `send` false, discard) until the peer's FIN, then half-close our side.
async fn echo(conn: &mut Counted, send: bool) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return conn.shutdown().await;
        }
        if send {
            conn.write_all(&buf[..n]).await?;
        }
    }
}

/// A connection that counts the bytes read from and written to it (for the per-connection
/// line).
struct Counted {
    inner: TcpStream,
    read: u64,
    written: u64,
}

impl Counted {
    fn new(inner: TcpStream) -> Self {
        Counted {
            inner,
            read: 0,
            written: 0,
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read += (buf.filled().len() - before) as u64;
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.written += n as u64;
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
