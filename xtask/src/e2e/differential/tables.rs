//! An estate's data sources and tables: the memory tables a case creates, and the raw rows
//! the run-as user reads for the model.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::*;

/// The data sources of a bundle: backing table, columns and types by name.
pub(super) struct DataSources(pub(super) BTreeMap<String, (String, Vec<(String, String)>)>);

impl DataSources {
    pub(super) fn of(bundle: &Value) -> Result<DataSources> {
        let mut by_name = BTreeMap::new();
        for data_source in bundle["data_sources"].as_array().into_iter().flatten() {
            let name = data_source["name"]
                .as_str()
                .context("a data source without a name")?;
            let table = data_source["table"]
                .as_str()
                .context("a data source without a table")?;
            let columns = data_source["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|column| {
                    (
                        column["name"].as_str().unwrap_or_default().to_owned(),
                        column["type"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            by_name.insert(name.to_owned(), (table.to_owned(), columns));
        }
        Ok(DataSources(by_name))
    }

    pub(super) fn backing(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|(table, _)| table.as_str())
    }

    pub(super) fn columns(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .map(|(_, columns)| columns.iter().map(|(name, _)| name.clone()).collect())
            .unwrap_or_default()
    }

    pub(super) fn types(&self, name: &str) -> BTreeMap<String, String> {
        self.0
            .get(name)
            .map(|(_, columns)| columns.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// An estate's tables: the memory tables it creates (with their rows) and the tpch ones it reads.
pub(super) struct Tables(pub(super) Vec<Value>);

/// Each backing table's full contents (`catalog.schema.table` → `{columns, rows}`), read as the
/// run-as user, whom Veil never governs.
pub(super) struct RawTables(pub(super) BTreeMap<String, Value>);

impl Tables {
    pub(super) fn of(estate: &Value) -> Result<Tables> {
        let tables = estate["tables"]
            .as_array()
            .context("an estate without tables")?;
        Ok(Tables(tables.clone()))
    }

    pub(super) fn name(table: &Value) -> String {
        ["catalog", "schema", "name"]
            .map(|key| table[key].as_str().unwrap_or_default())
            .join(".")
    }

    pub(super) fn quoted(table: &Value) -> String {
        ["catalog", "schema", "name"]
            .map(|key| identifier(table[key].as_str().unwrap_or_default()))
            .join(".")
    }

    pub(super) fn memory(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().filter(|table| table["rows"].is_array())
    }

    /// Creates the memory tables in one statement each, typed exactly: every value cast to its
    /// column's type (an empty table from a `WHERE false`).
    pub(super) fn create(&self, trino: &Trino) -> Result<()> {
        for table in self.memory() {
            let columns: Vec<(String, String)> = table["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|column| {
                    (
                        column["name"].as_str().unwrap_or_default().to_owned(),
                        column["type"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let names: Vec<String> = columns.iter().map(|(name, _)| identifier(name)).collect();
            let mut rows: Vec<String> = table["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|row| {
                    let values: Vec<String> = columns
                        .iter()
                        .enumerate()
                        .map(|(index, (_, data_type))| typed_literal(&row[index], data_type))
                        .collect();
                    format!("({})", values.join(", "))
                })
                .collect();
            let empty = rows.is_empty();
            if empty {
                let nulls: Vec<String> = columns
                    .iter()
                    .map(|(_, data_type)| typed_literal(&Value::Null, data_type))
                    .collect();
                rows.push(format!("({})", nulls.join(", ")));
            }
            trino.rows(
                ADMIN,
                &[],
                &format!(
                    "CREATE TABLE {} AS SELECT * FROM (VALUES {}) AS t({}){}",
                    Tables::quoted(table),
                    rows.join(", "),
                    names.join(", "),
                    if empty { " WHERE false" } else { "" }
                ),
            )?;
        }
        Ok(())
    }

    pub(super) fn drop(&self, trino: &Trino) -> Result<()> {
        for table in self.memory() {
            trino.rows(
                ADMIN,
                &[],
                &format!("DROP TABLE IF EXISTS {}", Tables::quoted(table)),
            )?;
        }
        Ok(())
    }

    pub(super) fn read(&self, trino: &Trino) -> Result<RawTables> {
        let mut raw = BTreeMap::new();
        for table in &self.0 {
            let answer = trino.answer(
                ADMIN,
                &[],
                &format!("SELECT * FROM {}", Tables::quoted(table)),
            )?;
            if let Some(error) = answer.error {
                bail!("reading {}: {error}", Tables::name(table));
            }
            raw.insert(
                Tables::name(table),
                json!({"columns": answer.columns, "rows": answer.rows}),
            );
        }
        Ok(RawTables(raw))
    }
}

/// A JSON value as a Trino literal of `data_type`.
pub(super) fn typed_literal(value: &Value, data_type: &str) -> String {
    let text = match value {
        Value::Null => "NULL".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) if data_type == "double" => format!("DOUBLE '{number}'"),
        Value::Number(number) => number.to_string(),
        Value::String(text) if data_type == "date" => format!("DATE {}", literal(text)),
        Value::String(text) if data_type.starts_with("decimal") => {
            format!("DECIMAL {}", literal(text))
        }
        Value::String(text) => literal(text),
        other => literal(&other.to_string()),
    };
    format!("CAST({text} AS {data_type})")
}
