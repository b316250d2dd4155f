//! The scenarios that are plain comparisons, read from the case files in `tests/e2e/` (each file
//! documents the format at its top) and run through the comparisons of [`Trino`].

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Map, Value};

use super::ADMIN;
use super::fixtures::{ALICE_ORDERS, ALICE_SEGMENTS, hashed};
use super::report::Report;
use super::trino::{CREDENTIAL, Trino};

/// The case files, in the order their scenarios run and are reported.
const FILES: [&str; 4] = [
    "listing.yaml",
    "masks.yaml",
    "row_filters.yaml",
    "access_control.yaml",
];
/// The other YAML file in `tests/e2e/`: the policies the PDP serves.
const POLICY_FILE: &str = "scenario.yaml";

/// Every scenario of the case files, in order.
pub(super) struct Cases {
    scenarios: Vec<Scenario>,
}

/// One reported scenario: it passes when all its checks pass, in order.
struct Scenario {
    name: String,
    checks: Vec<Check>,
}

/// One statement run as `user`, and what it must give.
struct Check {
    user: String,
    session: Vec<(String, String)>,
    sql: String,
    expect: Expect,
}

#[derive(Clone)]
enum Expect {
    /// The rows equal the admin's, row for row (and the admin's are not empty).
    SameAs {
        admin_sql: String,
        row_count: Option<usize>,
        share: Option<Share>,
    },
    /// The rows are exactly these.
    Rows(Vec<Vec<Value>>),
    /// The rows differ from the admin's somewhere.
    DiffersFrom(String),
    /// The statement fails without a row, with this error name and/or a message containing this.
    Fails {
        name: Option<String>,
        message: Option<String>,
    },
}

/// Bounds on the rows compared, in percent of what the admin's `of` counts (both exclusive).
#[derive(Clone)]
struct Share {
    of: String,
    above: Option<i64>,
    below: Option<i64>,
}

impl Cases {
    /// Reads the case files of `directory`. Any other YAML file there than the policy file is
    /// refused, so a case file cannot be added without running.
    pub(super) fn load(directory: &Path) -> Result<Cases> {
        for entry in fs::read_dir(directory)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            ensure!(
                !name.ends_with(".yaml") || name == POLICY_FILE || FILES.contains(&name.as_str()),
                "{} is not a case file the e2e run knows (xtask/src/e2e/cases.rs)",
                directory.join(name).display()
            );
        }
        let mut scenarios = Vec::new();
        for file in FILES {
            let path = directory.join(file);
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            scenarios.extend(parse(&text).with_context(|| format!("in {}", path.display()))?);
        }
        let mut names = BTreeSet::new();
        for scenario in &scenarios {
            ensure!(
                names.insert(scenario.name.as_str()),
                "two scenarios are named `{}`",
                scenario.name
            );
        }
        Ok(Cases { scenarios })
    }

    /// Runs again, through native enforcement, every scenario whose checks read governed tables
    /// and compare rows: the governed names become the backing tables (`tables`, governed name →
    /// backing name) and the project an extra credential. Reported as `native: NAME`.
    pub(super) fn run_native(
        &self,
        native: &Trino,
        tables: &[(String, String)],
        report: &mut Report,
    ) {
        for scenario in &self.scenarios {
            let Some(checks) = scenario
                .checks
                .iter()
                .map(|check| check.natively(tables))
                .collect::<Option<Vec<Check>>>()
            else {
                continue;
            };
            report.check(&format!("native: {}", scenario.name), || {
                checks.iter().try_for_each(|check| check.run(native))
            });
        }
    }

    /// Runs every scenario the command line selects.
    pub(super) fn run(&self, trino: &Trino, report: &mut Report) {
        for scenario in &self.scenarios {
            report.check(&scenario.name, || {
                scenario
                    .checks
                    .iter()
                    .try_for_each(|check| check.run(trino))
            });
        }
    }
}

impl Check {
    /// The same check on the backing tables, when it reads governed tables (listings name the
    /// governed catalog, and have a native scenario of their own). An expected error ports when
    /// it is expected by name only: its message names the governed table.
    fn natively(&self, tables: &[(String, String)]) -> Option<Check> {
        let portable = self.sql.contains("FROM veil.")
            && !self.sql.contains("information_schema")
            && !matches!(
                self.expect,
                Expect::Fails {
                    message: Some(_),
                    ..
                }
            );
        if !portable {
            return None;
        }
        let mut sql = self.sql.clone();
        for (governed, backing) in tables {
            sql = sql.replace(&format!("veil.{governed}"), backing);
        }
        if sql.contains("veil.") {
            return None;
        }
        let session = self
            .session
            .iter()
            .map(|(name, value)| match name.as_str() {
                "veil.project" => (format!("{CREDENTIAL}veil.project"), value.clone()),
                _ => (name.clone(), value.clone()),
            })
            .collect();
        Some(Check {
            user: self.user.clone(),
            session,
            sql,
            expect: self.expect.clone(),
        })
    }

