//! The static files of `synack serve --http`.
//!
//! tower-http's `ServeDir` answers every request but one kind: a plain `GET` or `HEAD` of a
//! regular file — no range, no condition — the request that is nearly all of a file server's
//! load. ServeDir answers it with three or four hops to tokio's blocking pool (stat, open, read
//! per 64 KiB, close), each a thread wakeup: at 40,000 requests a second those hops were most
//! of the server's time. Here the same response — the same status and headers, ServeDir's
//! rules for the path — is made without them:
//!
//! - files up to 256 KiB come from a memory cache (at most 4096 files and 32 MiB), checked
//!   against the file's size and modification time at most once a second, as nginx's
//!   `open_file_cache_valid` does (a change shows within a second);
//! - larger files are read on the worker thread, 256 KiB at a time, as the connection takes
//!   them (nginx reads on its event loop the same way).
//!
//! Everything else — ranges, conditional requests, directories (index pages, redirects),
//! errors — goes to ServeDir. Before either, every request passes the checks of paths.rs:
//! 400 for a malformed one, 404 for a path that leaves the root (`..`, encoded or not, or a
//! symlink leading out). Those checks also read the path (percent-decoding it) once for both,
//! as ServeDir does, so the fast path serves exactly the file ServeDir would, or hands over.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tower_http::services::ServeDir;
use tower_service::Service;

mod paths;

/// What every response's body is.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, io::Error>;

/// Files up to this size are cached in memory.
const CACHE_MAX_FILE: u64 = 256 * 1024;
/// The cache's bounds: past either, the entry checked longest ago goes.
const CACHE_MAX_BYTES: usize = 32 << 20;
const CACHE_MAX_ENTRIES: usize = 4096;
/// A cached file is checked against the file system at most this often.
const REVALIDATE: Duration = Duration::from_secs(1);
/// Larger files are read this much at a time.
const CHUNK: usize = 256 * 1024;

/// The headers that make a request more than a plain one: ServeDir answers those.
const NOT_PLAIN: [header::HeaderName; 6] = [
    header::RANGE,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_RANGE,
];

/// The `--http` service (cheap to clone: one per connection).
#[derive(Clone)]
pub(crate) struct Files {
    root: Arc<PathBuf>,
    /// The root with its symlinks resolved: what every served file's real path starts with.
    real_root: Arc<PathBuf>,
    dir: ServeDir,
    cache: Arc<Mutex<Cache>>,
}

#[derive(Default)]
struct Cache {
    map: HashMap<PathBuf, Entry>,
    bytes: usize,
}

struct Entry {
    /// Where the file really is (symlinks resolved), inside the root when last checked.
    real: PathBuf,
    body: Bytes,
    head: Head,
    /// What the file was when read, and when that was last confirmed.
    modified: Option<SystemTime>,
    checked: Instant,
}

/// The headers of a plain response, as ServeDir makes them.
#[derive(Clone)]
struct Head {
    mime: HeaderValue,
    last_modified: Option<HeaderValue>,
    len: u64,
}

impl Head {
    fn of(path: &Path, meta: &std::fs::Metadata) -> Head {
        let mime = mime_guess::from_path(path)
            .first_raw()
            .map(HeaderValue::from_static)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let last_modified = meta
            .modified()
            .ok()
            .and_then(|t| HeaderValue::from_str(&httpdate::HttpDate::from(t).to_string()).ok());
        Head {
            mime,
            last_modified,
            len: meta.len(),
        }
    }

    fn response(&self, body: RespBody) -> Response<RespBody> {
        let mut r = Response::builder()
            .header(header::CONTENT_TYPE, self.mime.clone())
            .header(header::ACCEPT_RANGES, "bytes");
        if let Some(lm) = &self.last_modified {
            r = r.header(header::LAST_MODIFIED, lm.clone());
        }
        r.header(header::CONTENT_LENGTH, self.len)
            .header(header::SERVER, "synack")
            .body(body)
            .expect("valid header values")
    }
}

