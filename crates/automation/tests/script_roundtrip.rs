//! Pretty-printing a script's syntax tree and parsing the text again gives the
//! same tree (positions aside), and printing that gives the same text.

use lockbox_automation::script::{parse, BinOp, Builtin, Expr, ExprKind, Pos, Program, Stmt, UnOp};
use proptest::prelude::*;

fn print_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Null => "null".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Num(n) => format!("{n}"),
        ExprKind::Str(s) => format!("\"{s}\""),
        ExprKind::Var(v) => v.clone(),
        ExprKind::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {}", print_expr(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        ExprKind::Array(items) => format!(
            "[{}]",
            items.iter().map(print_expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Member(base, name) => format!("{}.{name}", print_expr(base)),
        ExprKind::Index(base, idx) => format!("{}[{}]", print_expr(base), print_expr(idx)),
        ExprKind::Call(b, args) => format!(
            "{}({})",
            b.name(),
            args.iter().map(print_expr).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Unary(UnOp::Not, x) => format!("(not {})", print_expr(x)),
        ExprKind::Unary(UnOp::Neg, x) => format!("(-{})", print_expr(x)),
        ExprKind::Binary(op, a, b) => {
            let op = match op {
                BinOp::And => "and",
                BinOp::Or => "or",
                BinOp::Eq => "==",
                BinOp::Ne => "!=",
                BinOp::Lt => "<",
                BinOp::Gt => ">",
                BinOp::Le => "<=",
                BinOp::Ge => ">=",
                BinOp::Add => "+",
                BinOp::Sub => "-",
            };
            format!("({} {op} {})", print_expr(a), print_expr(b))
        }
    }
}

fn print_stmts(stmts: &[Stmt], out: &mut String) {
    for s in stmts {
        match s {
            Stmt::Var {
                name, init: None, ..
            } => out.push_str(&format!("var {name}\n")),
            Stmt::Var {
                name,
                init: Some(e),
                ..
            } => out.push_str(&format!("var {name} = {}\n", print_expr(e))),
            Stmt::Assign { name, value, .. } => {
                out.push_str(&format!("{name} = {}\n", print_expr(value)))
            }
            Stmt::If {
                cond, then, els, ..
            } => {
                out.push_str(&format!("if {} then\n", print_expr(cond)));
                print_stmts(then, out);
                if !els.is_empty() {
                    out.push_str("else\n");
                    print_stmts(els, out);
                }
                out.push_str("end\n");
            }
            Stmt::Expr(e) => out.push_str(&format!("{}\n", print_expr(e))),
        }
    }
}

fn print(p: &Program) -> String {
    let mut out = String::new();
    print_stmts(&p.body, &mut out);
    out
}

const NOWHERE: Pos = Pos { line: 0, column: 0 };

fn strip_expr(e: &Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::Object(f) => {
            ExprKind::Object(f.iter().map(|(k, v)| (k.clone(), strip_expr(v))).collect())
        }
        ExprKind::Array(i) => ExprKind::Array(i.iter().map(strip_expr).collect()),
        ExprKind::Member(b, n) => ExprKind::Member(Box::new(strip_expr(b)), n.clone()),
        ExprKind::Index(b, i) => ExprKind::Index(Box::new(strip_expr(b)), Box::new(strip_expr(i))),
        ExprKind::Call(b, a) => ExprKind::Call(*b, a.iter().map(strip_expr).collect()),
        ExprKind::Unary(o, x) => ExprKind::Unary(*o, Box::new(strip_expr(x))),
        ExprKind::Binary(o, a, b) => {
            ExprKind::Binary(*o, Box::new(strip_expr(a)), Box::new(strip_expr(b)))
        }
        other => other.clone(),
    };
    Expr { kind, pos: NOWHERE }
}

fn strip(stmts: &[Stmt]) -> Vec<Stmt> {
    stmts
        .iter()
        .map(|s| match s {
            Stmt::Var { name, init, .. } => Stmt::Var {
                name: name.clone(),
                init: init.as_ref().map(strip_expr),
                pos: NOWHERE,
            },
            Stmt::Assign { name, value, .. } => Stmt::Assign {
                name: name.clone(),
                value: strip_expr(value),
                pos: NOWHERE,
            },
            Stmt::If {
                cond, then, els, ..
            } => Stmt::If {
                cond: strip_expr(cond),
                then: strip(then),
                els: strip(els),
                pos: NOWHERE,
            },
            Stmt::Expr(e) => Stmt::Expr(strip_expr(e)),
        })
        .collect()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,5}".prop_map(|s| format!("v_{s}"))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(ExprKind::Null),
        any::<bool>().prop_map(ExprKind::Bool),
        (0u32..100_000).prop_map(|n| ExprKind::Num(f64::from(n))),
        "[a-z0-9 ]{0,8}".prop_map(ExprKind::Str),
        name().prop_map(ExprKind::Var),
    ]
    .prop_map(|kind| Expr { kind, pos: NOWHERE })
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        let e = |kind| Expr { kind, pos: NOWHERE };
        prop_oneof![
            // The parser refuses duplicate keys, so the generator makes them unique.
            prop::collection::btree_map("[a-z]{1,6}", inner.clone(), 0..3)
                .prop_map(move |f| e(ExprKind::Object(f.into_iter().collect()))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(move |i| e(ExprKind::Array(i))),
            (name(), name())
                .prop_map(move |(b, m)| e(ExprKind::Member(Box::new(e(ExprKind::Var(b))), m))),
            inner
                .clone()
                .prop_map(move |x| e(ExprKind::Call(Builtin::GetSecret, vec![x]))),
            (inner.clone(), inner.clone())
                .prop_map(move |(a, b)| e(ExprKind::Call(Builtin::Log, vec![a, b]))),
            inner
                .clone()
                .prop_map(move |x| e(ExprKind::Unary(UnOp::Not, Box::new(x)))),
            (
                inner.clone(),
                inner.clone(),
                prop_oneof![
                    Just(BinOp::And),
                    Just(BinOp::Or),
                    Just(BinOp::Eq),
                    Just(BinOp::Ne),
                    Just(BinOp::Lt),
                    Just(BinOp::Gt),
                    Just(BinOp::Le),
                    Just(BinOp::Ge),
                    Just(BinOp::Add),
                    Just(BinOp::Sub)
                ]
            )
                .prop_map(move |(a, b, op)| e(ExprKind::Binary(
                    op,
                    Box::new(a),
                    Box::new(b)
                ))),
        ]
    })
}

fn stmt() -> impl Strategy<Value = Stmt> {
    let simple = prop_oneof![
        (name(), prop::option::of(expr())).prop_map(|(name, init)| Stmt::Var {
            name,
            init,
            pos: NOWHERE
        }),
        (name(), expr()).prop_map(|(name, value)| Stmt::Assign {
            name,
            value,
            pos: NOWHERE
        }),
        (expr(), expr()).prop_map(|(a, b)| Stmt::Expr(Expr {
            kind: ExprKind::Call(Builtin::Log, vec![a, b]),
            pos: NOWHERE
        })),
    ];
    simple.prop_recursive(2, 12, 3, |inner| {
        (
            expr(),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner, 0..2),
        )
            .prop_map(|(cond, then, els)| Stmt::If {
                cond,
                then,
                els,
                pos: NOWHERE,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printing_and_parsing_again_is_stable(body in prop::collection::vec(stmt(), 0..6)) {
        let program = Program { body };
        let text = print(&program);
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(strip(&parsed.body), strip(&program.body), "{}", text);
        prop_assert_eq!(print(&parsed), text);
    }
}
