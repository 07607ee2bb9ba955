//! Which file a request names, and whether it may be served at all: the checks every request
//! of `synack serve --http` passes before either the fast path or ServeDir sees it.
//!
//! The rules, in order:
//!
//! 1. **400 Bad Request** for a request that is malformed in a way hyper lets through (hyper
//!    itself answers 400 to a request line or header it cannot parse, a non-ASCII byte in the
//!    request-target included): an HTTP/1.1 request without exactly one valid `Host` (RFC 9112
//!    §3.2, a MUST); a GET or HEAD whose target is not a path (`GET *`, RFC 9112 §3.2.4); a
//!    `%` not followed by two hex digits; a path that decodes to bytes that are not UTF-8 or
//!    to a NUL byte (no file on Linux has one in its name).
//! 2. The path is percent-decoded once, then split at `/` — so `%20` is a space and `%2F` is a
//!    separator like `/`, *after* decoding, which is why it cannot smuggle a `..` past the
//!    next rule. This is ServeDir's own reading of a path (percent-decode, then
//!    `Path::components`), made here once for both paths, so the two name the same file.
//! 3. **404 Not Found** for a `..` segment (raw or encoded) or a path that decodes to an
//!    absolute one (`/%2Fetc`), as ServeDir answers those.
//! 4. **404 Not Found** for a file or directory whose real path (symlinks resolved) is outside
//!    the root's real path, and for a directory whose `index.html` is. 404, not 403: the
//!    answer does not tell whether something exists out there. Symlinks that stay inside the
//!    root are followed.
//!
//! The check of rule 4 and the open that follows are two steps: a symlink swapped in between
//! by someone who can write inside the root could still be followed by ServeDir. Serving a
//! directory assumes its writers are trusted that far; the fast path opens the resolved path
//! itself, which narrows the window to nothing for the files it serves.

use std::path::{Component, Path, PathBuf};

use hyper::header;
use hyper::{Request, StatusCode, Version};

/// Whether a request is malformed in a way hyper lets through to us: an HTTP/1.1 request
/// without exactly one valid `Host` (RFC 9112 §3.2: a server MUST answer those with 400).
pub(super) fn bad_host<B>(req: &Request<B>) -> bool {
    if req.version() != Version::HTTP_11 {
        return false; // HTTP/1.0 has no Host requirement; hyper refuses HTTP/2+ preludes
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => !valid_host(h.as_bytes()),
        _ => true,
    }
}

/// The file a GET or HEAD names under `root` (a directory's `index.html` not yet added), or
/// the status that refuses it (rules 1 to 3 above). `uri_path` is the request's path, its
/// query already gone.
pub(super) fn requested_path(root: &Path, uri_path: &str) -> Result<PathBuf, StatusCode> {
    if !uri_path.starts_with('/') {
        // `*` (or an authority-form target): only OPTIONS and CONNECT may have one.
        return Err(StatusCode::BAD_REQUEST);
    }
    let decoded = percent_decode(uri_path.trim_start_matches('/').as_bytes())
        .ok_or(StatusCode::BAD_REQUEST)?;
    let decoded = String::from_utf8(decoded).map_err(|_| StatusCode::BAD_REQUEST)?;
    if decoded.contains('\0') {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut path = root.to_path_buf();
    for c in Path::new(&decoded).components() {
        match c {
            Component::Normal(c) => path.push(c),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(StatusCode::NOT_FOUND)
            }
        }
    }
    Ok(path)
}

