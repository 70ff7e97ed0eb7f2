//! Lexer (`logos`) and hand-written Pratt parser for seed 000's language.

use super::ScriptError;
use crate::code::Code;
use lockbox_core::ErrorCode;
use logos::Logos;

/// Longest source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Deepest nesting of expressions and `if` blocks.
pub const MAX_DEPTH: usize = 64;

#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
enum Tok {
    #[token("var")]
    Var,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("end")]
    End,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("null")]
    Null,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[regex("[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_owned())]
    Ident(String),
    #[regex(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", |lex| lex.slice().parse::<f64>().ok())]
    Num(f64),
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| unescape(lex.slice()))]
    #[regex(r#"'([^'\\\n]|\\[^\n])*'"#, |lex| unescape(lex.slice()))]
    Str(String),
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<=")]
    Le,
    #[token(">=")]
    Ge,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
}

fn unescape(quoted: &str) -> Option<String> {
    let inner = &quoted[1..quoted.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            _ => return None,
        }
    }
    Some(out)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("name '{s}'"),
        Tok::Num(_) => "a number".into(),
        Tok::Str(_) => "a string".into(),
        other => {
            let s = match other {
                Tok::Var => "var",
                Tok::If => "if",
                Tok::Then => "then",
                Tok::Else => "else",
                Tok::End => "end",
                Tok::And => "and",
                Tok::Or => "or",
                Tok::Not => "not",
                Tok::Null => "null",
                Tok::True => "true",
                Tok::False => "false",
                Tok::EqEq => "==",
                Tok::NotEq => "!=",
                Tok::Le => "<=",
                Tok::Ge => ">=",
                Tok::Lt => "<",
                Tok::Gt => ">",
                Tok::Assign => "=",
                Tok::Plus => "+",
                Tok::Minus => "-",
                Tok::LParen => "(",
                Tok::RParen => ")",
                Tok::LBrace => "{",
                Tok::RBrace => "}",
                Tok::LBracket => "[",
                Tok::RBracket => "]",
                Tok::Comma => ",",
                Tok::Colon => ":",
                Tok::Dot => ".",
                _ => "?",
            };
            format!("'{s}'")
        }
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// The builtins, with how many arguments each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    SetSecret,
    GetSecret,
    InvokeRestMethod,
    Log,
    CancelAction,
}

impl Builtin {
    fn lookup(name: &str) -> Option<Builtin> {
        Some(match name {
            "SetSecret" => Builtin::SetSecret,
            "GetSecret" => Builtin::GetSecret,
            "InvokeRestMethod" => Builtin::InvokeRestMethod,
            "Log" => Builtin::Log,
            "CancelAction" => Builtin::CancelAction,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::SetSecret => "SetSecret",
            Builtin::GetSecret => "GetSecret",
            Builtin::InvokeRestMethod => "InvokeRestMethod",
            Builtin::Log => "Log",
            Builtin::CancelAction => "CancelAction",
        }
    }

    /// Inclusive bounds on the argument count.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Builtin::SetSecret => (2, 3),
            Builtin::GetSecret => (1, 1),
            Builtin::InvokeRestMethod => (1, 4),
            Builtin::Log => (2, 2),
            Builtin::CancelAction => (0, 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Add,
    Sub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Var(String),
    Object(Vec<(String, Expr)>),
    Array(Vec<Expr>),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Builtin, Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Var {
        name: String,
        init: Option<Expr>,
        pos: Pos,
    },
    Assign {
        name: String,
        value: Expr,
        pos: Pos,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
        pos: Pos,
    },
    Expr(Expr),
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub body: Vec<Stmt>,
}

/// Parses a script. Errors carry the line and column of the offending token.
pub fn parse(source: &str) -> Result<Program, ScriptError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(ScriptError::new(
            ErrorCode::TooLarge,
            format!("the script is longer than {MAX_SOURCE_BYTES} bytes"),
            Pos { line: 1, column: 1 },
        ));
    }
    let lines = LineIndex::new(source);
    let mut toks = Vec::new();
    let mut lex = Tok::lexer(source);
    while let Some(t) = lex.next() {
        let span = lex.span();
        let pos = lines.pos(source, span.start);
        match t {
            Ok(t) => toks.push((t, pos)),
            Err(()) => {
                let slice = lex.slice();
                let msg = if slice.starts_with('"') || slice.starts_with('\'') {
                    "unterminated string or bad escape".to_owned()
                } else if slice.starts_with(|c: char| c.is_ascii_digit()) {
                    "malformed number".to_owned()
                } else {
                    let c = slice.chars().next().unwrap_or('?');
                    format!("unexpected character {c:?}")
                };
                return Err(ScriptError::new(Code::Syntax, msg, pos));
            }
        }
    }
    let end = lines.pos(source, source.len());
    let mut p = Parser {
        toks,
        i: 0,
        end,
        depth: 0,
    };
    let body = p.block(&[])?;
    if let Some((t, pos)) = p.toks.get(p.i) {
        return Err(ScriptError::new(
            Code::Syntax,
            format!("unexpected {}", describe(t)),
            *pos,
        ));
    }
    Ok(Program { body })
}

struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(src: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn pos(&self, src: &str, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = src
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Pos {
            line: line as u32,
            column: column as u32,
        }
    }
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    end: Pos,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).map(|(_, p)| *p).unwrap_or(self.end)
    }

    fn next(&mut self) -> Option<(Tok, Pos)> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&self, wanted: &str) -> ScriptError {
        match self.toks.get(self.i) {
            Some((t, pos)) => ScriptError::new(
                Code::Syntax,
                format!("expected {wanted}, found {}", describe(t)),
                *pos,
            ),
            None => ScriptError::new(
                Code::Syntax,
                format!("expected {wanted}, found the end of the script"),
                self.end,
            ),
        }
    }

    fn expect(&mut self, t: &Tok, wanted: &str) -> Result<Pos, ScriptError> {
        let pos = self.pos();
        if self.eat(t) {
            Ok(pos)
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn enter(&mut self) -> Result<(), ScriptError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScriptError::new(
                Code::TooDeep,
                format!("nesting deeper than {MAX_DEPTH} levels"),
                self.pos(),
            ));
        }
        Ok(())
    }

    /// Statements until one of `stop` (not consumed) or the end.
    fn block(&mut self, stop: &[Tok]) -> Result<Vec<Stmt>, ScriptError> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if stop.contains(t) {
                break;
            }
            out.push(self.stmt()?);
        }
        Ok(out)
    }

    fn ident(&mut self, wanted: &str) -> Result<String, ScriptError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(wanted)),
        }
    }

    fn stmt(&mut self) -> Result<Stmt, ScriptError> {
        let pos = self.pos();
        match self.peek() {
            Some(Tok::Var) => {
                self.i += 1;
                let name = self.ident("a variable name after 'var'")?;
                check_not_reserved(&name, pos)?;
                let init = if self.eat(&Tok::Assign) {
                    Some(self.expr(0)?)
                } else {
                    None
                };
                Ok(Stmt::Var { name, init, pos })
            }
            Some(Tok::If) => {
                self.i += 1;
                self.enter()?;
                let cond = self.expr(0)?;
                self.expect(&Tok::Then, "'then'")?;
                let then = self.block(&[Tok::Else, Tok::End])?;
                let els = if self.eat(&Tok::Else) {
                    self.block(&[Tok::End])?
                } else {
                    Vec::new()
                };
                self.expect(&Tok::End, "'end' closing the 'if'")?;
                self.depth -= 1;
                Ok(Stmt::If {
                    cond,
                    then,
                    els,
                    pos,
                })
            }
            Some(Tok::Ident(_))
                if self.toks.get(self.i + 1).map(|t| &t.0) == Some(&Tok::Assign) =>
            {
                let name = self.ident("a name")?;
                check_not_reserved(&name, pos)?;
                self.i += 1;
                let value = self.expr(0)?;
                Ok(Stmt::Assign { name, value, pos })
            }
            Some(t @ (Tok::End | Tok::Else | Tok::Then)) => Err(ScriptError::new(
                Code::Syntax,
                format!("unexpected {}", describe(t)),
                pos,
            )),
            Some(_) => {
                let e = self.expr(0)?;
                if !matches!(e.kind, ExprKind::Call(..)) {
                    return Err(ScriptError::new(
                        Code::Syntax,
                        "expected a statement (var, if, an assignment or a call)",
                        pos,
                    ));
                }
                Ok(Stmt::Expr(e))
            }
            None => Err(self.unexpected("a statement")),
        }
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr, ScriptError> {
        self.enter()?;
        let mut lhs = self.prefix()?;
        loop {
            let (op, bp) = match self.peek() {
                Some(Tok::Or) => (BinOp::Or, 1),
                Some(Tok::And) => (BinOp::And, 2),
                Some(Tok::EqEq) => (BinOp::Eq, 4),
                Some(Tok::NotEq) => (BinOp::Ne, 4),
                Some(Tok::Lt) => (BinOp::Lt, 4),
                Some(Tok::Gt) => (BinOp::Gt, 4),
                Some(Tok::Le) => (BinOp::Le, 4),
                Some(Tok::Ge) => (BinOp::Ge, 4),
                Some(Tok::Plus) => (BinOp::Add, 5),
                Some(Tok::Minus) => (BinOp::Sub, 5),
                _ => break,
            };
            if bp <= min_bp {
                break;
            }
            let pos = self.pos();
            self.i += 1;
            // Comparisons do not chain: `a == b == c` is an error.
            let rhs = self.expr(if bp == 4 { 4 } else { bp })?;
            if bp == 4
                && matches!(
                    self.peek(),
                    Some(Tok::EqEq | Tok::NotEq | Tok::Lt | Tok::Gt | Tok::Le | Tok::Ge)
                )
            {
                return Err(ScriptError::new(
                    Code::Syntax,
                    "comparisons do not chain; combine them with 'and'",
                    self.pos(),
                ));
            }
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos,
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, ScriptError> {
        let pos = self.pos();
        let Some((t, _)) = self.next() else {
            return Err(self.unexpected("an expression"));
        };
        let kind = match t {
            Tok::Null => ExprKind::Null,
            Tok::True => ExprKind::Bool(true),
            Tok::False => ExprKind::Bool(false),
            Tok::Num(n) => ExprKind::Num(n),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Not => {
                let e = self.expr(3)?;
                ExprKind::Unary(UnOp::Not, Box::new(e))
            }
            Tok::Minus => {
                let e = self.expr(6)?;
                ExprKind::Unary(UnOp::Neg, Box::new(e))
            }
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect(&Tok::RParen, "')'")?;
                return self.postfix(e);
            }
            Tok::LBrace => {
                let mut fields: Vec<(String, Expr)> = Vec::new();
                loop {
                    if self.eat(&Tok::RBrace) {
                        break;
                    }
                    let kpos = self.pos();
                    let key = match self.next() {
                        Some((Tok::Str(s), _)) | Some((Tok::Ident(s), _)) => s,
                        _ => {
                            self.i = self.i.saturating_sub(1);
                            return Err(self.unexpected("a key (a string) or '}'"));
                        }
                    };
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(ScriptError::new(
                            Code::Syntax,
                            format!("duplicate key {key:?} in an object"),
                            kpos,
                        ));
                    }
                    self.expect(&Tok::Colon, "':' after the key")?;
                    let v = self.expr(0)?;
                    fields.push((key, v));
                    if !self.eat(&Tok::Comma) {
                        self.expect(&Tok::RBrace, "',' or '}'")?;
                        break;
                    }
                }
                ExprKind::Object(fields)
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                loop {
                    if self.eat(&Tok::RBracket) {
                        break;
                    }
                    items.push(self.expr(0)?);
                    if !self.eat(&Tok::Comma) {
                        self.expect(&Tok::RBracket, "',' or ']'")?;
                        break;
                    }
                }
                ExprKind::Array(items)
            }
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.i += 1;
                    let Some(b) = Builtin::lookup(&name) else {
                        return Err(ScriptError::new(
                            Code::UnknownFunction,
                            format!(
                                "unknown function '{name}' (the builtins are SetSecret, \
                                 GetSecret, InvokeRestMethod, Log and CancelAction)"
                            ),
                            pos,
                        ));
                    };
                    let mut args = Vec::new();
                    loop {
                        if self.eat(&Tok::RParen) {
                            break;
                        }
                        args.push(self.expr(0)?);
                        if !self.eat(&Tok::Comma) {
                            self.expect(&Tok::RParen, "',' or ')'")?;
                            break;
                        }
                    }
                    let (lo, hi) = b.arity();
                    if args.len() < lo || args.len() > hi {
                        let want = if lo == hi {
                            format!("{lo}")
                        } else {
                            format!("{lo} to {hi}")
                        };
                        return Err(ScriptError::new(
                            Code::Arity,
                            format!("{} takes {want} arguments, got {}", b.name(), args.len()),
                            pos,
                        ));
                    }
                    ExprKind::Call(b, args)
                } else {
                    ExprKind::Var(name)
                }
            }
            other => {
                self.i -= 1;
                let _ = other;
                return Err(self.unexpected("an expression"));
            }
        };
        self.postfix(Expr { kind, pos })
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ScriptError> {
        loop {
            let pos = self.pos();
            if self.eat(&Tok::Dot) {
                let name = match self.peek() {
                    Some(Tok::Ident(s)) => s.clone(),
                    Some(t) if keyword_text(t).is_some() => {
                        keyword_text(t).unwrap_or_default().to_owned()
                    }
                    _ => return Err(self.unexpected("a member name after '.'")),
                };
                self.i += 1;
                e = Expr {
                    kind: ExprKind::Member(Box::new(e), name),
                    pos,
                };
            } else if self.eat(&Tok::LBracket) {
                self.enter()?;
                let idx = self.expr(0)?;
                self.expect(&Tok::RBracket, "']'")?;
                self.depth -= 1;
                e = Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(idx)),
                    pos,
                };
            } else {
                return Ok(e);
            }
        }
    }
}

fn keyword_text(t: &Tok) -> Option<&'static str> {
    Some(match t {
        Tok::Var => "var",
        Tok::If => "if",
        Tok::Then => "then",
        Tok::Else => "else",
        Tok::End => "end",
        Tok::And => "and",
        Tok::Or => "or",
        Tok::Not => "not",
        Tok::Null => "null",
        Tok::True => "true",
        Tok::False => "false",
        _ => return None,
    })
}

fn check_not_reserved(name: &str, pos: Pos) -> Result<(), ScriptError> {
    if name == "Data" || Builtin::lookup(name).is_some() {
        return Err(ScriptError::new(
            Code::Syntax,
            format!("'{name}' is reserved and cannot be assigned"),
            pos,
        ));
    }
    Ok(())
}