    fn run(&self, trino: &Trino) -> Result<()> {
        let session: Vec<(&str, &str)> = self
            .session
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let (user, sql) = (self.user.as_str(), self.sql.as_str());
        match &self.expect {
            Expect::SameAs {
                admin_sql,
                row_count,
                share,
            } => {
                let rows = trino.same_rows(user, &session, sql, admin_sql)?;
                if let Some(expected) = row_count {
                    ensure!(
                        rows == *expected,
                        "{user}: `{sql}` returned {rows} rows, expected {expected}"
                    );
                }
                if let Some(share) = share {
                    share.check(trino, rows)?;
                }
                Ok(())
            }
            Expect::Rows(expected) => trino.expect_rows(user, &session, sql, expected),
            Expect::DiffersFrom(admin_sql) => trino.differs(user, &session, sql, admin_sql),
            Expect::Fails { name, message } => {
                let error = trino.fails(user, &session, sql)?;
                if let Some(name) = name {
                    ensure!(
                        error.name == *name,
                        "{user}: `{sql}`: expected {name}, got {error}"
                    );
                }
                if let Some(message) = message {
                    ensure!(
                        error.message.contains(message.as_str()),
                        "{user}: `{sql}`: unexpected error: {error}"
                    );
                }
                Ok(())
            }
        }
    }
}

impl Share {
    fn check(&self, trino: &Trino, rows: usize) -> Result<()> {
        let total = trino.count(ADMIN, &self.of)?;
        let hundredfold = rows as i64 * 100;
        if let Some(above) = self.above {
            ensure!(
                hundredfold > total * above,
                "{rows} of {total} rows is not above {above}%"
            );
        }
        if let Some(below) = self.below {
            ensure!(
                hundredfold < total * below,
                "{rows} of {total} rows is not below {below}%"
            );
        }
        Ok(())
    }
}

fn parse(text: &str) -> Result<Vec<Scenario>> {
    let document: Value = serde_norway::from_str(text).context("not YAML")?;
    let Value::Array(items) = document else {
        bail!("a case file is a list of scenarios");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            parse_scenario(item).with_context(|| format!("scenario #{}", index + 1))
        })
        .collect()
}

fn parse_scenario(item: Value) -> Result<Scenario> {
    let mut fields = Fields::new(item)?;
    let name = fields.required_text("scenario")?;
    let Some(Value::Array(items)) = fields.take("checks") else {
        bail!("`{name}` needs a list of `checks`");
    };
    fields.done()?;
    ensure!(!items.is_empty(), "`{name}` has no checks");
    let checks = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            parse_check(item).with_context(|| format!("`{name}`, check #{}", index + 1))
        })
        .collect::<Result<_>>()?;
    Ok(Scenario { name, checks })
}

fn parse_check(item: Value) -> Result<Check> {
    let mut fields = Fields::new(item)?;
    let user = fields.required_text("user")?;
    let session = match fields.take("session") {
        None => Vec::new(),
        Some(Value::Object(properties)) => properties
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(value) => Ok((name, value)),
                other => bail!("session property `{name}` must be text, got {other}"),
            })
            .collect::<Result<_>>()?,
        Some(other) => bail!("`session` must map property names to values, got {other}"),
    };
    let sql = expand(&fields.required_text("sql")?)?;
    let same_as = fields.text("same_as")?;
    let rows = fields.take("rows");
    let differs_from = fields.text("differs_from")?;
    let error_name = fields.text("error_name")?;
    let error = fields.text("error")?;
    let row_count = fields
        .take("row_count")
        .map(|count| {
            count
                .as_u64()
                .and_then(|count| usize::try_from(count).ok())
                .ok_or_else(|| anyhow!("`row_count` must be a number, got {count}"))
        })
        .transpose()?;
    let share = fields.take("share").map(parse_share).transpose()?;
    fields.done()?;
    ensure!(
        same_as.is_some() || (row_count.is_none() && share.is_none()),
        "`row_count` and `share` go with `same_as`"
    );
    let fails = error_name.is_some() || error.is_some();
    let expect = match (same_as, rows, differs_from, fails) {
        (Some(admin_sql), None, None, false) => Expect::SameAs {
            admin_sql: expand(&admin_sql)?,
            row_count,
            share,
        },
        (None, Some(rows), None, false) => Expect::Rows(parse_rows(rows)?),
        (None, None, Some(admin_sql), false) => Expect::DiffersFrom(expand(&admin_sql)?),
        (None, None, None, true) => Expect::Fails {
            name: error_name,
            message: error,
        },
        _ => bail!("a check needs exactly one of `same_as`, `rows`, `differs_from`, `error`"),
    };
    Ok(Check {
        user,
        session,
        sql,
        expect,
    })
}

