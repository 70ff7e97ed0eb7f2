//! A YAML document as a small tree whose every node knows its line and column.
//!
//! `serde-saphyr` parses the text (it is built not to panic on malformed input) and
//! its `Spanned` wrapper gives each node's position; [`crate::flow`] then walks this
//! tree, so an unknown instruction or a missing field is reported at the node that
//! holds it. This module never echoes the document's text in an error: a flow may
//! hold a literal value (seed 001's `secrets.set` example does).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Where a node starts: 1-based line and column (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A YAML node with its position.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys are nodes too (conditions use templates as keys).
    Map(Vec<(Node, Node)>),
}

impl Kind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// A key's text: strings as they are, scalars as YAML would print them.
    pub fn key_text(&self) -> String {
        match &self.kind {
            Kind::Str(s) => s.clone(),
            Kind::Null => "null".into(),
            Kind::Bool(b) => b.to_string(),
            Kind::Number(n) => n.to_string(),
            Kind::Seq(_) | Kind::Map(_) => String::new(),
        }
    }
}

/// Parse error: message (never the document's text) and position.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub message: String,
    pub pos: Pos,
}

/// Parses one YAML document into a positioned tree.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_nodes: 100_000,
        },
    };
    match serde_saphyr::from_str_with_options::<Spanned<Kind>>(text, options) {
        Ok(s) => Ok(from_spanned(s)),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line() as u32,
                    column: l.column() as u32,
                })
                .unwrap_or_default();
            Err(YamlError {
                message: sanitize(&e.without_snippet().to_string()),
                pos,
            })
        }
    }
}

/// Keeps the first line of the parser's message and drops anything quoted, which
/// could be a piece of the document.
fn sanitize(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or("malformed YAML").trim();
    // The position is reported separately.
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let mut out = String::with_capacity(first.len());
    let mut quoted: Option<char> = None;
    for c in first.chars() {
        match quoted {
            Some(q) if c == q => {
                quoted = None;
                out.push('…');
                out.push(c);
            }
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quoted = Some(c);
                out.push(c);
            }
            None => out.push(c),
        }
    }
    if out.is_empty() {
        "malformed YAML".into()
    } else {
        out
    }
}

fn from_spanned(s: Spanned<Kind>) -> Node {
    Node {
        pos: Pos {
            line: s.referenced.line() as u32,
            column: s.referenced.column() as u32,
        },
        kind: s.value,
    }
}

// `Kind` deserializes from any YAML node; children are `Spanned` so each keeps
// its own position.
impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML node")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Kind::Number(i.into())),
            Err(_) => Err(E::custom("integer out of range")),
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        match u64::try_from(v) {
            Ok(i) => Ok(Kind::Number(i.into())),
            Err(_) => Err(E::custom("integer out of range")),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        serde_json::Number::from_f64(v)
            .map(Kind::Number)
            .ok_or_else(|| E::custom("non-finite numbers are not supported"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Kind, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Kind::Str(s.to_owned())),
            Err(_) => Err(E::custom("binary values are not supported")),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Kind>>()? {
            items.push(from_spanned(item));
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Kind>>()? {
            let v = map.next_value::<Spanned<Kind>>()?;
            entries.push((from_spanned(k), from_spanned(v)));
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_nodes() {
        let n = parse("do:\n  - run:\n      module: secrets\n").unwrap();
        let Kind::Map(top) = &n.kind else { panic!() };
        let (k, v) = &top[0];
        assert_eq!(k.pos, Pos { line: 1, column: 1 });
        let Kind::Seq(items) = &v.kind else { panic!() };
        assert_eq!(items[0].pos.line, 2);
        let Kind::Map(run) = &items[0].kind else {
            panic!()
        };
        let Kind::Map(inner) = &run[0].1.kind else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 3, column: 7 });
        assert!(matches!(&inner[0].1.kind, Kind::Str(s) if s == "secrets"));
    }

    #[test]
    fn malformed_yaml_has_a_position() {
        let e = parse("do:\n  - run: [\n").unwrap_err();
        assert!(e.pos.line >= 2, "{e:?}");
    }
}
