//! CONFORMANCE.md: for every RFC 9293 MUST and SHOULD (Appendix B), the tests and packetdrill
//! scripts that prove it, or why it has none.
//!
//! Evidence is found by scanning, not by a hand-kept list: every `#[test]` function in
//! `crates/*/tests/*.rs` and `crates/*/src/**/*.rs` whose name, doc comment or body cites an
//! ID (`must_10`, `MUST-10`, `shld_31`, `MUST-24..29`, `must_26_29`), and every script in
//! `tests/packetdrill/` that cites one in its comments. Ignored tests and scripts marked
//! `KNOWN FAILING` are listed but do not count as proof. The scanner's own tests are not
//! evidence either: their IDs are fixtures for the scanner (this file, and any test that
//! calls [`cited_ids`], is skipped). Rows without proof take their text from
//! `explanations.tsv`; a MUST row with neither is an error.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const REQUIREMENTS: &str = include_str!("requirements.tsv");
const EXPLANATIONS: &str = include_str!("explanations.tsv");

/// One piece of evidence: where, and whether it counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    pub name: String,
    /// An ignored test or a known-failing script.
    pub failing: bool,
}

pub struct Report {
    pub markdown: String,
    /// MUST IDs with neither a passing test nor an explanation.
    pub unexplained_musts: Vec<String>,
    pub proven: usize,
    pub explained: usize,
    pub total: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} of {} requirements proven by tests, {} explained, {} MUST rows missing",
            self.proven,
            self.total,
            self.explained,
            self.unexplained_musts.len()
        )
    }
}

/// The requirement rows: (ID, section, text), one per ID in table order.
pub fn requirements() -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = Vec::new();
    for l in REQUIREMENTS.lines().filter(|l| !l.starts_with('#')) {
        let mut f = l.split('\t');
        let (Some(id), Some(sec), Some(text)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        match v.iter_mut().find(|r| r.0 == id) {
            Some(r) => {
                r.2.push_str("; ");
                r.2.push_str(text);
            }
            None => v.push((id.into(), sec.into(), text.into())),
        }
    }
    v
}

fn explanations() -> BTreeMap<String, String> {
    EXPLANATIONS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Requirement IDs cited in `text`: `MUST-10`, `must_10`, `MUST-24..29`, `must_26_29`,
/// `SHLD-31`, `shld_31` (case-insensitive).
pub fn cited_ids(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut out = Vec::new();
    for (kind, tag) in [("must", "MUST"), ("shld", "SHLD")] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(kind) {
            let start = from + pos;
            from = start + kind.len();
            if start > 0 && b[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let mut i = from;
            if !matches!(b.get(i), Some(b'-') | Some(b'_')) {
                continue;
            }
            let sep = b[i];
            i += 1;
            let mut nums = Vec::new();
            loop {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == s {
                    break;
                }
                let n: u32 = lower[s..i].parse().unwrap_or(0);
                // `MUST-24..29`: a range.
                if sep == b'-' && lower[i..].starts_with("..") {
                    let s2 = i + 2;
                    let mut j = s2;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if let Ok(m) = lower[s2..j].parse::<u32>() {
                        nums.extend(n..=m.min(n + 70));
                        break;
                    }
                }
                nums.push(n);
                // `must_26_29` (names) and `MUST-2/3` (comments): more numbers.
                let joiner = if sep == b'_' { b'_' } else { b'/' };
                if b.get(i) == Some(&joiner) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    continue;
                }
                break;
            }
            out.extend(nums.into_iter().map(|n| format!("{tag}-{n}")));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every `#[test]` function of a Rust file: (name, ignored, text of its comments and body).
fn rust_tests(src: &str) -> Vec<(String, bool, String)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[test]" {
            i += 1;
            continue;
        }
        // Comments and attributes right above and below `#[test]`.
        let mut top = i;
        while top > 0 && lines[top - 1].trim_start().starts_with("//") {
            top -= 1;
        }
        let mut j = i + 1;
        let mut ignored = false;
        while j < lines.len() && !lines[j].contains("fn ") {
            ignored |= lines[j].contains("#[ignore");
            j += 1;
        }
        let Some(fn_line) = lines.get(j) else { break };
        let indent = fn_line.len() - fn_line.trim_start().len();
        let name = fn_line
            .split("fn ")
            .nth(1)
            .and_then(|r| r.split('(').next())
            .unwrap_or("")
            .trim()
            .to_string();
        let close = format!("{}}}", " ".repeat(indent));
        let mut end = j;
        while end < lines.len() && lines[end] != close {
            end += 1;
        }
        out.push((name, ignored, lines[top..end.min(lines.len())].join("\n")));
        i = end + 1;
    }
    out
}

