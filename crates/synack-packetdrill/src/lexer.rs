//! Tokens of the packetdrill language: numbers, words, strings, `...`, backquoted shell
//! commands, `%{ }%` code blocks, `--option=value` lines and single punctuation characters.
//! Comments (`//`, `/* */`) and whitespace are skipped; every token keeps its line number.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An integer as written (decimal, may be negative); kept as text so 32-bit sequence
    /// numbers and 64-bit values parse the same way.
    Int(i64),
    /// A decimal number with a fraction, e.g. `0.100`, `.1`.
    Float(f64),
    Word(String),
    Str(String),
    Ellipsis,
    BackQuoted(String),
    Code(String),
    /// `--name` or `--name=value`.
    Opt(String, Option<String>),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Int(v) => write!(f, "{v}"),
            Tok::Float(v) => write!(f, "{v}"),
            Tok::Word(w) => f.write_str(w),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Ellipsis => f.write_str("..."),
            Tok::BackQuoted(s) => write!(f, "`{s}`"),
            Tok::Code(_) => f.write_str("%{...}%"),
            Tok::Opt(n, Some(v)) => write!(f, "--{n}={v}"),
            Tok::Opt(n, None) => write!(f, "--{n}"),
            Tok::Punct(c) => write!(f, "{c}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

/// Split a script into tokens. Errors name the line.
pub fn lex(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut out = Vec::new();
    let text = |a: usize, z: usize| String::from_utf8_lossy(&b[a..z]).into_owned();
    while i < b.len() {
        let c = b[i];
        let start_line = line;
        let push = |out: &mut Vec<Token>, tok| {
            out.push(Token {
                tok,
                line: start_line,
            })
        };
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let Some(end) = find(b, i + 2, b"*/") else {
                    return Err(format!("line {line}: unterminated /* comment"));
                };
                line += count_newlines(&b[i..end]);
                i = end + 2;
            }
            b'%' if b.get(i + 1) == Some(&b'{') => {
                let Some(end) = find(b, i + 2, b"}%") else {
                    return Err(format!("line {line}: unterminated %{{ code block"));
                };
                line += count_newlines(&b[i..end]);
                push(&mut out, Tok::Code(text(i + 2, end)));
                i = end + 2;
            }
            b'`' | b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!("line {line}: unterminated {} string", c as char));
                }
                line += count_newlines(&b[i..j]);
                let s = text(i + 1, j);
                push(
                    &mut out,
                    if c == b'`' {
                        Tok::BackQuoted(s)
                    } else {
                        Tok::Str(s)
                    },
                );
                i = j + 1;
            }
            b'.' if b.get(i + 1) == Some(&b'.') && b.get(i + 2) == Some(&b'.') => {
                push(&mut out, Tok::Ellipsis);
                i += 3;
            }
            b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(|c| is_word(*c)) => {
                let mut j = i + 2;
                while j < b.len() && is_word(b[j]) {
                    j += 1;
                }
                let name = text(i + 2, j);
                let mut value = None;
                if b.get(j) == Some(&b'=') {
                    let k = j + 1;
                    j = k;
                    while j < b.len() && !b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    value = Some(text(k, j));
                }
                push(&mut out, Tok::Opt(name, value));
                i = j;
            }
            _ if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                || (c == b'-'
                    && (b.get(i + 1).is_some_and(u8::is_ascii_digit)
                        || (b.get(i + 1) == Some(&b'.')
                            && b.get(i + 2).is_some_and(u8::is_ascii_digit)))) =>
            {
                let (tok, len) = number(&b[i..]).map_err(|e| format!("line {line}: {e}"))?;
                push(&mut out, tok);
                i += len;
            }
            _ if is_word(c) => {
                let mut j = i;
                while j < b.len() && is_word(b[j]) {
                    j += 1;
                }
                push(&mut out, Tok::Word(text(i, j)));
                i = j;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                push(&mut out, Tok::Punct(ch));
                i += ch.len_utf8();
            }
        }
    }
    Ok(out)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    (from..b.len().saturating_sub(pat.len() - 1)).find(|&k| &b[k..k + pat.len()] == pat)
}

