//! `%{ … }%` code blocks. packetdrill runs them as Python with the socket's `tcp_info`
//! fields in scope; the public suites use them for one thing, assertions on those fields:
//!
//! ```text
//! +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%
//! +0 %{ assert 990 <= tcpi_rtt <= 1010, 'rtt=%d' % tcpi_rtt }%
//! +0 %{ print(tcpi_snd_cwnd); cwnd += 1; assert tcpi_snd_cwnd == cwnd }%
//! ```
//!
//! This is that subset, evaluated at the block's time: `assert expr[, message]` (the message
//! is not evaluated), `name = expr`, `name += expr`, `name -= expr`, `print(…)` (ignored),
//! `#` comments, statements split by `;` or new lines (`\` continues a line). Expressions:
//! integers, names (variables, which live until the script ends, `tcpi_*` fields,
//! `TCP_CA_*`/`TCPI_OPT_*`/`TCP_*` constants), `( )`, `not`/`and`/`or`, chained comparisons,
//! `| ^ & << >> + - * // / %`, unary `- + ~`. Anything else — another statement, a call, a
//! field synack cannot give — is unsupported, so the script stops instead of passing
//! unchecked.

use std::collections::HashMap;

/// Why a block did not pass.
#[derive(Debug, PartialEq)]
pub enum CodeError {
    Unsupported(String),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
enum T {
    Int(i64),
    Name(String),
    Str,
    Op(&'static str),
    End,
}

const OPS: &[&str] = &[
    "//", "<<", ">>", "<=", ">=", "==", "!=", "+=", "-=", "(", ")", "<", ">", "+", "-", "*", "/",
    "%", "&", "|", "^", "~", "=", ",", "[", "]", ".", ":",
];

fn lex(src: &str) -> Result<Vec<T>, CodeError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0i32;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'\n' | b';' => {
                if depth == 0 && out.last() != Some(&T::End) {
                    out.push(T::End);
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' | b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                out.push(T::Str);
                i = j + 1;
            }
            b'0'..=b'9' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let t = src[i..j].replace('_', "");
                let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(h) => i64::from_str_radix(h, 16),
                    None => t.parse(),
                };
                let v = v.map_err(|_| CodeError::Unsupported(format!("number `{t}`")))?;
                out.push(T::Int(v));
                i = j;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                out.push(T::Name(src[i..j].to_string()));
                i = j;
            }
            _ => {
                let Some(op) = OPS.iter().find(|o| src[i..].starts_with(**o)) else {
                    return Err(CodeError::Unsupported(format!(
                        "`{}` in a code block",
                        src[i..].chars().next().unwrap_or('?')
                    )));
                };
                match *op {
                    "(" | "[" => depth += 1,
                    ")" | "]" => depth -= 1,
                    _ => {}
                }
                out.push(T::Op(op));
                i += op.len();
            }
        }
    }
    out.push(T::End);
    Ok(out)
}

/// Run a block. `field` gives a `tcpi_*` value (or says why it cannot); `vars` are the
/// script's Python variables.
pub fn run(
    src: &str,
    vars: &mut HashMap<String, i64>,
    field: &dyn Fn(&str) -> Result<i64, String>,
) -> Result<(), CodeError> {
    let toks = lex(src)?;
    let mut p = P {
        t: toks,
        i: 0,
        vars,
        field,
        used: Vec::new(),
    };
    while p.i < p.t.len() {
        if p.peek() == &T::End {
            p.i += 1;
            continue;
        }
        p.statement()?;
    }
    Ok(())
}

struct P<'a> {
    t: Vec<T>,
    i: usize,
    vars: &'a mut HashMap<String, i64>,
    field: &'a dyn Fn(&str) -> Result<i64, String>,
    /// `tcpi_*` values read by the current statement, for the failure message.
    used: Vec<(String, i64)>,
}

fn unsupported<X>(what: impl Into<String>) -> Result<X, CodeError> {
    Err(CodeError::Unsupported(what.into()))
}

