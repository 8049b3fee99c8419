//! rsciio's functional axis expressions (`a * x ** 2 + b`, ...) evaluated at a position, to
//! compare the values of emio's non-uniform axes with the recorded expression.

/// Evaluate a functional axis expression of rsciio (sums and differences of products of
/// numbers and names, `**` powers, parentheses) at `x` with the recorded parameters.
pub(crate) fn eval_expression(
    expr: &str,
    vars: &dyn Fn(&str) -> Option<f64>,
) -> Result<f64, String> {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
        vars: &'a dyn Fn(&str) -> Option<f64>,
    }
    impl P<'_> {
        fn skip(&mut self) {
            while self.s.get(self.i) == Some(&b' ') {
                self.i += 1;
            }
        }
        fn sum(&mut self) -> Result<f64, String> {
            let mut v = self.product()?;
            loop {
                self.skip();
                match self.s.get(self.i) {
                    Some(b'+') => {
                        self.i += 1;
                        v += self.product()?;
                    }
                    Some(b'-') => {
                        self.i += 1;
                        v -= self.product()?;
                    }
                    _ => return Ok(v),
                }
            }
        }
        fn product(&mut self) -> Result<f64, String> {
            let mut v = self.power()?;
            loop {
                self.skip();
                match (self.s.get(self.i), self.s.get(self.i + 1)) {
                    (Some(b'*'), Some(b'*')) => return Ok(v),
                    (Some(b'*'), _) => {
                        self.i += 1;
                        v *= self.power()?;
                    }
                    (Some(b'/'), _) => {
                        self.i += 1;
                        v /= self.power()?;
                    }
                    _ => return Ok(v),
                }
            }
        }
        fn power(&mut self) -> Result<f64, String> {
            let base = self.atom()?;
            self.skip();
            if self.s[self.i..].starts_with(b"**") {
                self.i += 2;
                return Ok(base.powf(self.power()?));
            }
            Ok(base)
        }
        fn atom(&mut self) -> Result<f64, String> {
            self.skip();
            let start = self.i;
            match self.s.get(self.i) {
                Some(b'(') => {
                    self.i += 1;
                    let v = self.sum()?;
                    self.skip();
                    if self.s.get(self.i) != Some(&b')') {
                        return Err("missing )".into());
                    }
                    self.i += 1;
                    Ok(v)
                }
                Some(b'-') => {
                    self.i += 1;
                    Ok(-self.power()?)
                }
                Some(c) if c.is_ascii_digit() || *c == b'.' => {
                    while self
                        .s
                        .get(self.i)
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E'))
                    {
                        self.i += 1;
                    }
                    let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                    text.parse().map_err(|_| format!("bad number {text}"))
                }
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                    while self
                        .s
                        .get(self.i)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    {
                        self.i += 1;
                    }
                    let name = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                    (self.vars)(name).ok_or_else(|| format!("unknown name {name}"))
                }
                _ => Err(format!("unexpected input at {}", self.i)),
            }
        }
    }
    let mut p = P {
        s: expr.as_bytes(),
        i: 0,
        vars,
    };
    let v = p.sum()?;
    p.skip();
    if p.i != p.s.len() {
        return Err(format!("trailing input at {}", p.i));
    }
    Ok(v)
}
