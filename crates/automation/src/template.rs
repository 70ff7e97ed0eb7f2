//! `{{ expr }}` templates (seed 001): a hand-written parser and the evaluator.
//!
//! An expression is a dotted path: a root (`config`, `secret`, or a variable a
//! step's `output` named) followed by `.name`, `[0]` or `["any name"]` segments.
//! A string that is exactly one template keeps the value's JSON type; a template
//! inside a longer string interpolates (strings raw, other values as JSON text).
//! A missing path is `null` when whole and empty when interpolated.
//!
//! The parser must never panic on any input (a proptest holds it to that) and its
//! errors carry the character offset of the problem, never the text around it.
//! It does not evaluate `secret.<name>`: the runtime fetches those references first
//! and hands them in through [`Scope`].

use serde_json::Value;

/// One segment of a path after its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed `{{ … }}` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub root: String,
    pub segments: Vec<Segment>,
    /// Character offset of the `{{` in the source string.
    pub offset: usize,
}

impl Expr {
    /// For `secret.<name>[.<field>]`: the secret's name and optional field.
    pub fn secret(&self) -> Option<(&str, Option<&str>)> {
        if self.root != "secret" {
            return None;
        }
        let name = match self.segments.first() {
            Some(Segment::Key(k)) => k.as_str(),
            _ => return None,
        };
        let field = match self.segments.get(1) {
            Some(Segment::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        Some((name, field))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Expr(Expr),
}

/// A string with zero or more expressions in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// A template syntax error at a character offset of the source string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    /// Parses `text`. `{{` always opens an expression; a lone `}}` is literal text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let chars: Vec<char> = text.chars().collect();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '{' && chars.get(i + 1) == Some(&'{') {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                let (expr, next) = parse_expr(&chars, i)?;
                parts.push(Part::Expr(expr));
                i = next;
            } else {
                lit.push(chars[i]);
                i += 1;
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// True when the template is exactly one expression (keeps the value's type).
    pub fn whole(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// True when the string has no expression at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Lit(_) => None,
        })
    }

    /// The literal text (for templates without expressions).
    pub fn literal_text(&self) -> Option<String> {
        if !self.is_literal() {
            return None;
        }
        Some(
            self.parts
                .iter()
                .map(|p| match p {
                    Part::Lit(s) => s.as_str(),
                    Part::Expr(_) => "",
                })
                .collect(),
        )
    }

    /// Evaluates against `scope`.
    pub fn eval(&self, scope: &dyn Scope) -> Value {
        if let Some(e) = self.whole() {
            return scope.lookup(e).unwrap_or(Value::Null);
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e) => match scope.lookup(e) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        Value::String(out)
    }
}

/// What expressions are evaluated against.
pub trait Scope {
    fn lookup(&self, e: &Expr) -> Option<Value>;
}

