//! The arithmetic expressions of HyperSpy's functional axes (SymPy text such as
//! `a / (x + 1) + b`): numbers, named variables, `+ - * /`, `**` (and `^`), parentheses,
//! and the functions `sqrt exp log ln sin cos tan asin acos atan sinh cosh tanh abs Abs`
//! with the constants `pi` and `E` (unless a parameter of that name is given). Anything
//! else (SymPy's substitutions `expr; a = ...`, other functions) is an error naming it.

use std::fmt;

/// Longest expression accepted.
const MAX_LEN: usize = 4096;
/// Deepest nesting of sub-expressions (bounds the recursion on hostile input).
const MAX_DEPTH: usize = 64;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// A variable or parameter.
    Var(String),
    /// `-e`.
    Neg(Box<Expr>),
    /// A binary operation: one of `+ - * / ^`.
    Bin(char, Box<Expr>, Box<Expr>),
    /// A function of one argument.
    Call(String, Box<Expr>),
}

/// Why an expression cannot be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const FUNCTIONS: &[&str] = &[
    "sqrt", "exp", "log", "ln", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
    "tanh", "abs", "Abs",
];

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

/// Parse `text`.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    if text.len() > MAX_LEN {
        return Err(ExprError(format!(
            "an expression of at most {MAX_LEN} bytes"
        )));
    }
    let mut p = Parser {
        text: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let e = p.sum()?;
    p.skip_space();
    match p.peek() {
        None => Ok(e),
        Some(c) => Err(ExprError(format!(
            "unexpected {:?} at byte {} of {text:?}",
            c as char, p.at
        ))),
    }
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.text[self.at..].starts_with(token.as_bytes()) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError(format!(
                "an expression nested at most {MAX_DEPTH} deep"
            )));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        self.nested(|p| {
            let mut e = p.product()?;
            loop {
                let op = if p.eat("+") {
                    '+'
                } else if p.eat("-") {
                    '-'
                } else {
                    return Ok(e);
                };
                e = Expr::Bin(op, Box::new(e), Box::new(p.product()?));
            }
        })
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.unary()?;
        loop {
            self.skip_space();
            let op = if self.text[self.at..].starts_with(b"**") {
                return Ok(e);
            } else if self.eat("*") {
                '*'
            } else if self.eat("/") {
                '/'
            } else {
                return Ok(e);
            };
            e = Expr::Bin(op, Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.nested(|p| {
            if p.eat("-") {
                Ok(Expr::Neg(Box::new(p.unary()?)))
            } else if p.eat("+") {
                p.unary()
            } else {
                let base = p.atom()?;
                if p.eat("**") || p.eat("^") {
                    Ok(Expr::Bin('^', Box::new(base), Box::new(p.unary()?)))
                } else {
                    Ok(base)
                }
            }
        })
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        self.skip_space();
        let start = self.at;
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let e = self.sum()?;
                if !self.eat(")") {
                    return Err(ExprError(format!(
                        "a closing parenthesis at byte {}",
                        self.at
                    )));
                }
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
                    self.at += 1;
                }
                if matches!(self.peek(), Some(b'e' | b'E')) {
                    let sign = usize::from(matches!(self.text.get(self.at + 1), Some(b'+' | b'-')));
                    if self
                        .text
                        .get(self.at + 1 + sign)
                        .is_some_and(u8::is_ascii_digit)
                    {
                        self.at += 1 + sign;
                        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            self.at += 1;
                        }
                    }
                }
                let s = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
                s.parse()
                    .map(Expr::Num)
                    .map_err(|_| ExprError(format!("a number, found {s:?}")))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.at += 1;
                }
                let name = std::str::from_utf8(&self.text[start..self.at])
                    .unwrap_or("")
                    .to_string();
                if self.eat("(") {
                    if !FUNCTIONS.contains(&name.as_str()) {
                        return Err(ExprError(format!("unsupported function {name}")));
                    }
                    let arg = self.sum()?;
                    if !self.eat(")") {
                        return Err(ExprError(format!("{name}( closed by a parenthesis")));
                    }
                    Ok(Expr::Call(name, Box::new(arg)))
                } else {
                    Ok(Expr::Var(name))
                }
            }
            Some(c) => Err(ExprError(format!(
                "unexpected {:?} at byte {}",
                c as char, self.at
            ))),
            None => Err(ExprError("an operand, found the end".into())),
        }
    }
}

impl Expr {
    /// The value with variables looked up in `vars` (then the constants `pi` and `E`).
    pub fn eval(&self, vars: &dyn Fn(&str) -> Option<f64>) -> Result<f64, ExprError> {
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Var(name) => match (vars(name), name.as_str()) {
                (Some(v), _) => v,
                (None, "pi") => std::f64::consts::PI,
                (None, "E") => std::f64::consts::E,
                _ => return Err(ExprError(format!("no value for {name}"))),
            },
            Expr::Neg(e) => -e.eval(vars)?,
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(vars)?, b.eval(vars)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' => a / b,
                    _ => a.powf(b),
                }
            }
            Expr::Call(f, e) => {
                let v = e.eval(vars)?;
                match f.as_str() {
                    "sqrt" => v.sqrt(),
                    "exp" => v.exp(),
                    "log" | "ln" => v.ln(),
                    "sin" => v.sin(),
                    "cos" => v.cos(),
                    "tan" => v.tan(),
                    "asin" => v.asin(),
                    "acos" => v.acos(),
                    "atan" => v.atan(),
                    "sinh" => v.sinh(),
                    "cosh" => v.cosh(),
                    "tanh" => v.tanh(),
                    _ => v.abs(),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, x: f64) -> Result<f64, ExprError> {
        parse(text)?.eval(&|n| match n {
            "x" => Some(x),
            "a" => Some(2.0),
            _ => None,
        })
    }

    #[test]
    fn precedence_follows_sympy() {
        assert_eq!(eval("a / (x + 1) + 3", 1.0), Ok(4.0));
        assert_eq!(eval("-x**2", 3.0), Ok(-9.0));
        assert_eq!(eval("2**3**2", 0.0), Ok(512.0));
        assert_eq!(eval("x**-1 * 4", 2.0), Ok(2.0));
        assert_eq!(eval("a*x^2 - 1.5e1", 2.0), Ok(-7.0));
        assert_eq!(eval("sqrt(x) + exp(0) + pi - pi", 4.0), Ok(3.0));
    }

    #[test]
    fn bad_expressions_are_errors() {
        for bad in ["", "x +", "(x", "foo(x)", "x; a = 1", "b * x", "x $ 2"] {
            assert!(eval(bad, 1.0).is_err(), "{bad}");
        }
        let deep = format!("{}x{}", "(".repeat(1000), ")".repeat(1000));
        assert!(parse(&deep).is_err());
    }
}
