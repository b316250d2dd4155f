//! Loading rejects bad bundles with errors that name the thing and the problem, all at once.

use veil_policy::Estate;

const BASE: &str = r#"
data_sources:
  - name: s.t
    table: c.s.t
    tags: [Finance]
    columns:
      - {name: id, type: bigint}
      - {name: phone, type: varchar(15), tags: [PII.Phone]}
      - {name: day, type: date}
users:
  - {name: ana, groups: [g]}
purposes: [{name: audit}]
projects: [{name: p, purposes: [audit], members: [ana]}]
policies:
  - {name: sub, kind: subscription, on: {tags: [Finance]}, allow: everyone}
"#;

#[track_caller]
fn check_error(extra: &str, expected: &str) {
    let text = format!("{BASE}{extra}");
    let errors = Estate::from_yaml(&text).expect_err("the bundle should be rejected");
    let rendered = errors.to_string();
    assert!(
        rendered.contains(expected),
        "expected `{expected}` in:\n{rendered}"
    );
}

#[test]
fn base_loads() {
    Estate::from_yaml(BASE).unwrap();
}

#[test]
fn unknown_references() {
    check_error(
        "  - {name: m, kind: mask, on: {data_sources: [s.t], columns: [phne]}, method: hash}\n",
        "policy `m`: unknown column `phne`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PIIX]}, method: hash}\n",
        "unknown tag `PIIX`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: hash, for: {users: [zed]}}\n",
        "unknown user `zed`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: hash, except: {not: {purposes: [fun]}}}\n",
        "unknown purpose `fun`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: blur}\n",
        "unknown method `blur`",
    );
    check_error(
        "  - {name: s2, kind: subscription, on: {data_sources: [s.nope]}, allow: everyone}\n",
        "unknown data source `s.nope`",
    );
    check_error(
        "  - {name: f, kind: row_filter, on: {data_sources: [s.t]}, match: {column: nope, attribute: a}}\n",
        "unknown column `nope` in data source `s.t`",
    );
}

#[test]
fn options_must_fit() {
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: hash, digits: 2}\n",
        "option `digits` does not fit method `hash`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: round}\n",
        "exactly one of `digits` and `unit`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: round, unit: fortnight}\n",
        "unknown unit `fortnight`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: partial, keep_last: 2, mask_char: '**'}\n",
        "`mask_char` must be one character",
    );
    check_error(
        "  - {name: m, kind: mask, on: {column_tags: [PII]}, method: regex, pattern: x}\n",
        "method `regex` needs `replacement`",
    );
    check_error(
        "  - {name: s2, kind: subscription, on: {tags: [Finance]}, allow: everyone, method: hash}\n",
        "option `method` does not fit a subscription policy",
    );
    check_error(
        "  - {name: f, kind: row_filter, on: {data_sources: [s.t]}, where: 'id > 1', sample: {percent: 5, column: id}}\n",
        "exactly one of `where`, `match`, `time_window` and `sample`",
    );
    check_error(
        "  - {name: f, kind: row_filter, on: {data_sources: [s.t]}, sample: {percent: 0, column: id}}\n",
        "`sample.percent` must be above 0",
    );
    check_error(
        "  - {name: f, kind: row_filter, on: {data_sources: [s.t]}, time_window: {column: id, days: 3}}\n",
        "is `bigint`, not a date or timestamp",
    );
    check_error(
        "  - {name: f, kind: row_filter, on: {data_sources: [s.t]}, time_window: {column: day, days: 3, hours: 2}}\n",
        "exactly one positive `days`, `hours` or `minutes`",
    );
    check_error(
        "  - {name: m, kind: mask, on: {columns: [phone], column_tags: [PII]}, method: hash}\n",
        "not both",
    );
}

#[test]
fn duplicates_and_shapes() {
    check_error(
        "  - {name: sub, kind: subscription, on: {tags: [Finance]}, allow: everyone}\n",
        "duplicate policy name",
    );
    check_error(
        "  - {name: x, kind: subscription, on: {tags: [Finance]}, allow: everyone, colour: red}\n",
        "unknown field `colour`",
    );
    let text = BASE.replace(
        "      - {name: day, type: date}",
        "      - {name: day, type: date}\n      - {name: DAY, type: 'varchar); drop'}",
    );
    let rendered = Estate::from_yaml(&text).unwrap_err().to_string();
    assert!(rendered.contains("duplicate column `DAY`"), "{rendered}");
    assert!(rendered.contains("invalid Trino type"), "{rendered}");
    let text = BASE.replace("name: s.t", "name: S.T");
    assert!(
        Estate::from_yaml(&text)
            .unwrap_err()
            .to_string()
            .contains("must be lowercase")
    );
    let text = BASE.replace("table: c.s.t", "table: c.t");
    assert!(
        Estate::from_yaml(&text)
            .unwrap_err()
            .to_string()
            .contains("is not `catalog.schema.table`")
    );
    let text = BASE.replace("members: [ana]", "members: [ana, zed]");
    assert!(
        Estate::from_yaml(&text)
            .unwrap_err()
            .to_string()
            .contains("project `p`: unknown user `zed`")
    );
}

#[test]
fn every_error_is_reported_with_its_line() {
    let extra = "  - {name: one, kind: mask, on: {column_tags: [PII]}, method: blur}\n  - {name: two, kind: mask, on: {column_tags: [Nope]}, method: hash}\n";
    let text = format!("{BASE}{extra}");
    let errors = Estate::from_yaml(&text).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    let line_of = |needle: &str| text.lines().position(|line| line.contains(needle)).unwrap() + 1;
    assert_eq!(errors[0].line, Some(line_of("name: one")));
    assert_eq!(errors[1].line, Some(line_of("name: two")));
    assert!(
        errors[0]
            .to_string()
            .starts_with(&format!("line {}: policy `one`", line_of("name: one")))
    );
}

#[test]
fn yaml_errors_carry_the_line() {
    let errors = Estate::from_yaml("policies:\n  - {name: x, kind: nope}\n")
        .unwrap_err()
        .0;
    assert_eq!(errors[0].line, Some(2));
}

#[test]
fn export_round_trips() {
    let estate = Estate::from_yaml(BASE).unwrap();
    let exported = estate.to_file().to_yaml();
    let again = Estate::from_yaml(&exported).unwrap();
    assert_eq!(again.to_file(), estate.to_file());
    assert_eq!(
        estate.to_file().data_sources[0].columns[1].data_type,
        "varchar(15)"
    );
}

/// Plain scalars that YAML 1.1 would read as booleans, numbers or null are names like any other
/// where the file expects a string, and a shape error names its line.
#[test]
fn plain_scalars_stay_strings_and_shape_errors_name_their_line() {
    let text = r#"
users:
  - {name: yes, groups: [no, on, off, "1", 1.0, 007, 0x1F, ~x]}
"#;
    let file = veil_policy::Bundle::from_yaml(text).unwrap();
    assert_eq!(file.users[0].name, "yes");
    assert_eq!(
        file.users[0].groups,
        ["no", "on", "off", "1", "1.0", "007", "0x1F", "~x"]
    );
    let error =
        veil_policy::Bundle::from_yaml("users:\n  - name: ana\n    gruops: [g]\n").unwrap_err();
    assert_eq!(error.line, Some(3));
    assert!(error.message.contains("unknown field `gruops`"), "{error}");
}
