//! Static analysis as data: each `analysis/*.yaml` is a bundle that loads without errors, and
//! `*.findings` beside it what `analyze` warns of (each finding as printed, then its kind), or
//! `no findings`. The example estate is a case too (`analysis_example.findings`).

use std::fmt::Write;

use veil_policy::{Estate, analyze};

use veil_test_cases::{check_cases, check_file};

fn check(name: &str, text: &str) -> String {
    let estate = Estate::from_yaml(text).unwrap_or_else(|errors| panic!("{name}: {errors}"));
    let mut findings = analyze(&estate);
    findings.locate(text);
    if findings.0.is_empty() {
        return "no findings\n".to_owned();
    }
    let mut out = String::new();
    for finding in &findings.0 {
        writeln!(out, "{finding}").unwrap();
        writeln!(out, "    {:?}", finding.kind).unwrap();
        // Every finding points at the line that names its entity.
        let line = finding
            .line
            .unwrap_or_else(|| panic!("{name}: `{finding}` has no line"));
        let written = text.lines().nth(line - 1).unwrap();
        assert!(
            written.contains(&format!("name: {}", finding.entity.name)),
            "{name}: line {line} `{written}` does not name {}",
            finding.entity
        );
    }
    out
}

#[test]
fn analysis() {
    check_cases(env!("CARGO_MANIFEST_DIR"), "analysis", "findings", check);
}

#[test]
fn example_estate() {
    check_file(
        env!("CARGO_MANIFEST_DIR"),
        "../../examples/tpch.yaml",
        "analysis_example.findings",
        check,
    );
}
