//! Seed 000 parser: error positions, and it never panics.

use lockbox_automation::script::{parse, ExprKind, Stmt};
use proptest::prelude::*;

#[test]
fn malformed_scripts_fail_with_a_position() {
    // (source, code, line, column, message fragment)
    let table: &[(&str, &str, u32, u32, &str)] = &[
        ("var = 1", "syntax", 1, 5, "expected a variable name"),
        ("var x = ", "syntax", 1, 9, "found the end of the script"),
        (
            "if x then\nLog(\"Debug\", \"a\")",
            "syntax",
            2,
            18,
            "'end' closing the 'if'",
        ),
        (
            "if x\nLog(\"Debug\", \"a\")\nend",
            "syntax",
            2,
            1,
            "expected 'then'",
        ),
        ("end", "syntax", 1, 1, "unexpected 'end'"),
        ("var s = \"abc", "syntax", 1, 9, "unterminated string"),
        ("var s = \"a\\qb\"", "syntax", 1, 9, "bad escape"),
        ("var x = 1 @ 2", "syntax", 1, 11, "unexpected character '@'"),
        ("Foo(1)", "unknown_function", 1, 1, "unknown function 'Foo'"),
        (
            "var x = 1\n  Bar()",
            "unknown_function",
            2,
            3,
            "unknown function 'Bar'",
        ),
        (
            "Log(\"Debug\")",
            "arity",
            1,
            1,
            "Log takes 2 arguments, got 1",
        ),
        (
            "GetSecret()",
            "arity",
            1,
            1,
            "GetSecret takes 1 arguments, got 0",
        ),
        (
            "SetSecret(\"a\", \"b\", \"c\", \"d\")",
            "arity",
            1,
            1,
            "SetSecret takes 2 to 3",
        ),
        (
            "var o = { \"a\": 1 \"b\": 2 }",
            "syntax",
            1,
            18,
            "expected ',' or '}'",
        ),
        (
            "var o = { \"a\": 1, \"a\": 2 }",
            "syntax",
            1,
            19,
            "duplicate key",
        ),
        ("var o = { 1: 2 }", "syntax", 1, 11, "expected a key"),
        ("var a = [1, 2", "syntax", 1, 14, "expected ',' or ']'"),
        ("var x = a.", "syntax", 1, 11, "member name"),
        ("x", "syntax", 1, 1, "expected a statement"),
        ("1 + 2", "syntax", 1, 1, "expected a statement"),
        ("var x = a == b == c", "syntax", 1, 16, "do not chain"),
        ("Data = 1", "syntax", 1, 1, "reserved"),
        ("var Log = 1", "syntax", 1, 1, "reserved"),
        ("var x = (1 + 2", "syntax", 1, 15, "expected ')'"),
        (
            "if x then else end end",
            "syntax",
            1,
            20,
            "unexpected 'end'",
        ),
        ("var x = 1.2.3", "syntax", 1, 13, "member name"),
    ];
    let mut bad = Vec::new();
    for (src, code, line, column, msg) in table {
        let e = parse(src).expect_err(src);
        if (e.code.as_str(), e.line, e.column) != (*code, *line, *column)
            || !e.message.contains(msg)
        {
            bad.push(format!("{src:?} → {e}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("var x = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(parse(&src).unwrap_err().code, "too_deep");
    let src = format!("var x = {}true", "not ".repeat(10_000));
    assert_eq!(parse(&src).unwrap_err().code, "too_deep");
    let src = "if x then\n".repeat(1000) + &"end\n".repeat(1000);
    assert_eq!(parse(&src).unwrap_err().code, "too_deep");
    let src = "var x = a".to_owned() + &".b".repeat(10_000);
    assert!(parse(&src).is_ok());
    let src = "var x = 1".to_owned() + &" + 1".repeat(10_000);
    assert!(parse(&src).is_ok());
}

#[test]
fn precedence_and_shapes() {
    let p = parse(
        "# comment\nvar a = not x == 1 and y or z # trailing\nvar o = {\n\"k\": [1, 'two', null],\nk2: a.b.c\n}\nif a then\nelse\nend",
    )
    .unwrap();
    assert_eq!(p.body.len(), 3);
    let Stmt::Var { init: Some(e), .. } = &p.body[0] else {
        panic!()
    };
    // ((not (x == 1)) and y) or z
    let ExprKind::Binary(lockbox_automation::script::BinOp::Or, l, _) = &e.kind else {
        panic!("{e:?}")
    };
    assert!(matches!(
        l.kind,
        ExprKind::Binary(lockbox_automation::script::BinOp::And, ..)
    ));
}

proptest! {
    #[test]
    fn parsing_never_panics(src in "\\PC{0,200}") {
        let _ = parse(&src);
    }

    #[test]
    fn parsing_token_soup_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("var"), Just("if"), Just("then"), Just("else"), Just("end"),
                Just("and"), Just("or"), Just("not"), Just("null"), Just("x"),
                Just("Log"), Just("GetSecret"), Just("("), Just(")"), Just("{"),
                Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("."),
                Just("="), Just("=="), Just("+"), Just("\"s\""), Just("1"),
                Just("\n"), Just("#c\n"), Just("\""), Just("\\"),
            ],
            0..60,
        )
    ) {
        let src = parts.join(" ");
        if let Err(e) = parse(&src) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}
