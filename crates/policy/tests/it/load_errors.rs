//! Loading rejects bad bundles with errors that name the thing and the problem, all at once:
//! each `load_errors/*.yaml` is a bundle, `*.errors` beside it what loading it reports (each
//! error as printed, then its problem as a value), or `ok`.

use std::fmt::Write;

use veil_policy::{EntityKind, Estate};

use veil_test_cases::check_cases;

fn check(name: &str, text: &str) -> String {
    let errors = match Estate::from_yaml(text) {
        Ok(_) => return "ok\n".to_owned(),
        Err(errors) => errors,
    };
    let mut out = String::new();
    for error in &errors.0 {
        writeln!(out, "{error}").unwrap();
        writeln!(out, "    {:?}", error.problem).unwrap();
        // An error in an entity points at the line that names it.
        if let (Some(line), Some(entity)) = (error.line, &error.entity)
            && entity.kind != EntityKind::Settings
        {
            let written = text.lines().nth(line - 1).unwrap();
            assert!(
                written.contains(&format!("name: {}", entity.name))
                    || written.contains(&format!("name: '{}'", entity.name)),
                "{name}: line {line} `{written}` does not name {entity}"
            );
        }
    }
    let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    assert_eq!(errors.to_string(), lines.join("\n"), "{name}");
    out
}

#[test]
fn load_errors() {
    check_cases(env!("CARGO_MANIFEST_DIR"), "load_errors", "errors", check);
}