/// Follows `segments` into `v`.
pub fn walk<'v>(mut v: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    for s in segments {
        v = match (s, v) {
            (Segment::Key(k), Value::Object(m)) => m.get(k)?,
            (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
            (Segment::Key(k), Value::Array(a)) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn err(offset: usize, message: impl Into<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '$'
}

fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

fn ident(chars: &[char], start: usize) -> Result<(String, usize), TemplateError> {
    let mut i = start;
    while i < chars.len() && is_ident(chars[i]) {
        i += 1;
    }
    if i == start {
        return Err(err(start, "expected a name"));
    }
    Ok((chars[start..i].iter().collect(), i))
}

/// Parses from the `{{` at `open`; answers the expression and the index after `}}`.
fn parse_expr(chars: &[char], open: usize) -> Result<(Expr, usize), TemplateError> {
    let mut i = skip_ws(chars, open + 2);
    if i >= chars.len() {
        return Err(err(
            open,
            "unterminated '{{': expected an expression and '}}'",
        ));
    }
    if chars[i] == '}' {
        return Err(err(i, "empty expression"));
    }
    let (root, next) = ident(chars, i)?;
    i = next;
    let mut segments = Vec::new();
    loop {
        match chars.get(i) {
            Some('.') => {
                let (k, next) = ident(chars, i + 1)?;
                segments.push(Segment::Key(k));
                i = next;
            }
            Some('[') => {
                let j = skip_ws(chars, i + 1);
                match chars.get(j) {
                    Some(q @ ('"' | '\'')) => {
                        let q = *q;
                        let mut k = j + 1;
                        let mut s = String::new();
                        loop {
                            match chars.get(k) {
                                None => return Err(err(j, "unterminated quoted name")),
                                Some('\\') if matches!(chars.get(k + 1), Some(c) if *c == q || *c == '\\') =>
                                {
                                    s.push(chars[k + 1]);
                                    k += 2;
                                }
                                Some(c) if *c == q => break,
                                Some(c) => {
                                    s.push(*c);
                                    k += 1;
                                }
                            }
                        }
                        segments.push(Segment::Key(s));
                        i = skip_ws(chars, k + 1);
                    }
                    Some(c) if c.is_ascii_digit() => {
                        let mut k = j;
                        let mut n: usize = 0;
                        while let Some(d) = chars.get(k).and_then(|c| c.to_digit(10)) {
                            n = n
                                .checked_mul(10)
                                .and_then(|n| n.checked_add(d as usize))
                                .ok_or_else(|| err(j, "index too large"))?;
                            k += 1;
                        }
                        segments.push(Segment::Index(n));
                        i = skip_ws(chars, k);
                    }
                    _ => return Err(err(j, "expected an index or a quoted name after '['")),
                }
                if chars.get(i) != Some(&']') {
                    return Err(err(i, "expected ']'"));
                }
                i += 1;
            }
            _ => break,
        }
    }
    i = skip_ws(chars, i);
    match (chars.get(i), chars.get(i + 1)) {
        (Some('}'), Some('}')) => Ok((
            Expr {
                root,
                segments,
                offset: open,
            },
            i + 2,
        )),
        (None, _) => Err(err(open, "unterminated '{{': expected '}}'")),
        _ => Err(err(
            i,
            "unexpected character in expression (expressions are paths like a.b[0]; expected '}}')",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Vars(Value);
    impl Scope for Vars {
        fn lookup(&self, e: &Expr) -> Option<Value> {
            let root = self.0.get(&e.root)?;
            walk(root, &e.segments).cloned()
        }
    }

    fn eval(t: &str, v: Value) -> Value {
        Template::parse(t).unwrap().eval(&Vars(v))
    }

    #[test]
    fn whole_template_keeps_type_and_interpolation_stringifies() {
        let v = json!({"a": {"n": 3, "s": "x", "o": {"k": 1}}, "l": [10, 20]});
        assert_eq!(eval("{{a.n}}", v.clone()), json!(3));
        assert_eq!(eval("{{ a.o }}", v.clone()), json!({"k": 1}));
        assert_eq!(eval("n={{a.n}} s={{a.s}}", v.clone()), json!("n=3 s=x"));
        assert_eq!(eval("o={{a.o}}", v.clone()), json!("o={\"k\":1}"));
        assert_eq!(eval("{{l[1]}}", v.clone()), json!(20));
        assert_eq!(eval("{{l.0}}", v.clone()), json!(10));
        assert_eq!(eval("{{a[\"s\"]}}", v.clone()), json!("x"));
        assert_eq!(eval("{{a.missing}}", v.clone()), Value::Null);
        assert_eq!(eval("[{{a.missing}}]", v.clone()), json!("[]"));
        assert_eq!(eval("plain }} text", v), json!("plain }} text"));
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(Template::parse("ab{{").unwrap_err().offset, 2);
        assert_eq!(Template::parse("{{}}").unwrap_err().offset, 2);
        assert_eq!(Template::parse("{{a b}}").unwrap_err().offset, 4);
        assert_eq!(Template::parse("{{a.}}").unwrap_err().offset, 4);
        assert!(Template::parse("{{a[x]}}").is_err());
        assert!(Template::parse("{{a[\"x}}").is_err());
    }

    #[test]
    fn secret_paths() {
        let t = Template::parse("{{secret.clientSecret}}").unwrap();
        assert_eq!(t.whole().unwrap().secret(), Some(("clientSecret", None)));
        let t = Template::parse("{{secret['my key'].password}}").unwrap();
        assert_eq!(
            t.whole().unwrap().secret(),
            Some(("my key", Some("password")))
        );
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in ".*") {
            let _ = Template::parse(&s);
        }

        #[test]
        fn parser_never_panics_on_template_like_input(s in "[{}\\[\\]\\.'\"a-z0-9 \\\\]{0,40}") {
            if let Ok(t) = Template::parse(&s) {
                let _ = t.eval(&Vars(json!({"a": {"b": [1]}})));
            }
        }
    }
}
