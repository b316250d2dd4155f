//! Inputs the fuzzer found, kept as named tests, and checks that the checker itself catches
//! what it must (a check that cannot fail proves nothing).

use veil_compiler::Template;
use veil_fuzz::check;

/// The generic dialect reads a backslash as an ordinary character in a string literal, as
/// Trino does: `'\'` is the one-character string `\`.
#[test]
fn backslash_escapes_nothing() {
    let expression = check::parse_expression(r"'a\' = '\'").unwrap();
    assert_eq!(expression.to_string(), r"'a\' = '\'");
    let statement = check::parse_statement(r"SELECT 'it''s\', '\\'").unwrap();
    assert_eq!(statement.to_string(), r"SELECT 'it''s\', '\\'");
}

/// Found by the template property: sqlparser reads `E'x'' OR 1=1 --'` as the string
/// `x' OR 1=1 --` and prints it back as `E'x\' OR 1=1 --'`, which Trino reads as the string
/// `x\` followed by `OR 1=1` and a comment to the end of the view. Templates now refuse every
/// literal and quoting that Trino does not read as sqlparser does.
#[test]
fn literals_trino_reads_differently_are_refused() {
    for sql in [
        "a = E'x'' OR 1=1 --'",
        "a IN (E'\"quoted\"')",
        "a = U&'\\0041'",
        "a = N'x'",
        "a = $$x$$",
        "`a` = 1",
    ] {
        let problem = Template::parse(sql).expect_err(sql);
        assert!(problem.contains("is not Trino SQL"), "{sql}: {problem}");
    }
    for sql in [
        "a = 'x''y\\'",
        "\"a\"\"b\" = X'0F'",
        "a IS NULL OR a = 1.5 OR TRUE",
    ] {
        Template::parse(sql).unwrap_or_else(|problem| panic!("{sql}: {problem}"));
    }
}

/// Found by the template property: an escape string spelling the compiler's placeholder
/// (`E'\x5f_veil_slot_0'`) passed the reserved-word check, printed as `E'__veil_slot_0'`, and
/// cutting the printed text at placeholders indexed a slot that did not exist: a panic.
#[test]
fn a_spelled_out_placeholder_is_refused_not_a_panic() {
    for sql in ["E'\\x5f_veil_slot_0' = 'a'", "U&'\\005F_veil_slot_0' = 'a'"] {
        assert!(Template::parse(sql).is_err(), "{sql}");
    }
}

/// Found by the predicate property: sqlparser 0.64 prints the literal `a''b` (written
/// `'a''''b'`) as `'a''b'`, which Trino reads as `a'b`; a quoted name holding `""` likewise
/// came out as another name. Templates now refuse SQL that does not print back as written.
#[test]
fn sql_that_does_not_print_back_is_refused() {
    for sql in [
        "CASE WHEN 0 THEN (0 = 'a''''b') ELSE x END",
        "\"a\"\"\"\"b\" = 1",
        "c = ''''''",
    ] {
        let problem = Template::parse(sql).expect_err(sql);
        assert!(problem.contains("does not print back"), "{sql}: {problem}");
    }
    let printed = check::parse_expression("0 = 'a''''b'").unwrap().to_string();
    assert_eq!(
        printed, "0 = 'a''b'",
        "sqlparser fixed its printer: relax the check"
    );
}

/// Found by the bundle property: a constant `n` is exported plain (`value: n`, YAML 1.2) and was
/// read back as YAML 1.1's `false`. The loader now reads YAML 1.2 booleans only.
#[test]
fn a_constant_n_reads_back_as_n() {
    for word in ["n", "no", "y", "yes", "off", "on"] {
        let text = format!(
            "policies:\n  - {{name: m, kind: mask, on: {{columns: [c]}}, method: constant, value: {word}}}\n"
        );
        let bundle = veil_policy::Bundle::from_yaml(&text).unwrap();
        assert_eq!(
            bundle.policies[0].value,
            Some(serde_norway::Value::String(word.to_owned())),
            "{word}"
        );
    }
}

/// Found by the bundle property (seed 1796181053): the writer left the constant `1_0` plain
/// (YAML 1.2 text) and the reader took it for the number 10, so an export changed the mask.
/// Such a text is now written tagged `!str`.
#[test]
fn a_constant_1_0_reads_back_as_1_0() {
    for text in ["1_0", "1_000", "-2_5", "0x_1", "1_0.5"] {
        let yaml = format!(
            "policies:\n  - {{name: m, kind: mask, on: {{columns: [c]}}, method: constant, value: '{text}'}}\n  - {{name: r, kind: mask, on: {{columns: [c]}}, method: randomized_response, probability: 0.5, values: ['{text}', b]}}\n"
        );
        let bundle = veil_policy::Bundle::from_yaml(&yaml).unwrap();
        let text_value = Some(serde_norway::Value::String(text.to_owned()));
        assert_eq!(bundle.policies[0].value, text_value, "{text}");
        let back = veil_policy::Bundle::from_yaml(&bundle.to_yaml()).unwrap();
        assert_eq!(back, bundle, "{text}: {}", bundle.to_yaml());
    }
}

/// Found by the long template run (seed 20261275): a compile-time function after a dot,
/// `CAST(...).user_name()`, became the user's name as a literal after a dot
/// (`CAST(...).'alice'`), which no SQL parser reads. Field access and method calls are refused.
#[test]
fn a_compile_time_function_after_a_dot_is_refused() {
    for sql in [
        "CAST(CASE WHEN 0 THEN \"x' OR 1=1 --\" ELSE TRUE END AS varchar).user_name()",
        "a.user_in_group('g')",
        "CAST(a AS varchar).b",
    ] {
        let problem = Template::parse(sql).expect_err(sql);
        assert!(
            problem.contains("field access") || problem.contains("qualified"),
            "{sql}: {problem}"
        );
    }
}

/// Found by the long template run (seed 20268693): sqlparser reads
/// `user_attribute_contains('k', NOT ("x") AS varchar)` with the `AS varchar` inside the
/// argument, but the argument printed on its own (`NOT ("x") AS varchar`), as the attribute test
/// renders it, is no expression: the view would not parse. Such an argument is refused.
#[test]
fn an_attribute_test_whose_expression_does_not_print_back_is_refused() {
    let sql = "C|\nuser_attribute_contains('k', NOT (\"\\'\") AS varchar)";
    let problem = Template::parse(sql).expect_err(sql);
    assert!(problem.contains("does not print back"), "{problem}");
    Template::parse("user_attribute_contains('k', CAST(\"c\" AS varchar))").unwrap();
}

/// Found by `veil-fuzz --property bundle --seed 20268089` once reversible tokens were bound to
/// their policy: the policy's name in `encrypt`'s call is a literal of the estate's own (the
/// checker did not know it yet); it must come out exactly, hostile names included.
#[test]
fn a_reversible_policy_name_is_an_exact_literal() {
    let yaml = r#"
data_sources:
- {name: a.a, table: a.a.a, columns: [{name: "a''b", type: bigint}, {name: "\\'", type: varchar}]}
users:
- {name: "x' OR 1=1 --"}
policies:
- {name: p0, kind: subscription, on: {}, allow: everyone}
- {name: "p1' OR 1=1 --", kind: mask, on: {columns: ["\\'"]}, method: reversible}
"#;
    let compiler = veil_compiler::Compiler::from_yaml(yaml, "x' OR 1=1 --").unwrap();
    check::check_compiler(&compiler, Some("x' OR 1=1 --")).unwrap();
}
