//! HTTP/1.1 with hyper over synack's tokio sockets on a TUN device: hyper's connection
//! driver runs on a `synack::tokio::TcpStream` through hyper-util's `TokioIo` adapter, so
//! keep-alive, chunked bodies and pipelining are hyper's, the TCP underneath is synack's.
//!
//! ```sh
//! sudo ip netns add demo
//! sudo ip netns exec demo cargo run -p synack --example hyper_server -- synack0 10.200.0.2 10.200.0.1/24 8080
//! sudo ip netns exec demo curl http://10.200.0.2:8080/hello   # from another terminal
//! ```
//! Arguments (all optional, in order): TUN name, synack's address, the kernel side's address
//! with prefix, port. `GET /` and any other path answer a short text page naming the request
//! and both ends of the connection; `POST` bodies are echoed back.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use synack::tokio::TcpListener;
use synack::tun::Tun;
use synack::{Config, Stack};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let (tun, addr, host, port) = (
        arg(0, "synack0"),
        arg(1, "10.200.0.2"),
        arg(2, "10.200.0.1/24"),
        arg(3, "8080"),
    );
    let ip: IpAddr = addr.parse().map_err(std::io::Error::other)?;
    let port: u16 = port.parse().map_err(std::io::Error::other)?;

    let device = Tun::open(&tun)?;
    device.configure_host(Some(&host))?;
    let config = Config::default().with_local_addrs(vec![ip]);
    let stack = Stack::new(device, config)?;
    let listener = TcpListener::bind(&stack, SocketAddr::new(ip, port))?;
    println!("serving http://{ip}:{port}/ with hyper on {tun} (kernel side {host})");
    loop {
        let (conn, peer) = listener.accept().await?;
        let local = conn.local_addr()?;
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, local, peer));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .await
            {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    local: SocketAddr,
    peer: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
    let body = if method == Method::POST {
        match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => Bytes::from(format!("reading the body failed: {e}\n")),
        }
    } else {
        Bytes::from(format!(
            "hello from hyper over synack, a userspace TCP\n\
             you asked: {method} {uri} {version:?}\nfrom {peer} to {local}\n"
        ))
    };
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(body))
        .expect("a valid response"))
}