fn parse_share(value: Value) -> Result<Share> {
    let mut fields = Fields::new(value)?;
    let of = expand(&fields.required_text("of")?)?;
    let mut percent = |key: &str| -> Result<Option<i64>> {
        fields
            .take(key)
            .map(|value| {
                value
                    .as_i64()
                    .ok_or_else(|| anyhow!("`share.{key}` must be a whole percent, got {value}"))
            })
            .transpose()
    };
    let above = percent("above")?;
    let below = percent("below")?;
    fields.done()?;
    ensure!(
        above.is_some() || below.is_some(),
        "`share` needs `above` or `below`"
    );
    Ok(Share { of, above, below })
}

fn parse_rows(value: Value) -> Result<Vec<Vec<Value>>> {
    let Value::Array(rows) = value else {
        bail!("`rows` must be a list of rows, got {value}");
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Array(values) => Ok(values),
            other => bail!("a row must be a list of values, got {other}"),
        })
        .collect()
}

/// Replaces the placeholders of the case files in a statement: `{alice_segments}` and
/// `{alice_orders}` (alice's row filters), `{hashed:COLUMN:TYPE}` (what a hash mask of the
/// column, of that type, must equal).
fn expand(sql: &str) -> Result<String> {
    let mut expanded = String::new();
    let mut rest = sql;
    while let Some(start) = rest.find('{') {
        expanded.push_str(&rest[..start]);
        let inner = &rest[start + 1..];
        let end = inner
            .find('}')
            .ok_or_else(|| anyhow!("an unclosed `{{` in `{sql}`"))?;
        let placeholder = &inner[..end];
        let value = match placeholder.split_once(':') {
            None if placeholder == "alice_segments" => ALICE_SEGMENTS.to_owned(),
            None if placeholder == "alice_orders" => ALICE_ORDERS.to_owned(),
            Some(("hashed", typed))
                if typed.split_once(':').is_some_and(|(column, data_type)| {
                    !column.is_empty()
                        && column
                            .chars()
                            .all(|character| character.is_ascii_alphanumeric() || character == '_')
                        && !data_type.is_empty()
                        && data_type.chars().all(|character| {
                            character.is_ascii_alphanumeric() || "(),_ ".contains(character)
                        })
                }) =>
            {
                let (column, data_type) = typed.split_once(':').expect("checked");
                hashed(column, data_type)
            }
            _ => bail!("unknown placeholder `{{{placeholder}}}` in `{sql}`"),
        };
        expanded.push_str(&value);
        rest = &inner[end + 1..];
    }
    expanded.push_str(rest);
    Ok(expanded)
}

/// The fields of a mapping, taken one by one; any left over is a mistake.
struct Fields(Map<String, Value>);

impl Fields {
    fn new(value: Value) -> Result<Fields> {
        match value {
            Value::Object(map) => Ok(Fields(map)),
            other => bail!("expected a mapping, got {other}"),
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    fn text(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => bail!("`{key}` must be text, got {other}"),
        }
    }

    fn required_text(&mut self, key: &str) -> Result<String> {
        self.text(key)?.ok_or_else(|| anyhow!("`{key}` is missing"))
    }

    fn done(self) -> Result<()> {
        let unknown: Vec<&String> = self.0.keys().collect();
        ensure!(unknown.is_empty(), "unknown fields {unknown:?}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_files_load() {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e");
        let cases = Cases::load(&directory).expect("the case files load");
        assert_eq!(cases.scenarios.len(), 22);
        for scenario in &cases.scenarios {
            for check in &scenario.checks {
                assert!(!check.sql.contains('{'), "{}: {}", scenario.name, check.sql);
            }
        }
    }

    #[test]
    fn placeholders_expand_and_unknown_ones_are_refused() {
        assert_eq!(
            expand("SELECT {hashed:phone:varchar(15)} WHERE {alice_segments}").expect("expands"),
            format!(
                "SELECT {} WHERE {ALICE_SEGMENTS}",
                hashed("phone", "varchar(15)")
            )
        );
        assert!(expand("SELECT {hashed:phone) x}").is_err());
        assert!(expand("SELECT {hashed:phone}").is_err());
        assert!(expand("SELECT {alice}").is_err());
        assert!(expand("SELECT {alice_orders").is_err());
    }

    #[test]
    fn a_check_needs_one_expectation_and_known_fields() {
        let parsed = |yaml: &str| parse(yaml).map(|scenarios| scenarios.len());
        let check = "- scenario: s\n  checks:\n    - {user: u, sql: SELECT 1, ";
        assert_eq!(parsed(&format!("{check}rows: [[1]]}}\n")).ok(), Some(1));
        assert!(parsed(&format!("{check}}}\n")).is_err());
        assert!(parsed(&format!("{check}rows: [[1]], same_as: SELECT 1}}\n")).is_err());
        assert!(parsed(&format!("{check}rows: [[1]], row_count: 1}}\n")).is_err());
        assert!(parsed(&format!("{check}rows: [[1]], typo: 1}}\n")).is_err());
    }
}
