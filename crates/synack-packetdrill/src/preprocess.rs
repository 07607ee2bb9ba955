//! Before lexing: `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif` blocks (FreeBSD's
//! tcp-testsuite writes `#ifdef STANDARD … #endif #ifdef FreeBSD … #endif`), and
//! `--define NAME=VALUE` symbols, which replace a word of the script wherever it appears
//! (packetdrill's `--define`: `< icmp unreachable CODE` with `--define CODE=port_unreachable`).
//!
//! Lines a false condition removes become empty lines, so every line keeps its number.

use std::collections::BTreeMap;

use crate::lexer::{Tok, Token};

/// Symbols for `#ifdef` and word replacement.
pub type Defines = BTreeMap<String, String>;

/// Drop the lines of false `#ifdef`/`#ifndef` branches. Directives nest; an unknown one
/// (`#if`, `#include`, …) or an unbalanced one is an error naming the line.
pub fn conditionals(src: &str, defines: &Defines) -> Result<String, String> {
    // One entry per open block: (this branch is taken, the enclosing block is taken,
    // `#else` seen, line of the `#if…`).
    let mut stack: Vec<(bool, bool, bool, usize)> = Vec::new();
    let mut out = String::with_capacity(src.len());
    for (i, line) in src.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let active = stack.last().is_none_or(|s| s.0 && s.1);
        let t = line.trim();
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or("");
        let directive = match first {
            "#ifdef" | "#ifndef" => {
                let Some(name) = words.next() else {
                    return Err(format!("line {n}: {first} needs a symbol name"));
                };
                let defined = defines.contains_key(name);
                let taken = if first == "#ifdef" { defined } else { !defined };
                stack.push((taken, active, false, n));
                true
            }
            "#else" => {
                let Some(top) = stack.last_mut() else {
                    return Err(format!("line {n}: #else without #ifdef"));
                };
                if top.2 {
                    return Err(format!(
                        "line {n}: a second #else (block opened line {})",
                        top.3
                    ));
                }
                top.0 = !top.0;
                top.2 = true;
                true
            }
            "#endif" => {
                if stack.pop().is_none() {
                    return Err(format!("line {n}: #endif without #ifdef"));
                }
                true
            }
            "#if" | "#elif" | "#define" | "#undef" | "#include" => {
                return Err(format!(
                    "line {n}: unsupported: preprocessor directive {first} (only #ifdef, \
                     #ifndef, #else and #endif are)"
                ));
            }
            _ => false,
        };
        if directive || !active {
            // Keep the line count: an empty line in place of the directive or dropped text.
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    if let Some(top) = stack.last() {
        return Err(format!("line {}: #ifdef without #endif", top.3));
    }
    Ok(out)
}

/// The token a defined symbol stands for, as packetdrill's lexer reads it: a quoted value
/// is a string, a backquoted one a shell command, an integer (decimal or 0x hex) a number,
/// anything else a word.
fn token_for(value: &str) -> Tok {
    let v = value.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return Tok::Str(v[1..v.len() - 1].to_string());
    }
    if v.len() >= 2 && v.starts_with('`') && v.ends_with('`') {
        return Tok::BackQuoted(v[1..v.len() - 1].to_string());
    }
    let int = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => v.parse::<i64>().ok(),
    };
    match int {
        Some(i) => Tok::Int(i),
        None => Tok::Word(v.to_string()),
    }
}

/// Replace every word that names a defined symbol with its value.
pub fn substitute(tokens: &mut [Token], defines: &Defines) {
    if defines.is_empty() {
        return;
    }
    for t in tokens {
        if let Tok::Word(w) = &t.tok {
            if let Some(v) = defines.get(w) {
                t.tok = token_for(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(names: &[&str]) -> Defines {
        names.iter().map(|n| (n.to_string(), "1".into())).collect()
    }

    #[test]
    fn false_branches_become_empty_lines() {
        let src = "a\n#ifdef STANDARD\nb\n#else\nc\n#endif\n#ifdef FreeBSD\nd\n#endif\ne\n";
        let out = conditionals(src, &defs(&["STANDARD"])).unwrap();
        assert_eq!(out, "a\n\nb\n\n\n\n\n\n\ne\n");
        let out = conditionals(src, &defs(&["FreeBSD"])).unwrap();
        assert_eq!(out, "a\n\n\n\nc\n\n\nd\n\ne\n");
    }

    #[test]
    fn nesting_and_ifndef() {
        let src = "#ifndef X\n#ifdef Y\ny\n#endif\nnx\n#endif\n";
        assert_eq!(conditionals(src, &defs(&["Y"])).unwrap(), "\n\ny\n\nnx\n\n");
        assert_eq!(
            conditionals(src, &defs(&["X", "Y"])).unwrap(),
            "\n\n\n\n\n\n"
        );
    }

    #[test]
    fn unbalanced_and_unknown_directives_are_errors() {
        assert!(conditionals("#ifdef A\n", &Defines::new())
            .unwrap_err()
            .starts_with("line 1:"));
        assert!(conditionals("#endif\n", &Defines::new()).is_err());
        assert!(conditionals("#if A\n#endif\n", &Defines::new())
            .unwrap_err()
            .contains("unsupported"));
    }

    #[test]
    fn values_become_tokens_of_their_kind() {
        assert_eq!(token_for("12"), Tok::Int(12));
        assert_eq!(token_for("0x1f"), Tok::Int(31));
        assert_eq!(token_for("\"cubic\""), Tok::Str("cubic".into()));
        assert_eq!(
            token_for("port_unreachable"),
            Tok::Word("port_unreachable".into())
        );
    }
}