/// `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2), or empty: no user information,
/// a port of digits only. `http`'s parser checks the host's characters.
fn valid_host(h: &[u8]) -> bool {
    if h.is_empty() {
        return true;
    }
    let Ok(a) = hyper::http::uri::Authority::try_from(h) else {
        return false;
    };
    let port = &a.as_str()[a.host().len()..];
    !h.contains(&b'@')
        && (port.is_empty()
            || port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Percent-decoding (RFC 3986 §2.1), or `None` for a `%` without two hex digits after it.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Where the file a request names really is, by rule 4: `Ok(Some((named, real)))` when it
/// exists inside `real_root` — `named` is `path`, or its `index.html` when `slash` (the
/// request path ends in `/`) and `path` is a directory, as ServeDir picks; `real` is that with
/// its symlinks resolved. `Ok(None)` when it does not exist (or cannot be looked at: ServeDir
/// says what then); `Err(404)` when it is outside.
pub(super) fn inside(
    real_root: &Path,
    path: &Path,
    slash: bool,
) -> Result<Option<(PathBuf, PathBuf)>, StatusCode> {
    let Some(real) = real_path(real_root, path)? else {
        return Ok(None);
    };
    if slash && real.is_dir() {
        let named = path.join("index.html");
        return Ok(real_path(real_root, &named)?.map(|real| (named, real)));
    }
    Ok(Some((path.to_path_buf(), real)))
}

fn real_path(real_root: &Path, path: &Path) -> Result<Option<PathBuf>, StatusCode> {
    match std::fs::canonicalize(path) {
        Ok(real) if real.starts_with(real_root) => Ok(Some(real)),
        Ok(_) => Err(StatusCode::NOT_FOUND),
        // A dangling symlink, a missing file, a file used as a directory, no permission:
        // nothing to serve, from outside or in; ServeDir finds the same and says so.
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Files, RespBody};
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper::{Method, Response};

    /// A root with a file, a subdirectory, a name with a space, and symlinks: two that stay
    /// inside, three that lead out (to a file, to a directory, as a directory's index.html);
    /// next to it, the outside with its secret.
    struct Tree {
        base: PathBuf,
        root: PathBuf,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let base =
                std::env::temp_dir().join(format!("synack-paths-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            let root = base.join("root");
            let out = base.join("outside");
            for d in [root.join("sub"), root.join("exposed"), out.clone()] {
                std::fs::create_dir_all(d).unwrap();
            }
            std::fs::write(out.join("secret.txt"), "secret").unwrap();
            std::fs::write(out.join("index.html"), "secret index").unwrap();
            std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
            std::fs::write(root.join("sub/a.txt"), "a").unwrap();
            std::fs::write(root.join("a b.html"), "a b").unwrap();
            let link = |to: &Path, at: &str| std::os::unix::fs::symlink(to, root.join(at)).unwrap();
            link(Path::new("sub/a.txt"), "in.txt");
            link(Path::new("sub"), "indir");
            link(&out.join("secret.txt"), "out.txt");
            link(Path::new("../outside"), "outdir");
            link(&out.join("index.html"), "exposed/index.html");
            Tree { base, root }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn req(method: Method, target: &str, host: Option<&str>) -> Request<Empty<Bytes>> {
        let mut r = Request::builder().method(method).uri(target);
        if let Some(h) = host {
            r = r.header(header::HOST, h);
        }
        r.body(Empty::new()).unwrap()
    }

    async fn answer(files: &Files, r: Request<Empty<Bytes>>) -> (u16, String) {
        let r: Response<RespBody> = files.handle(r).await.unwrap();
        let status = r.status().as_u16();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(files: &Files, target: &str) -> (u16, String) {
        answer(files, req(Method::GET, target, Some("example.net"))).await
    }

    #[tokio::test]
    async fn percent_encoded_paths_are_decoded_once() {
        let t = Tree::new("decode");
        let files = Files::new(t.root.clone());
        for (target, body) in [
            ("/a%20b.html", "a b"),
            ("/sub/%61.txt", "a"),
            ("/sub%2fa.txt", "a"), // a separator once decoded (ServeDir's reading too)
            ("/%73ub/a.txt", "a"),
        ] {
            assert_eq!(get(&files, target).await, (200, body.into()), "{target}");
        }
        // Decoded once only: %2561 is "%61", a name that does not exist.
        assert_eq!(get(&files, "/sub/%2561.txt").await.0, 404);
    }

    /// `..` and absolute paths, raw or percent-encoded (either case), never leave the root.
    #[tokio::test]
    async fn dot_dot_raw_or_encoded_is_404() {
        let t = Tree::new("dotdot");
        let files = Files::new(t.root.clone());
        for target in [
            "/../outside/secret.txt",
            "/sub/../../outside/secret.txt",
            "/%2e%2e/outside/secret.txt",
            "/%2E%2E%2Foutside%2Fsecret.txt",
            "/sub/..%2f..%2foutside/secret.txt",
            "/sub/%2e%2e/a%20b.html", // inside after all, but `..` is refused wherever it is
            "/%2F%2Fetc/passwd",
            "/%2fetc/passwd",
        ] {
            for m in [Method::GET, Method::HEAD] {
                let r = answer(&files, req(m.clone(), target, Some("x"))).await;
                assert_eq!(r, (404, String::new()), "{m} {target}");
            }
        }
    }

    /// A symlink that resolves outside the root is 404 — a file, a directory (with and without
    /// its slash: no redirect tells that it exists), a directory's index.html — also for a
    /// range request that ServeDir would answer. Symlinks inside are followed.
    #[tokio::test]
    async fn symlinks_out_of_the_root_are_404_and_those_inside_work() {
        let t = Tree::new("links");
        let files = Files::new(t.root.clone());
        for target in [
            "/out.txt",
            "/outdir",
            "/outdir/",
            "/outdir/secret.txt",
            "/exposed/",
            "/exposed/index.html",
        ] {
            assert_eq!(get(&files, target).await, (404, String::new()), "{target}");
        }
        let mut range = req(Method::GET, "/out.txt", Some("x"));
        range
            .headers_mut()
            .insert(header::RANGE, "bytes=0-2".parse().unwrap());
        assert_eq!(answer(&files, range).await.0, 404);
        assert_eq!(get(&files, "/in.txt").await, (200, "a".into()));
        assert_eq!(get(&files, "/indir/a.txt").await, (200, "a".into()));
        assert_eq!(get(&files, "/indir").await.0, 307); // ServeDir's redirect to /indir/
                                                        // A root reached through a symlink is still the root.
        let via = t.base.join("via");
        std::os::unix::fs::symlink(&t.root, &via).unwrap();
        let files = Files::new(via);
        assert_eq!(get(&files, "/in.txt").await, (200, "a".into()));
        assert_eq!(get(&files, "/out.txt").await.0, 404);
    }

    /// A cached file whose symlink is turned to point out of the root stops being served at
    /// the cache's next check.
    #[tokio::test]
    async fn a_cached_file_relinked_outside_is_404_after_revalidation() {
        let t = Tree::new("relink");
        let files = Files::new(t.root.clone());
        assert_eq!(get(&files, "/in.txt").await, (200, "a".into()));
        let link = t.root.join("in.txt");
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(t.base.join("outside/secret.txt"), &link).unwrap();
        for e in files.cache.lock().unwrap().map.values_mut() {
            e.checked -= super::super::REVALIDATE;
        }
        assert_eq!(get(&files, "/in.txt").await, (404, String::new()));
        assert!(files.cache.lock().unwrap().map.is_empty());
    }

    /// What hyper lets through but is malformed: 400, and the connection closes after it.
    #[tokio::test]
    async fn malformed_requests_are_400() {
        let t = Tree::new("bad");
        let files = Files::new(t.root.clone());
        for target in [
            "/a%2",
            "/a%",
            "/a%zz.html",
            "/%g0",
            "/%ff",        // not UTF-8
            "/sub/%c3%28", // not UTF-8
            "/a%00b",      // NUL
            "*",           // asterisk-form is for OPTIONS (RFC 9112 §3.2.4)
        ] {
            let r = files
                .handle(req(Method::GET, target, Some("x")))
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{target}");
            assert_eq!(r.headers()[header::CONNECTION], "close", "{target}");
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without exactly one valid Host MUST get 400.
        assert_eq!(answer(&files, req(Method::GET, "/", None)).await.0, 400);
        for host in ["a@b", "a b", "x:y"] {
            let r = req(Method::GET, "/", Some(host));
            assert_eq!(answer(&files, r).await.0, 400, "Host: {host}");
        }
        let mut two = req(Method::GET, "/", Some("a"));
        two.headers_mut().append(header::HOST, "b".parse().unwrap());
        assert_eq!(answer(&files, two).await.0, 400);
        // An empty Host, a port, an IPv6 literal are fine; HTTP/1.0 needs no Host.
        for host in ["", "a:80", "[::1]:8080", "10.0.0.1"] {
            let r = req(Method::GET, "/sub/a.txt", Some(host));
            assert_eq!(answer(&files, r).await.0, 200, "Host: {host}");
        }
        let mut old = req(Method::GET, "/sub/a.txt", None);
        *old.version_mut() = Version::HTTP_10;
        assert_eq!(answer(&files, old).await, (200, "a".into()));
        // Other methods: ServeDir's 405, whatever the path.
        let r = answer(&files, req(Method::POST, "/a%zz", Some("x"))).await;
        assert_eq!(r.0, 405);
    }

    /// Raw bytes through hyper and the service, as `serve` wires them: what hyper refuses
    /// itself (a request line without a path, a byte that is not ASCII in the target, a bad
    /// header line) and what it passes to us, each answered with its status.
    #[tokio::test]
    async fn raw_requests_through_hyper_get_the_right_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let t = Tree::new("raw");
        let files = Files::new(t.root.clone());
        let cases: [(&[u8], &str); 9] = [
            (b"GET HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            (b"GET /a\xffb HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "400"),
            (b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\n\r\n", "400"),
            (
                b"GET /../outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                "404",
            ),
            (
                b"GET /%2e%2e/outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                "404",
            ),
            (b"GET /a%20b.html HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
        ];
        for (request, want) in cases {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let files = files.clone();
            let svc = hyper::service::service_fn(move |req| {
                let files = files.clone();
                async move { files.handle(req).await }
            });
            let conn = tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .half_close(true) // as `serve` has it
                    .serve_connection(hyper_util::rt::TokioIo::new(server), svc),
            );
            client.write_all(request).await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            let _ = conn.await;
            let got = String::from_utf8_lossy(&got);
            let status = got.split(' ').nth(1).unwrap_or("");
            assert_eq!(
                status,
                want,
                "{:?}: {got}",
                String::from_utf8_lossy(request)
            );
        }
    }

    #[test]
    fn paths_are_read_as_serve_dir_reads_them() {
        let root = Path::new("/srv");
        let ok = |p: &str| requested_path(root, p);
        assert_eq!(ok("/"), Ok(root.to_path_buf()));
        assert_eq!(ok("/a/./b//c/"), Ok(root.join("a/b/c")));
        assert_eq!(ok("/a%2Fb"), Ok(root.join("a/b")));
        assert_eq!(ok("/a+b"), Ok(root.join("a+b"))); // `+` is not a space in a path
        assert_eq!(ok("/%E2%9C%93"), Ok(root.join("\u{2713}")));
        assert_eq!(ok("/a/../b"), Err(StatusCode::NOT_FOUND));
        assert_eq!(ok("/a%"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(percent_decode(b"%41%6a%6A"), Some(b"Ajj".to_vec()));
        assert_eq!(percent_decode(b"%4"), None);
        assert_eq!(percent_decode(b"%+1"), None);
    }
}