/// This generator's own source: its tests cite IDs as fixtures.
fn is_scanner(rel: &str) -> bool {
    Path::new(rel).ends_with("synack-packetdrill/src/conformance.rs")
}

/// Scan the repository at `root` for evidence, by requirement ID.
pub fn scan(root: &Path) -> Result<BTreeMap<String, Vec<Evidence>>, String> {
    let mut ev: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    let crates = root.join("crates");
    let mut files = Vec::new();
    let rd = fs::read_dir(&crates).map_err(|e| format!("{}: {e}", crates.display()))?;
    let mut dirs: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for c in dirs {
        rs_files(&c.join("tests"), &mut files);
        rs_files(&c.join("src"), &mut files);
    }
    for f in files {
        let src = fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        if is_scanner(&rel) {
            continue;
        }
        // A test file's `//!` header names what the whole file tests.
        if rel.contains("/tests/") {
            let header: String = src
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            for id in cited_ids(&header) {
                ev.entry(id).or_default().push(Evidence {
                    name: format!("{rel} (whole file)"),
                    failing: false,
                });
            }
        }
        for (name, ignored, text) in rust_tests(&src) {
            // A test of the scanner cites IDs as its fixtures; it proves nothing about TCP.
            if text.contains("cited_ids(") {
                continue;
            }
            for id in cited_ids(&text) {
                ev.entry(id).or_default().push(Evidence {
                    name: format!("{rel}::{name}"),
                    failing: ignored,
                });
            }
        }
    }
    let pd = root.join("tests/packetdrill");
    if let Ok(rd) = fs::read_dir(&pd) {
        let mut pkts: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        pkts.sort();
        for p in pkts
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
        {
            let src = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let comments: String = src
                .lines()
                .filter_map(|l| l.split_once("//").map(|(_, c)| c))
                .collect::<Vec<_>>()
                .join("\n");
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            let failing = src.contains("KNOWN FAILING");
            for id in cited_ids(&comments) {
                ev.entry(id).or_default().push(Evidence {
                    name: rel.clone(),
                    failing,
                });
            }
        }
    }
    for v in ev.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(ev)
}

