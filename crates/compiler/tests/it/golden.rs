//! Golden views: each `golden/*.yaml` is a policy file whose `# case:` lines name a user, an
//! optional project and groups, and a table; the views they compile to are compared with the
//! `.sql` file beside it.

use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use veil_compiler::Compiler;

use veil_test_cases::{Case, cases, check_cases};

const FUNCTIONS_CATALOG: &str = "veil";

fn check(name: &str, text: &str) -> String {
    let compiler = Compiler::from_yaml(text, FUNCTIONS_CATALOG)
        .unwrap_or_else(|errors| panic!("{name}: {errors}"));
    let mut out = String::new();
    for case in cases(text) {
        out.push_str(&format!("-- case: {}\n", case.line));
        out.push_str(&run(&compiler, &case));
        out.push('\n');
    }
    out
}

fn run(compiler: &Compiler, case: &Case<'_>) -> String {
    let estate = compiler.estate();
    let subject = match estate.subject(case.identity(), true) {
        Ok(subject) => subject,
        Err(error) => return format!("error: {error}\n"),
    };
    let (schema, table) = case.table.expect("a golden case names a table");
    let Some(id) = estate.data_source_id(schema, table) else {
        return "not found\n".to_owned();
    };
    match compiler.compile(id, &subject) {
        None => "not visible\n".to_owned(),
        Some(view) => {
            // Native enforcement applies the very same expressions to the backing table.
            let decision = estate.decide(id, &subject).expect("visible");
            let facts = compiler.facts(&decision, &subject);
            let access = compiler.render_access(&decision, &facts);
            for (column, expression) in &access.masks {
                let aliased = format!(
                    "{expression} AS {}",
                    veil_compiler::sql::quote_identifier(column)
                );
                assert!(
                    view.sql.contains(&aliased),
                    "{column}: {expression}\nnot in {}",
                    view.sql
                );
                Parser::parse_sql(&GenericDialect {}, &format!("SELECT {expression}"))
                    .unwrap_or_else(|error| panic!("mask does not parse: {error}\n{expression}"));
            }
            for predicate in &access.row_filters {
                assert!(
                    view.sql.contains(&format!("({predicate})")),
                    "{predicate}\nnot in {}",
                    view.sql
                );
            }
            assert_eq!(access.row_filters.len(), decision.row_filters.len());
            assert_eq!(access.masks.len(), decision.masks.iter().flatten().count());
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

#[test]
fn golden_views() {
    check_cases(env!("CARGO_MANIFEST_DIR"), "golden", "sql", check);
}
