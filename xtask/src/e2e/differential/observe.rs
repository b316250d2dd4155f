//! Querying one case through a Trino, either way in, and reading its answer as an outcome
//! comparable with the model's.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Way {
    GovernedCatalog,
    Native,
}

/// Runs `work` against both Trinos at once.
pub(super) fn both(
    first: &Trino,
    second: &Trino,
    work: impl Fn(&Trino) -> Result<()> + Sync,
) -> Result<()> {
    thread::scope(|scope| {
        let other = scope.spawn(|| work(first));
        let result = work(second);
        other
            .join()
            .map_err(|_| anyhow::anyhow!("a table thread panicked"))?
            .and(result)
    })
}

/// One query through one way in.
pub(super) fn observe(
    trino: &Trino,
    way: Way,
    query: &Value,
    data_sources: &DataSources,
) -> Result<Outcome> {
    let user = query["user"].as_str().context("a query without a user")?;
    let name = query["data_source"]
        .as_str()
        .context("a query without a data source")?;
    let project = query["project"].as_str();
    let relation = match way {
        Way::GovernedCatalog => {
            let (schema, table) = name
                .split_once('.')
                .context("a data source name without a schema")?;
            format!("veil.{}.{}", identifier(schema), identifier(table))
        }
        Way::Native => {
            let backing = data_sources
                .backing(name)
                .context("a query of no data source")?;
            backing
                .split('.')
                .map(identifier)
                .collect::<Vec<_>>()
                .join(".")
        }
    };
    let credential = format!("{CREDENTIAL}veil.project");
    let session: Vec<(&str, &str)> = project
        .map(|project| vec![(credential.as_str(), project)])
        .unwrap_or_default();
    let answer = trino.answer(user, &session, &format!("SELECT * FROM {relation}"))?;
    Ok(match answer.error {
        None => {
            let expected = data_sources.columns(name);
            if let Way::GovernedCatalog = way {
                // The view's columns are the data source's, in its order.
                if answer.columns != expected {
                    return Ok(Outcome::Failed(format!("columns {:?}", answer.columns)));
                }
            }
            rows_outcome(
                &answer.columns,
                &expected,
                &answer.rows,
                data_sources.types(name),
            )?
        }
        Some(error)
            if matches!(error.name.as_str(), "TABLE_NOT_FOUND" | "SCHEMA_NOT_FOUND")
                && error.message.contains("does not exist") =>
        {
            Outcome::Absent
        }
        Some(error)
            if error.name == "PERMISSION_DENIED"
                && error.message.contains("may not act under project") =>
        {
            Outcome::Refused
        }
        Some(error) => Outcome::Failed(error.to_string()),
    })
}

/// Rows as canonical text in `expected` column order, sorted; a missing or extra column fails.
pub(super) fn rows_outcome(
    columns: &[String],
    expected: &[String],
    rows: &[Vec<Value>],
    types: BTreeMap<String, String>,
) -> Result<Outcome> {
    let mut sorted_columns = columns.to_vec();
    sorted_columns.sort();
    let mut sorted_expected = expected.to_vec();
    sorted_expected.sort();
    if sorted_columns != sorted_expected {
        return Ok(Outcome::Failed(format!(
            "columns {columns:?}, expected {expected:?}"
        )));
    }
    let positions: Vec<usize> = expected
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|column| column == name)
                .unwrap_or_default()
        })
        .collect();
    let mut canonical: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            positions
                .iter()
                .zip(expected)
                .map(|(&position, name)| {
                    canonical_value(row.get(position).unwrap_or(&Value::Null), types.get(name))
                })
                .collect()
        })
        .collect();
    canonical.sort();
    Ok(Outcome::Rows(canonical))
}

/// A value's text for comparison: doubles to 12 significant digits (the model and Trino may
/// round the last bit differently), everything else exactly as JSON.
pub(super) fn canonical_value(value: &Value, data_type: Option<&String>) -> String {
    match (value, data_type.map(String::as_str)) {
        (Value::Number(number), Some("double" | "real")) => {
            format!("{:.11e}", number.as_f64().unwrap_or(f64::NAN))
        }
        _ => value.to_string(),
    }
}

/// A Trino identifier, double-quoted with `"` doubled.
pub(super) fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A Trino string literal, single-quoted with `'` doubled.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(super) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// The current date of the Trino the run queries (UTC), which the generator keeps time windows
/// away from and the model evaluates them on.
pub(super) fn today(trino: &Trino) -> Result<String> {
    let rows = trino.rows(
        ADMIN,
        &[],
        "SELECT CAST(CAST(current_timestamp AT TIME ZONE 'UTC' AS date) AS varchar)",
    )?;
    rows.first()
        .and_then(|row| row.first())
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("Trino returned no current date")
}
