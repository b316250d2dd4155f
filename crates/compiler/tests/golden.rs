//! Golden tests: each `tests/golden/*.yaml` is a policy file whose `# case:` lines name a user,
//! an optional project and groups, and a table; the views they compile to are compared with the
//! `.sql` file beside it. `UPDATE_EXPECT=1 cargo test -p veil-compiler --test golden` re-blesses.

use std::path::Path;

use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use veil_compiler::Compiler;
use veil_policy::Identity;

const FUNCTIONS_CATALOG: &str = "veil";

#[test]
fn golden_views() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no golden cases in {}",
        directory.display()
    );
    let mut mismatches = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let compiler = Compiler::from_yaml(&text, FUNCTIONS_CATALOG)
            .unwrap_or_else(|errors| panic!("{}: {errors}", file.display()));
        let mut actual = String::new();
        for case in text.lines().filter_map(|line| line.strip_prefix("# case:")) {
            actual.push_str(&format!("-- case:{case}\n"));
            actual.push_str(&run_case(&compiler, case.trim()));
            actual.push('\n');
        }
        assert!(!actual.is_empty(), "{}: no `# case:` lines", file.display());
        let expected_path = file.with_extension("sql");
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "{} differs (UPDATE_EXPECT=1 re-blesses):\n--- expected\n{expected}\n--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `user=alice project=p groups=a,b table=sales.customers`
fn run_case(compiler: &Compiler, case: &str) -> String {
    let mut user = "";
    let mut project = None;
    let mut groups = Vec::new();
    let mut table = "";
    for field in case.split_whitespace() {
        let (key, value) = field.split_once('=').expect("case fields are key=value");
        match key {
            "user" => user = value,
            "project" => project = Some(value),
            "groups" => groups = value.split(',').map(str::to_owned).collect(),
            "table" => table = value,
            other => panic!("unknown case field `{other}`"),
        }
    }
    let estate = compiler.estate();
    let identity = Identity {
        user,
        groups: &groups,
        project,
    };
    let subject = match estate.subject(identity, true) {
        Ok(subject) => subject,
        Err(error) => return format!("error: {error}\n"),
    };
    let (schema, name) = table.split_once('.').unwrap();
    let Some(id) = estate.data_source_id(schema, name) else {
        return "not found\n".to_owned();
    };
    match compiler.compile(id, &subject) {
        None => "not visible\n".to_owned(),
        Some(view) => {
            Parser::parse_sql(&GenericDialect {}, &view.sql).unwrap_or_else(|error| {
                panic!("generated SQL does not parse: {error}\n{}", view.sql)
            });
            let columns: Vec<String> = view
                .columns
                .iter()
                .map(|column| format!("{} {}", column.name, column.data_type))
                .collect();
            format!("{}\n-- columns: {}\n", view.sql, columns.join(", "))
        }
    }
}