impl Files {
    pub(crate) fn new(root: PathBuf) -> Files {
        // `serve` checked that the root is a directory; should it not resolve, nothing
        // resolves inside it and ServeDir answers every request (with 404s).
        let real_root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        Files {
            dir: ServeDir::new(&root),
            root: Arc::new(root),
            real_root: Arc::new(real_root),
            cache: Arc::default(),
        }
    }

    /// Answer one request.
    pub(crate) async fn handle<B: Send + 'static>(
        &self,
        req: Request<B>,
    ) -> Result<Response<RespBody>, Infallible> {
        match self.here(&req) {
            Err(status) => return Ok(refusal(status)),
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
        }
        let mut dir = self.dir.clone();
        let Ok(mut r) = dir.call(req).await;
        r.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("synack"));
        Ok(r.map(|b| b.boxed_unsync()))
    }

    /// The checks of every request (paths.rs: 400 for what is malformed, 404 for what is not
    /// under the root), then the fast path: the response to a plain GET or HEAD of a regular
    /// file. `Ok(None)` hands the request to ServeDir, which then names the same file the
    /// checks passed (paths.rs reads a path as ServeDir does).
    fn here<B>(&self, req: &Request<B>) -> Result<Option<Response<RespBody>>, StatusCode> {
        if paths::bad_host(req) {
            return Err(StatusCode::BAD_REQUEST);
        }
        let head_only = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return Ok(None), // ServeDir: 405, without looking at the path
        };
        let uri_path = req.uri().path();
        let path = paths::requested_path(&self.root, uri_path)?;
        let slash = uri_path.ends_with('/');
        let plain = !NOT_PLAIN.iter().any(|h| req.headers().contains_key(h));
        let now = Instant::now();
        if plain {
            let key = if slash {
                path.join("index.html")
            } else {
                path.clone()
            };
            if let Some(r) = self.cached(&key, now, head_only) {
                return Ok(Some(r));
            }
        }
        let Some((named, real)) = paths::inside(&self.real_root, &path, slash)? else {
            return Ok(None); // nothing there: ServeDir's 404
        };
        if !plain {
            return Ok(None);
        }
        Ok(self.plain(named, &real, head_only, now))
    }

    /// The response to a plain GET or HEAD of `named` (its MIME type and the cache's key),
    /// which is really `real`, or `None` for ServeDir.
    fn plain(
        &self,
        named: PathBuf,
        real: &Path,
        head_only: bool,
        now: Instant,
    ) -> Option<Response<RespBody>> {
        let mut file = File::open(real).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None; // a directory (redirect or index) or something odd: ServeDir's rules
        }
        let head = Head::of(&named, &meta);
        if meta.len() > CACHE_MAX_FILE {
            let body = if head_only {
                empty()
            } else {
                FileBody {
                    file,
                    left: meta.len(),
                }
                .boxed_unsync()
            };
            return Some(head.response(body));
        }
        let mut body = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut body).ok()?;
        let body = Bytes::from(body);
        if body.len() as u64 != head.len {
            return None; // changed while we looked: let ServeDir take it
        }
        let r = head.response(if head_only {
            empty()
        } else {
            full(body.clone())
        });
        self.remember(
            named,
            real.to_path_buf(),
            body,
            head,
            meta.modified().ok(),
            now,
        );
        Some(r)
    }

    /// A cached file, if the cache has it and it is (still) the file on disk.
    fn cached(&self, path: &Path, now: Instant, head_only: bool) -> Option<Response<RespBody>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let e = cache.map.get_mut(path)?;
        if now.duration_since(e.checked) >= REVALIDATE {
            // The same file, at the same place: a symlink on the way that now leads somewhere
            // else (outside the root, say) drops the entry, and the request is checked anew.
            let real = std::fs::canonicalize(path).ok();
            let meta = real.as_ref().and_then(|r| std::fs::metadata(r).ok());
            let same = real.as_ref() == Some(&e.real)
                && meta.as_ref().is_some_and(|m| {
                    m.is_file() && m.len() == e.head.len && m.modified().ok() == e.modified
                });
            if !same {
                let gone = cache.map.remove(path).map_or(0, |e| e.body.len());
                cache.bytes -= gone;
                return None;
            }
            e.checked = now;
        }
        let body = if head_only {
            empty()
        } else {
            full(e.body.clone())
        };
        Some(e.head.response(body))
    }

    fn remember(
        &self,
        path: PathBuf,
        real: PathBuf,
        body: Bytes,
        head: Head,
        modified: Option<SystemTime>,
        now: Instant,
    ) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = cache.map.remove(&path) {
            cache.bytes -= old.body.len();
        }
        while !cache.map.is_empty()
            && (cache.map.len() >= CACHE_MAX_ENTRIES || cache.bytes + body.len() > CACHE_MAX_BYTES)
        {
            let oldest = cache
                .map
                .iter()
                .min_by_key(|(_, e)| e.checked)
                .map(|(p, _)| p.clone());
            if let Some(p) = oldest.and_then(|p| cache.map.remove(&p)) {
                cache.bytes -= p.body.len();
            }
        }
        cache.bytes += body.len();
        cache.map.insert(
            path,
            Entry {
                real,
                body,
                head,
                modified,
                checked: now,
            },
        );
    }
}

