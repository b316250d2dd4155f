//! Hostile names and values: whatever a user name, group or attribute value holds, it reaches
//! the SQL as a literal equal to exactly that value, and hostile identifiers stay identifiers.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, Value, visit_expressions};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use veil_compiler::{Compiler, sql};
use veil_policy::{
    Bundle, ColumnSpec, DataSourceSpec, Entity, EntityKind, Estate, Identity, LoadProblem,
    PolicyKind, PolicySpec, TargetSpec, UserSpec,
};

const HOSTILE: &[&str] = &[
    "x' OR 1=1 --",
    "a''b",
    r"\'",
    r"\",
    "\"quoted\"",
    "semi; DROP TABLE t; --",
    "line\nbreak",
    "/* comment */",
    "ünïcødé ✓ 日本",
    "'",
];

fn policy(name: &str, kind: PolicyKind) -> PolicySpec {
    PolicySpec::new(name, kind)
}

fn estate_for(user: &str, value: &str, column: &str) -> Bundle {
    let mut file = Bundle {
        data_sources: vec![DataSourceSpec {
            name: "s.t".to_owned(),
            table: format!("c.{column}.t"),
            columns: vec![
                ColumnSpec {
                    name: column.to_owned(),
                    data_type: "varchar".to_owned(),
                    tags: vec![],
                    description: None,
                },
                ColumnSpec {
                    name: "region".to_owned(),
                    data_type: "varchar".to_owned(),
                    tags: vec!["PII".to_owned()],
                    description: None,
                },
            ],
            ..DataSourceSpec::default()
        }],
        users: vec![UserSpec {
            name: user.to_owned(),
            groups: vec![value.to_owned()],
            attributes: [(
                "region".to_owned(),
                vec![value.to_owned(), "plain".to_owned()],
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        }],
        ..Bundle::default()
    };
    let mut subscription = policy("sub", PolicyKind::Subscription);
    subscription.on = TargetSpec {
        data_sources: vec!["s.t".to_owned()],
        ..TargetSpec::default()
    };
    subscription.allow = Some(veil_policy::Condition::Groups(vec![value.to_owned()]));
    let on = TargetSpec {
        data_sources: vec!["s.t".to_owned()],
        ..TargetSpec::default()
    };
    let mut matching = policy("by-match", PolicyKind::RowFilter);
    matching.on = on.clone();
    matching.match_attribute = Some(veil_policy::MatchSpec {
        column: "region".to_owned(),
        attribute: "region".to_owned(),
    });
    let mut predicate = policy("by-where", PolicyKind::RowFilter);
    predicate.on = on.clone();
    predicate.where_predicate =
        Some("region = user_name() OR user_attribute_contains('region', region)".to_owned());
    let mut mask = policy("constant", PolicyKind::Mask);
    mask.on = TargetSpec {
        column_tags: vec!["PII".to_owned()],
        ..TargetSpec::default()
    };
    mask.method = Some("constant".to_owned());
    mask.value = Some(serde_norway::Value::String(value.to_owned()));
    file.policies = vec![subscription, matching, predicate, mask];
    file
}

fn literals(statement: &Statement) -> Vec<String> {
    let mut found = Vec::new();
    let _ = visit_expressions(statement, |expression| {
        if let Expr::Value(value) = expression
            && let Value::SingleQuotedString(text) = &value.value
        {
            found.push(text.clone());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

#[test]
fn hostile_values_come_out_as_exactly_that_literal() {
    for value in HOSTILE {
        let user = format!("u{value}");
        let column = format!("c{value}");
        let file = estate_for(&user, value, &column);
        let estate = Estate::new(file, None).unwrap_or_else(|errors| panic!("{value:?}: {errors}"));
        let compiler = Compiler::new(estate, value).unwrap();
        let estate = compiler.estate();
        let subject = estate
            .subject(
                Identity {
                    user: &user,
                    groups: &[],
                    project: None,
                },
                false,
            )
            .unwrap();
        let view = compiler
            .compile(0, &subject)
            .expect("the user is subscribed by group");
        let statements = Parser::parse_sql(&GenericDialect {}, &view.sql)
            .unwrap_or_else(|error| panic!("{value:?}: {error}\n{}", view.sql));
        assert_eq!(
            statements.len(),
            1,
            "{value:?}: one statement\n{}",
            view.sql
        );
        let found = literals(&statements[0]);
        // match IN list, user_name(), user_attribute_contains IN list, constant.
        let count = found.iter().filter(|literal| *literal == value).count();
        assert!(
            count >= 3,
            "{value:?} appears {count} times in {found:?}\n{}",
            view.sql
        );
        assert!(found.contains(&user), "{found:?}");
        for literal in &found {
            assert!(
                [value.to_string(), user.clone(), "plain".to_owned()].contains(literal),
                "{value:?}: unexpected literal {literal:?} in\n{}",
                view.sql
            );
        }
        // The hostile column and schema names stay single identifiers.
        assert!(
            view.sql.contains(&sql::quote_identifier(&column)),
            "{}",
            view.sql
        );
        assert_eq!(view.columns[0].name, column);
    }
}

#[test]
fn predicates_are_checked_at_load() {
    let cases = [
        ("id > (SELECT 1)", "subqueries are not allowed"),
        ("EXISTS (SELECT 1)", "subqueries are not allowed"),
        ("id IN (SELECT id FROM other)", "subqueries are not allowed"),
        ("id > 1; DROP TABLE t", "must be a single expression"),
        ("id >", "does not parse"),
        ("other.id > 1", "qualified name `other.id` is not allowed"),
        ("nope > 1", "unknown column `nope`"),
        ("row_number() OVER () > 1", "window function"),
        ("count(*) > 1", "aggregate function `count` is not allowed"),
        ("id > MAX(id)", "aggregate function `MAX` is not allowed"),
        ("approx_percentile(id, 0.5) > 1", "aggregate function"),
        (
            "abs(id) FILTER (WHERE id > 0) > 1",
            "aggregate function `abs`",
        ),
        ("user_in_group(region)", "takes one string literal"),
        (
            "user_attribute_contains('a')",
            "takes a string literal key and an expression",
        ),
        ("user_has_purpose('fun')", "unknown purpose `fun`"),
        ("cat.sch.fn(id)", "qualified function name"),
    ];
    for (predicate, expected) in cases {
        let text = format!(
            r#"
data_sources:
  - {{name: s.t, table: c.s.t, columns: [{{name: id, type: bigint}}, {{name: region, type: varchar}}]}}
policies:
  - {{name: sub, kind: subscription, on: {{data_sources: [s.t]}}, allow: everyone}}
  - name: f
    kind: row_filter
    on: {{data_sources: [s.t]}}
    where: {predicate:?}
"#
        );
        let errors = Compiler::from_yaml(&text, "veil").expect_err(predicate);
        // Typed: the error is in policy `f`, at the line that names it.
        assert_eq!(errors.0[0].entity, Some(Entity::policy("f")), "{predicate}");
        assert_eq!(errors.0[0].line, Some(6), "{predicate}");
        let errors = errors.to_string();
        assert!(
            errors.contains(expected),
            "{predicate}: expected `{expected}` in {errors}"
        );
        assert!(errors.contains("policy `f`"), "{errors}");
        assert!(errors.starts_with("line 6:"), "{errors}");
    }
}

#[test]
fn named_constants_must_cast() {
    let text = r#"
data_sources:
  - {name: s.t, table: c.s.t, columns: [{name: id, type: bigint, tags: [X]}]}
policies:
  - {name: sub, kind: subscription, on: {data_sources: [s.t]}, allow: everyone}
  - {name: m, kind: mask, on: {data_sources: [s.t], columns: [id]}, method: constant, value: 'abc'}
"#;
    let errors = Compiler::from_yaml(text, "veil").unwrap_err();
    assert!(
        matches!(
            &errors.0[0].problem,
            LoadProblem::ConstantDoesNotFit { column, data_source, .. }
                if column == "id" && data_source == "s.t"
        ),
        "{errors:?}"
    );
    let errors = errors.to_string();
    assert!(
        errors.contains("value `abc` cannot be cast to `bigint`"),
        "{errors}"
    );
    // Reached by tag instead, the column falls back to nullify, and explain says so.
    let text = text
        .replace("columns: [id]}", "column_tags: [X]}")
        .replace("data_sources: [s.t], column_tags", "column_tags");
    let compiler = Compiler::from_yaml(&text, "veil").unwrap();
    let subject = anyone(&compiler);
    let explained = compiler.explain(0, &subject);
    assert!(
        explained.columns[0]
            .fallback
            .as_deref()
            .unwrap()
            .contains("cannot be cast")
    );
    assert!(explained.view.unwrap().sql.contains("CAST(NULL AS bigint)"));
}

#[test]
fn named_randomized_categories_must_cast() {
    let text = r#"
data_sources:
  - {name: s.t, table: c.s.t, columns: [{name: code, type: varchar(3)}, {name: n, type: bigint}]}
policies:
  - {name: sub, kind: subscription, on: {data_sources: [s.t]}, allow: everyone}
  - {name: rr, kind: mask, on: {data_sources: [s.t], columns: [code]}, method: randomized_response, probability: 0.5, values: [abc, abcd]}
  - {name: rr-n, kind: mask, on: {data_sources: [s.t], columns: [n]}, method: randomized_response, probability: 0.5, values: [x, y]}
"#;
    let errors = Compiler::from_yaml(text, "veil").unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let errors = errors.to_string();
    assert!(
        errors.contains("policy `rr`")
            && errors.contains("value `abcd` of `values` cannot be cast to `varchar(3)`"),
        "{errors}"
    );
}

/// Quasi-identifier names and the backing table are identifiers like any other: a hostile
/// column name comes out quoted, in the count and in the row it is compared with.
#[test]
fn k_anonymity_quotes_every_name() {
    let text = r#"
data_sources:
  - {name: s.t, table: 'c.we"ird.t', columns: [{name: 'z" OR 1=1 --', type: varchar}, {name: v, type: bigint}]}
policies:
  - {name: sub, kind: subscription, on: {data_sources: [s.t]}, allow: everyone}
  - {name: k, kind: mask, on: {data_sources: [s.t], columns: ['z" OR 1=1 --']}, method: k_anonymize, k: 3, quasi_identifiers: ['z" OR 1=1 --']}
"#;
    let compiler = Compiler::from_yaml(text, "veil").unwrap();
    let subject = anyone(&compiler);
    let view = compiler.compile(0, &subject).unwrap();
    assert!(
        view.sql.contains(
            r#"(SELECT count(*) FROM "c"."we""ird"."t" "veil_k" WHERE "veil_k"."z"" OR 1=1 --" = "c"."we""ird"."t"."z"" OR 1=1 --") < 3"#
        ),
        "{}",
        view.sql
    );
    sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &view.sql)
        .unwrap();
}

/// The catalog of the keyed functions is an identifier like any other, and a key id that could
/// carry SQL is refused at load.
#[test]
fn keyed_function_names_are_escaped_and_key_ids_checked() {
    let text = "data_sources:\n  - {name: s.t, table: c.s.t, columns: [{name: v, type: varchar}]}\npolicies:\n  - {name: read, kind: subscription, on: {data_sources: [s.t]}, allow: everyone}\n  - {name: h, kind: mask, on: {columns: [v]}, method: hash}\nsettings: {mask_key: k2}\n";
    let compiler = Compiler::from_yaml(text, "we\"ird").unwrap();
    let subject = anyone(&compiler);
    let sql = compiler.compile(0, &subject).unwrap().sql;
    assert_eq!(
        sql,
        "SELECT \"we\"\"ird\".\"system\".\"hash\"('k2', CAST(\"v\" AS varchar)) AS \"v\" FROM \"c\".\"s\".\"t\""
    );
    Parser::parse_sql(&GenericDialect {}, &sql).unwrap();
    for key in ["k'2", "", "a b", &"k".repeat(65)] {
        let hostile = text.replace("mask_key: k2", &format!("mask_key: {key:?}"));
        let errors = Compiler::from_yaml(&hostile, "veil").unwrap_err();
        assert_eq!(
            errors.0[0].entity.as_ref().map(|entity| entity.kind),
            Some(EntityKind::Settings)
        );
        assert_eq!(
            errors.0[0].problem,
            LoadProblem::BadMaskKey {
                key: key.to_string()
            }
        );
        let errors = errors.to_string();
        assert!(
            errors.contains("line 6: settings: `mask_key`"),
            "{key:?}: {errors}"
        );
    }
}

/// A user in no group, under no project.
fn anyone(compiler: &Compiler) -> veil_policy::Subject<'_> {
    compiler
        .estate()
        .subject(
            Identity {
                user: "anyone",
                groups: &[],
                project: None,
            },
            false,
        )
        .unwrap()
}
