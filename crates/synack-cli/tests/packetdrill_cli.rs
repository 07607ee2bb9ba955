//! `synack packetdrill`: a directory stands for its scripts, `--summary` counts outcomes, and
//! the exit status says whether every script passed.

use std::path::PathBuf;
use std::process::{Command, Output};

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run synack")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("synack-pd-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    d
}

const PASSES: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n\
    +0 listen(3, 1) = 0\n+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n";

#[test]
fn summary_counts_a_directory_of_scripts() {
    let d = scratch("summary");
    std::fs::write(d.join("a_pass.pkt"), PASSES).unwrap();
    std::fs::write(
        d.join("sub/b_fail.pkt"),
        PASSES.replace("ack 1 <", "ack 2 <"),
    )
    .unwrap();
    std::fs::write(
        d.join("sub/c_unsupported.pkt"),
        format!("{PASSES}+0 < udp (10)\n"),
    )
    .unwrap();
    std::fs::write(d.join("d_error.pkt"), "0 < Q 0:0(0)\n").unwrap();
    std::fs::write(d.join("not_a_script.txt"), "ignored").unwrap();
    let out = synack(&["packetdrill", "--summary", d.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("4 scripts: 1 passed, 1 failed, 1 unsupported, 1 not parsed"),
        "{text}"
    );
    assert!(
        text.contains("PASS ") && text.contains("UNSUPPORTED "),
        "{text}"
    );
    assert!(
        text.contains("ack: expected N got N"),
        "reasons are listed: {text}"
    );
    assert!(text.contains("udp packets"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn define_reaches_the_script_and_a_pass_exits_zero() {
    let d = scratch("define");
    std::fs::write(
        d.join("defined.pkt"),
        format!(
            "{PASSES}#ifdef SHORT\n+.1 < . 1:1(0) ack 1 win 65535\n#else\n+0 > R 0:0(0)\n#endif\n"
        ),
    )
    .unwrap();
    let p = d.join("defined.pkt");
    let out = synack(&["packetdrill", "--define", "SHORT=1", p.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = synack(&["packetdrill", p.to_str().unwrap()]);
    assert!(!out.status.success(), "the #else branch expects a RST");
    let _ = std::fs::remove_dir_all(&d);
}