/// Build CONFORMANCE.md for the repository at `root`.
pub fn generate(root: &Path) -> Result<Report, String> {
    let ev = scan(root)?;
    let expl = explanations();
    let reqs = requirements();
    let mut md = String::new();
    md.push_str(
        "# RFC 9293 conformance\n\n\
         Generated by `synack packetdrill --conformance` (and checked by `cargo test -p \
         synack-packetdrill`) from the tests themselves: a test or packetdrill script proves a \
         requirement when its name or comments cite the ID (`must_10`, `MUST-10`). Do not edit \
         by hand; cite IDs in tests, or add a reason to \
         `crates/synack-packetdrill/src/explanations.tsv`.\n\n\
         Requirements: RFC 9293 Appendix B (MUST-1..69, SHLD-1..31), condensed. Evidence marked \
         *(failing)* is an ignored test or a known-failing script: it documents a gap and proves \
         nothing.\n\n",
    );
    let (mut proven, mut explained) = (0, 0);
    let mut missing = Vec::new();
    let mut body = String::new();
    for (id, sec, text) in &reqs {
        let list = ev.get(id).cloned().unwrap_or_default();
        let good = list.iter().filter(|e| !e.failing).count();
        let mut cell: Vec<String> = list
            .iter()
            .map(|e| {
                let s = format!("`{}`", e.name);
                if e.failing {
                    format!("{s} *(failing)*")
                } else {
                    s
                }
            })
            .collect();
        let status = if good > 0 {
            proven += 1;
            "tested"
        } else if let Some(x) = expl.get(id) {
            explained += 1;
            cell.insert(0, x.clone());
            "explained"
        } else {
            if id.starts_with("MUST") {
                missing.push(id.clone());
            }
            cell.insert(0, "**no test yet**".into());
            "missing"
        };
        if good > 0 {
            if let Some(x) = expl.get(id) {
                cell.insert(0, x.clone());
            }
        }
        body.push_str(&format!(
            "| {id} | {sec} | {} | {status} | {} |\n",
            text.replace('|', "\\|"),
            cell.join("<br>")
        ));
    }
    md.push_str(&format!(
        "**{proven}** of {} requirements tested, **{explained}** explained, **{}** MUST rows \
         missing.\n\n| ID | § | Requirement | Status | Evidence |\n|---|---|---|---|---|\n",
        reqs.len(),
        missing.len()
    ));
    md.push_str(&body);
    Ok(Report {
        markdown: md,
        unexplained_musts: missing,
        proven,
        explained,
        total: reqs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn ids_are_found_in_names_comments_and_ranges() {
        assert_eq!(cited_ids("fn must_10_simultaneous()"), vec!["MUST-10"]);
        assert_eq!(
            cited_ids("fn x_must_26_29_shld_12()"),
            vec!["MUST-26", "MUST-29", "SHLD-12"]
        );
        assert_eq!(
            cited_ids("// MUST-24..26, SHLD-31."),
            vec!["MUST-24", "MUST-25", "MUST-26", "SHLD-31"]
        );
        assert_eq!(cited_ids("MUST-1 and MUST-10"), vec!["MUST-1", "MUST-10"]);
        assert!(cited_ids("mustard_1").is_empty());
        assert_eq!(cited_ids("(MUST-2/3)"), vec!["MUST-2", "MUST-3"]);
    }

    /// Issue 19: the scanner's fixtures (`cited_ids("fn must_10_…")`) once counted as the
    /// evidence for MUST-1, 2, 3, 10, 24, 25, 26 and 29.
    #[test]
    fn the_scanners_own_tests_are_not_evidence() {
        let ev = scan(&root()).unwrap();
        let from_scanner: Vec<&Evidence> = ev
            .values()
            .flatten()
            .filter(|e| e.name.contains("conformance.rs"))
            .collect();
        assert!(from_scanner.is_empty(), "{from_scanner:?}");
        assert!(is_scanner("crates/synack-packetdrill/src/conformance.rs"));
        assert!(!is_scanner("crates/synack-proto/tests/handshake.rs"));
        // A test elsewhere that exercises the scanner does not count either.
        let src =
            "#[test]\nfn must_1_fixture() {\n    assert!(cited_ids(\"MUST-1\").len() == 1);\n}\n";
        let tests = rust_tests(src);
        assert_eq!(tests.len(), 1);
        assert!(tests[0].2.contains("cited_ids("));
    }

    #[test]
    fn every_requirement_row_is_present() {
        let r = requirements();
        assert_eq!(r.iter().filter(|x| x.0.starts_with("MUST")).count(), 69);
        assert_eq!(r.iter().filter(|x| x.0.starts_with("SHLD")).count(), 31);
    }

    /// The acceptance check of issue 7: every MUST is proven by a test or explained.
    #[test]
    fn every_must_is_proven_or_explained() {
        let report = generate(&root()).unwrap();
        assert!(
            report.unexplained_musts.is_empty(),
            "MUST rows with neither a passing test nor an explanation: {:?}",
            report.unexplained_musts
        );
    }

    /// CONFORMANCE.md is regenerated with `cargo run -- packetdrill --conformance`; this
    /// only warns when it is stale (other crates' tests change it), and rewrites it when
    /// SYNACK_BLESS is set.
    #[test]
    fn conformance_md_freshness() {
        let report = generate(&root()).unwrap();
        let path = root().join("CONFORMANCE.md");
        if std::env::var_os("SYNACK_BLESS").is_some() {
            fs::write(&path, &report.markdown).unwrap();
        }
        let on_disk = fs::read_to_string(&path).unwrap_or_default();
        if on_disk != report.markdown {
            eprintln!(
                "warning: CONFORMANCE.md is stale; run `cargo run -- packetdrill --conformance` ({})",
                report.summary()
            );
        }
    }
}
