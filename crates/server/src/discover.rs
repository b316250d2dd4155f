//! `veil discover`: reads a catalog's `information_schema` through Trino's HTTP client protocol
//! and writes data-source entries with exact Trino types, so nobody types column lists by hand.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;
use veil_compiler::sql::{quote_identifier, quote_literal};
use veil_policy::{Bundle, ColumnSpec, DataSourceSpec, Estate};

/// Runs one statement and returns its rows, following `nextUri` until the result is complete.
pub fn query(trino: &str, user: &str, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    let url = format!("{}/v1/statement", trino.trim_end_matches('/'));
    let mut page: Value = ureq::post(&url)
        .set("X-Trino-User", user)
        .send_string(sql)
        .with_context(|| format!("posting a statement to {url}"))?
        .into_json()?;
    let mut rows = Vec::new();
    loop {
        if let Some(error) = page.get("error") {
            bail!(
                "Trino refused `{sql}`: {}",
                error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
            );
        }
        if let Some(Value::Array(data)) = page.get("data") {
            for row in data {
                rows.push(row.as_array().cloned().unwrap_or_default());
            }
        }
        let Some(next) = page.get("nextUri").and_then(Value::as_str) else {
            return Ok(rows);
        };
        page = ureq::get(next)
            .set("X-Trino-User", user)
            .call()
            .with_context(|| format!("following {next}"))?
            .into_json()?;
    }
}

/// The data sources of one catalog (or one schema of it), each named `<schema>.<table>`.
pub fn discover(
    trino: &str,
    user: &str,
    catalog: &str,
    schema: Option<&str>,
) -> anyhow::Result<Vec<DataSourceSpec>> {
    let filter = match schema {
        Some(schema) => format!("table_schema = {}", quote_literal(schema)),
        None => "table_schema <> 'information_schema'".to_owned(),
    };
    let sql = format!(
        "SELECT table_schema, table_name, column_name, data_type \
         FROM {}.information_schema.columns WHERE {filter} \
         ORDER BY table_schema, table_name, ordinal_position",
        quote_identifier(catalog)
    );
    let mut tables: BTreeMap<(String, String), Vec<ColumnSpec>> = BTreeMap::new();
    for row in query(trino, user, &sql)? {
        let text = |index: usize| {
            row.get(index)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .context("information_schema returned a row of an unexpected shape")
        };
        tables
            .entry((text(0)?, text(1)?))
            .or_default()
            .push(ColumnSpec {
                name: text(2)?,
                data_type: text(3)?,
                ..ColumnSpec::default()
            });
    }
    if tables.is_empty() {
        bail!(
            "no tables found in catalog `{catalog}`{}",
            schema.map(|s| format!(" schema `{s}`")).unwrap_or_default()
        );
    }
    Ok(tables
        .into_iter()
        .map(|((schema, table), columns)| DataSourceSpec {
            name: format!("{schema}.{table}"),
            table: format!("{catalog}.{schema}.{table}"),
            columns,
            ..DataSourceSpec::default()
        })
        .collect())
}

/// Adds or refreshes data sources in a policy file. Columns keep the tags and descriptions they
/// already had; the result must validate before anything is written, and it is written whole.
pub fn merge_into(path: &Path, discovered: Vec<DataSourceSpec>) -> anyhow::Result<()> {
    let text = if path.exists() {
        crate::policy_file::read(path)?
    } else {
        String::new()
    };
    let mut file =
        Bundle::from_yaml(&text).with_context(|| format!("parsing {}", path.display()))?;
    for mut fresh in discovered {
        match file
            .data_sources
            .iter_mut()
            .find(|existing| existing.name == fresh.name)
        {
            Some(existing) => {
                for column in &mut fresh.columns {
                    if let Some(old) = existing.columns.iter().find(|old| old.name == column.name) {
                        column.tags = old.tags.clone();
                        column.description = old.description.clone();
                    }
                }
                existing.table = fresh.table;
                existing.columns = fresh.columns;
            }
            None => file.data_sources.push(fresh),
        }
    }
    Estate::new(file.clone(), None)
        .map_err(|errors| anyhow::anyhow!("the merged policy file would be invalid:\n{errors}"))?;
    let temporary = path.with_extension("yaml.tmp");
    std::fs::write(&temporary, file.to_yaml())?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
