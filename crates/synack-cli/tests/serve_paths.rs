//! `synack serve --http` against curl in a network namespace of its own: percent-encoded
//! paths are decoded, nothing outside the root is served (`..`, raw or encoded, and symlinks
//! leading out are 404), and a malformed path is 400. The rules are in
//! src/serve_files/paths.rs; its unit tests cover them in full, this checks them on the wire.
//! Needs root, `ip` and `curl`; skipped (with the reason printed) otherwise.

#![cfg(target_os = "linux")]

use std::process::Command;
use std::time::Duration;

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::{skip_reason, spawn_until, wait_bounded, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const GUARD: Duration = Duration::from_secs(60);

#[test]
fn curl_gets_decoded_paths_and_nothing_outside_the_root() {
    if let Some(why) = skip_reason(&["ip", "curl"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let base = std::env::temp_dir().join(&ns.name);
    let (root, out) = (base.join("root"), base.join("outside"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(root.join("a b.html"), "a b").unwrap();
    std::fs::write(out.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("a b.html", root.join("in.html")).unwrap();
    std::os::unix::fs::symlink(out.join("secret.txt"), root.join("out.txt")).unwrap();
    // (curl options, path, status, body): `--path-as-is` sends `..` as it is.
    let cases: [(&[&str], &str, &str, &str); 6] = [
        (&[], "/a%20b.html", "200", "a b"),
        (&[], "/in.html", "200", "a b"),
        (&["--path-as-is"], "/../outside/secret.txt", "404", ""),
        (&[], "/%2e%2e/outside/secret.txt", "404", ""),
        (&[], "/out.txt", "404", ""),
        (&[], "/a%zz", "400", ""),
    ];
    let count = cases.len().to_string();
    let (mut serve, _, _) = spawn_until(
        Command::new(BIN)
            .args([
                "serve", "--netns", &ns.name, "--port", "80", "--count", &count,
            ])
            .arg("--http")
            .arg(&root),
        "listening on",
        GUARD,
    );
    for (opts, path, status, body) in cases {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.name, "curl", "-sS", "--max-time", "10"])
            .args(opts)
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://10.200.0.2{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text, format!("{body}\n{status}"), "{path}");
    }
    let st = wait_bounded(&mut serve.0, GUARD).expect("serve --count exits");
    assert!(st.success());
    let _ = std::fs::remove_dir_all(&base);
}