/// A refusal from paths.rs's checks. After a 400 the connection closes: a client that sent
/// something malformed is not sent more answers to guess at.
fn refusal(status: StatusCode) -> Response<RespBody> {
    let mut r = Response::builder()
        .status(status)
        .header(header::SERVER, "synack");
    if status == StatusCode::BAD_REQUEST {
        r = r.header(header::CONNECTION, "close");
    }
    r.body(empty()).expect("valid header values")
}

fn full(b: Bytes) -> RespBody {
    Full::new(b).map_err(|e| match e {}).boxed_unsync()
}

fn empty() -> RespBody {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

/// A large file's body, read on the worker thread a chunk at a time as hyper asks for it
/// (which it does as the connection's send buffer takes what went before).
struct FileBody {
    file: File,
    left: u64,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = (self.left as usize).min(CHUNK);
        // read_to_end fills the vector's spare capacity as it is (no zeroing first).
        let mut buf = Vec::with_capacity(n);
        let r = match (&mut self.file).take(n as u64).read_to_end(&mut buf) {
            Ok(got) if got == n => {
                self.left -= n as u64;
                Ok(Frame::data(Bytes::from(buf)))
            }
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was sent",
            )),
            Err(e) => Err(e),
        };
        Poll::Ready(Some(r))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("synack-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(d.join("sub/a.txt"), "a".repeat(1000)).unwrap();
        std::fs::write(d.join("big.bin"), vec![7u8; 600_000]).unwrap();
        std::fs::write(d.join("a b.html"), "<p>a b</p>").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", d.join("in.txt")).unwrap();
        std::os::unix::fs::symlink("sub", d.join("indir")).unwrap();
        d
    }

    fn get(method: Method, path: &str) -> Request<Empty<Bytes>> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "example.net")
            .body(Empty::new())
            .unwrap()
    }

    type Parts = (u16, Vec<(String, String)>, Vec<u8>);

    /// A response as status, headers (sorted) and body.
    async fn parts<B: Body<Data = Bytes>>(r: Response<B>) -> Parts
    where
        B::Error: std::fmt::Debug,
    {
        let status = r.status().as_u16();
        let mut h: Vec<_> = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        h.sort();
        let b = r.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, h, b)
    }

    /// What ServeDir answers (with the server header `Files::handle` adds to it).
    async fn serve_dir(root: &Path, req: Request<Empty<Bytes>>) -> Parts {
        let mut r = ServeDir::new(root).call(req).await.unwrap();
        r.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("synack"));
        parts(r).await
    }

    /// What the fast path answers, `None` where it hands over (or where paths.rs refuses).
    async fn ours(files: &Files, req: Request<Empty<Bytes>>) -> Option<Parts> {
        Some(parts(files.here(&req).ok()??).await)
    }

    /// The fast path answers exactly as ServeDir does: status, every header, every byte —
    /// cached small files, a large file read in chunks, HEAD, an index page by its slash.
    #[tokio::test]
    async fn plain_requests_are_answered_as_serve_dir_answers_them() {
        let root = dir("same");
        let files = Files::new(root.clone());
        for (m, p) in [
            (Method::GET, "/sub/a.txt"),
            (Method::GET, "/sub/a.txt"), // from the cache now
            (Method::HEAD, "/sub/a.txt"),
            (Method::GET, "/"),
            (Method::GET, "/index.html"),
            (Method::GET, "/big.bin"),
            (Method::HEAD, "/big.bin"),
            (Method::GET, "/./sub//a.txt"),
            (Method::GET, "/sub/a.txt?x=1"),
            // Percent-decoded once, as ServeDir decodes; %2F is a separator after decoding.
            (Method::GET, "/a%20b.html"),
            (Method::GET, "/sub/%61.txt"),
            (Method::GET, "/sub%2Fa.txt"),
            (Method::GET, "/%2E/sub/a.txt"),
            // A file with a slash after it is the file, to ServeDir (it is not a directory).
            (Method::GET, "/sub/a.txt/"),
            // Symlinks that stay inside the root are followed; the type is the link's name's.
            (Method::GET, "/in.txt"),
            (Method::GET, "/indir/a.txt"),
        ] {
            let want = serve_dir(&root, get(m.clone(), p)).await;
            let got = ours(&files, get(m.clone(), p)).await;
            assert_eq!(got.as_ref(), Some(&want), "{m} {p}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// What the fast path leaves to ServeDir: ranges, conditions, other methods, directories
    /// without their slash, missing files; and what paths.rs refuses before either.
    #[tokio::test]
    async fn everything_else_is_left_to_serve_dir() {
        let root = dir("else");
        let files = Files::new(root.clone());
        let with = |h: header::HeaderName, v: &str| {
            let mut r = get(Method::GET, "/sub/a.txt");
            r.headers_mut().insert(h, HeaderValue::from_str(v).unwrap());
            r
        };
        for req in [
            with(header::RANGE, "bytes=0-9"),
            with(header::IF_MODIFIED_SINCE, "Mon, 07 Dec 2026 20:54:13 GMT"),
            with(header::IF_NONE_MATCH, "\"x\""),
            get(Method::POST, "/sub/a.txt"),
            get(Method::GET, "/sub"),
            get(Method::GET, "/nope"),
            get(Method::GET, "/indir"),
            get(Method::GET, "/nope/"),
            get(Method::GET, "/../etc/passwd"),
            get(Method::GET, "/sub/../../etc/passwd"),
        ] {
            let what = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
            assert!(ours(&files, req).await.is_none(), "{what}");
        }
        // Those that ServeDir answers, it answers as it would without the checks in front.
        for p in ["/sub", "/indir", "/nope", "/nope/", "/sub/a.txt/x"] {
            let want = serve_dir(&root, get(Method::GET, p)).await;
            let got = parts(files.handle(get(Method::GET, p)).await.unwrap()).await;
            assert_eq!(got, want, "GET {p}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A changed file is served changed once the cache checks again (within a second).
    #[tokio::test]
    async fn a_changed_file_is_read_again_after_the_revalidation_time() {
        let root = dir("change");
        let files = Files::new(root.clone());
        let first = ours(&files, get(Method::GET, "/sub/a.txt")).await.unwrap();
        assert_eq!(first.2, "a".repeat(1000).into_bytes());
        std::fs::write(root.join("sub/a.txt"), "b".repeat(10)).unwrap();
        // Make the entry due for its check without waiting a second.
        for e in files.cache.lock().unwrap().map.values_mut() {
            e.checked -= REVALIDATE;
        }
        let second = ours(&files, get(Method::GET, "/sub/a.txt")).await.unwrap();
        assert_eq!(second.2, b"bbbbbbbbbb");
        assert_eq!(files.cache.lock().unwrap().bytes, 10);
        let _ = std::fs::remove_dir_all(&root);
    }
}