impl P<'_> {
    fn peek(&self) -> &T {
        self.t.get(self.i).unwrap_or(&T::End)
    }
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), T::Op(o) if *o == op) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_name(&mut self, n: &str) -> bool {
        if matches!(self.peek(), T::Name(x) if x == n) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_statement(&mut self) {
        while self.i < self.t.len() && self.peek() != &T::End {
            self.i += 1;
        }
    }
    fn end_statement(&mut self) -> Result<(), CodeError> {
        match self.peek() {
            T::End => {
                self.i += 1;
                Ok(())
            }
            t => unsupported(format!("{t:?} in a code block statement")),
        }
    }

    fn statement(&mut self) -> Result<(), CodeError> {
        self.used.clear();
        let start = self.i;
        if self.eat_name("assert") {
            let v = self.expr()?;
            if self.eat(",") {
                // The message: Python only builds it when the assertion fails.
                self.skip_statement();
            }
            self.end_statement()?;
            if v == 0 {
                let vals: Vec<String> = self
                    .used
                    .iter()
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                return Err(CodeError::Failed(format!(
                    "code block assertion failed{}",
                    if vals.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", vals.join(", "))
                    }
                )));
            }
            return Ok(());
        }
        if self.eat_name("print") {
            if !self.eat("(") {
                return unsupported("print without parentheses");
            }
            self.skip_statement();
            return self.end_statement();
        }
        if let T::Name(n) = self.peek().clone() {
            self.i += 1;
            let op = match self.peek() {
                T::Op(o @ ("=" | "+=" | "-=")) => *o,
                _ => {
                    self.i = start;
                    return unsupported(format!("the statement starting `{n}` in a code block"));
                }
            };
            self.i += 1;
            let v = self.expr()?;
            let old = || self.vars.get(&n).copied();
            let new = match op {
                "=" => v,
                _ => {
                    let Some(o) = old() else {
                        return unsupported(format!("`{n} {op}` before `{n}` is set"));
                    };
                    if op == "+=" {
                        o.wrapping_add(v)
                    } else {
                        o.wrapping_sub(v)
                    }
                }
            };
            self.vars.insert(n, new);
            return self.end_statement();
        }
        unsupported(format!("{:?} in a code block", self.peek()))
    }

    fn expr(&mut self) -> Result<i64, CodeError> {
        let mut v = self.and()?;
        while self.eat_name("or") {
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<i64, CodeError> {
        let mut v = self.not()?;
        while self.eat_name("and") {
            let r = self.not()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<i64, CodeError> {
        if self.eat_name("not") {
            return Ok(i64::from(self.not()? == 0));
        }
        self.comparison()
    }
    /// `a < b <= c`: Python's chain, each pair compared.
    fn comparison(&mut self) -> Result<i64, CodeError> {
        let mut left = self.bitor()?;
        let mut all = true;
        let mut any = false;
        while let T::Op(op @ ("==" | "!=" | "<" | "<=" | ">" | ">=")) = *self.peek() {
            self.i += 1;
            any = true;
            let right = self.bitor()?;
            all &= match op {
                "==" => left == right,
                "!=" => left != right,
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                _ => left >= right,
            };
            left = right;
        }
        Ok(if any { i64::from(all) } else { left })
    }
    fn bitor(&mut self) -> Result<i64, CodeError> {
        let mut v = self.bitxor()?;
        while self.eat("|") {
            v |= self.bitxor()?;
        }
        Ok(v)
    }
    fn bitxor(&mut self) -> Result<i64, CodeError> {
        let mut v = self.bitand()?;
        while self.eat("^") {
            v ^= self.bitand()?;
        }
        Ok(v)
    }
    fn bitand(&mut self) -> Result<i64, CodeError> {
        let mut v = self.shift()?;
        while self.eat("&") {
            v &= self.shift()?;
        }
        Ok(v)
    }
    fn shift(&mut self) -> Result<i64, CodeError> {
        let mut v = self.sum()?;
        loop {
            if self.eat("<<") {
                v = v.wrapping_shl(self.sum()?.clamp(0, 63) as u32);
            } else if self.eat(">>") {
                v = v.wrapping_shr(self.sum()?.clamp(0, 63) as u32);
            } else {
                return Ok(v);
            }
        }
    }
    fn sum(&mut self) -> Result<i64, CodeError> {
        let mut v = self.term()?;
        loop {
            if self.eat("+") {
                v = v.wrapping_add(self.term()?);
            } else if self.eat("-") {
                v = v.wrapping_sub(self.term()?);
            } else {
                return Ok(v);
            }
        }
    }
    fn term(&mut self) -> Result<i64, CodeError> {
        let mut v = self.unary()?;
        loop {
            let op = match self.peek() {
                T::Op(o @ ("*" | "//" | "/" | "%")) => *o,
                _ => return Ok(v),
            };
            self.i += 1;
            let r = self.unary()?;
            v = match op {
                "*" => v.wrapping_mul(r),
                _ if r == 0 => return unsupported("division by zero in a code block"),
                // Python's `/` makes a float; an integer result is the common case.
                "/" if v % r != 0 => return unsupported("`/` with a fractional result"),
                "%" => v.rem_euclid(r),
                _ => v.div_euclid(r),
            };
        }
    }
    fn unary(&mut self) -> Result<i64, CodeError> {
        if self.eat("-") {
            return Ok(self.unary()?.wrapping_neg());
        }
        if self.eat("+") {
            return self.unary();
        }
        if self.eat("~") {
            return Ok(!self.unary()?);
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<i64, CodeError> {
        let t = self.peek().clone();
        self.i += 1;
        match t {
            T::Int(v) => Ok(v),
            T::Op("(") => {
                let v = self.expr()?;
                if !self.eat(")") {
                    return unsupported("a tuple or unbalanced `(` in a code block");
                }
                Ok(v)
            }
            T::Name(n) => {
                if matches!(self.peek(), T::Op("(" | "[" | ".")) {
                    return unsupported(format!("`{n}` called or indexed in a code block"));
                }
                if let Some(v) = self.vars.get(&n) {
                    return Ok(*v);
                }
                if n.starts_with("tcpi_") {
                    let v = (self.field)(&n).map_err(CodeError::Unsupported)?;
                    self.used.push((n, v));
                    return Ok(v);
                }
                match crate::tcp_info::constant(&n) {
                    Some(v) => Ok(v),
                    None => unsupported(format!("the name `{n}` in a code block")),
                }
            }
            other => unsupported(format!("{other:?} in a code block expression")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: &str) -> Result<i64, String> {
        match n {
            "tcpi_snd_cwnd" => Ok(10),
            "tcpi_rtt" => Ok(1000),
            "tcpi_options" => Ok(7),
            _ => Err(format!("{n} unknown")),
        }
    }

    fn go(src: &str) -> Result<(), CodeError> {
        run(src, &mut HashMap::new(), &field)
    }

    #[test]
    fn the_assertions_the_suites_write() {
        assert_eq!(go("assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd"), Ok(()));
        assert_eq!(
            go("assert 990 <= tcpi_rtt <= 1010, 'rtt=%d' % tcpi_rtt"),
            Ok(())
        );
        assert_eq!(
            go("assert (tcpi_options & TCPI_OPT_SACK) != 0, tcpi_options"),
            Ok(())
        );
        assert_eq!(
            go("print(tcpi_snd_cwnd); cwnd = 9; cwnd += 1; assert tcpi_snd_cwnd == cwnd"),
            Ok(())
        );
        assert_eq!(
            go("assert tcpi_snd_cwnd == 10, \\\n tcpi_snd_cwnd # a comment"),
            Ok(())
        );
    }

    #[test]
    fn a_false_assertion_fails_and_names_the_values() {
        let e = go("assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd").unwrap_err();
        assert_eq!(
            e,
            CodeError::Failed("code block assertion failed: tcpi_snd_cwnd = 10".into())
        );
        assert!(matches!(
            go("assert 1 < tcpi_rtt < 999"),
            Err(CodeError::Failed(_))
        ));
    }

    #[test]
    fn what_it_cannot_do_is_unsupported() {
        for src in [
            "assert tcpi_busy_time == 0",
            "import os",
            "if tcpi_snd_cwnd: pass",
            "assert len(x) == 1",
            "cwnd += 1",
        ] {
            assert!(matches!(go(src), Err(CodeError::Unsupported(_))), "{src}");
        }
    }

    #[test]
    fn variables_outlive_the_block() {
        let mut vars = HashMap::new();
        run("TCP_INFINITE_SSTHRESH = 0x7fffffff", &mut vars, &field).unwrap();
        run(
            "assert TCP_INFINITE_SSTHRESH == 2147483647",
            &mut vars,
            &field,
        )
        .unwrap();
    }
}