/// A number at the start of `b`: `0x1f`, `-12`, `0.100`, `.5`. Returns the token and its length.
fn number(b: &[u8]) -> Result<(Tok, usize), String> {
    let mut j = 0;
    let neg = b[0] == b'-';
    if neg {
        j = 1;
    }
    if b.get(j) == Some(&b'0') && matches!(b.get(j + 1), Some(b'x') | Some(b'X')) {
        let s = j + 2;
        let mut k = s;
        while k < b.len() && b[k].is_ascii_hexdigit() {
            k += 1;
        }
        let txt = std::str::from_utf8(&b[s..k]).unwrap_or("");
        let v = i64::from_str_radix(txt, 16).map_err(|e| format!("bad hex number: {e}"))?;
        return Ok((Tok::Int(if neg { -v } else { v }), k));
    }
    let mut k = j;
    while k < b.len() && b[k].is_ascii_digit() {
        k += 1;
    }
    // Digits run into letters: a word, as flex's longest match makes it (`FO 3021b9d8` is a
    // hex cookie, not the number 3021 and a word).
    if !neg && b.get(k).is_some_and(|c| is_word(*c)) {
        while k < b.len() && is_word(b[k]) {
            k += 1;
        }
        let txt = String::from_utf8_lossy(&b[..k]).into_owned();
        return Ok((Tok::Word(txt), k));
    }
    // A fraction needs a digit after the dot (so `0...0.2` lexes as 0, ..., 0.2).
    if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(u8::is_ascii_digit) {
        k += 1;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        let txt = std::str::from_utf8(&b[..k]).unwrap_or("");
        let v: f64 = txt.parse().map_err(|e| format!("bad number {txt}: {e}"))?;
        return Ok((Tok::Float(v), k));
    }
    let txt = std::str::from_utf8(&b[..k]).unwrap_or("");
    match txt.parse::<i64>() {
        Ok(v) => Ok((Tok::Int(v), k)),
        // Too long for a number: a hex blob such as a Fast Open cookie of digits only.
        Err(_) if !neg => Ok((Tok::Word(txt.to_string()), k)),
        Err(e) => Err(format!("bad number {txt}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn times_and_ellipsis() {
        assert_eq!(
            toks("+0...0.200 accept"),
            vec![
                Tok::Punct('+'),
                Tok::Int(0),
                Tok::Ellipsis,
                Tok::Float(0.2),
                Tok::Word("accept".into())
            ]
        );
        assert_eq!(toks("+.1"), vec![Tok::Punct('+'), Tok::Float(0.1)]);
    }

    #[test]
    fn packet_and_comments() {
        let t = toks("< S. 0:0(0) ack 1 // hi\n/* x\n y */ > . 1:1(0) win -1");
        assert_eq!(t[1], Tok::Word("S".into()));
        assert_eq!(t[2], Tok::Punct('.'));
        assert_eq!(t[3], Tok::Int(0));
        assert!(t.contains(&Tok::Int(-1)));
        let l = lex("a\n/* x\n y */ b").unwrap();
        assert_eq!(l[1].line, 3);
    }

    #[test]
    fn options_code_and_commands() {
        let t = toks("--tolerance_usecs=10000\n`sysctl -q x=1`\n%{ print(1) }%\n0x802");
        assert_eq!(
            t[0],
            Tok::Opt("tolerance_usecs".into(), Some("10000".into()))
        );
        assert_eq!(t[1], Tok::BackQuoted("sysctl -q x=1".into()));
        assert_eq!(t[2], Tok::Code(" print(1) ".into()));
        assert_eq!(t[3], Tok::Int(0x802));
    }

    #[test]
    fn digits_running_into_letters_are_a_word() {
        assert_eq!(
            toks("FO 3021b9d889017eeb,nop"),
            vec![
                Tok::Word("FO".into()),
                Tok::Word("3021b9d889017eeb".into()),
                Tok::Punct(','),
                Tok::Word("nop".into())
            ]
        );
        assert_eq!(toks("1:1001(1000)")[2], Tok::Int(1001));
        assert_eq!(
            toks("020304050607080910111213"),
            vec![Tok::Word("020304050607080910111213".into())]
        );
    }
}
