//! `veil discover` against the run's Trino: the data sources it writes for `tpch.tiny` carry
//! exactly the types of `information_schema`, `--into` merges into a file `veil check` accepts,
//! and a user denied the catalog gets a clear error and no output.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::Value;

use super::ADMIN;
use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::Trino;

pub(super) fn scenarios(trino: &Trino, native: &Trino, report: &mut Report, pdp: &PdpLauncher) {
    // `veil discover` against a Trino: the types it writes are exactly Trino's.
    let discovered_from = |trino: &Trino, user: &str, into: Option<&Path>| -> Result<Output> {
        let mut command = Command::new(&pdp.binary);
        command
            .args(["discover", "--trino", &trino.base, "--user", user])
            .args(["--catalog", "tpch", "--schema", "tiny"]);
        if let Some(path) = into {
            command.arg("--into").arg(path);
        }
        command
            .output()
            .with_context(|| format!("running {command:?}"))
    };
    let discovered = |user: &str, into: Option<&Path>| discovered_from(trino, user, into);
    let expected_tiny = || -> Result<Vec<DiscoveredTable>> {
        let rows = trino.rows(
            ADMIN,
            &[],
            "SELECT table_name, column_name, data_type FROM tpch.information_schema.columns \
             WHERE table_schema = 'tiny' ORDER BY table_name, ordinal_position",
        )?;
        let mut tables: Vec<DiscoveredTable> = Vec::new();
        for row in rows {
            let text = |index: usize| {
                row.get(index)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("information_schema returned {row:?}"))
            };
            let table = text(0)?;
            if tables
                .last()
                .is_none_or(|last| last.name != format!("tiny.{table}"))
            {
                tables.push(DiscoveredTable {
                    name: format!("tiny.{table}"),
                    table: format!("tpch.tiny.{table}"),
                    columns: Vec::new(),
                });
            }
            if let Some(last) = tables.last_mut() {
                last.columns.push((text(1)?, text(2)?));
            }
        }
        Ok(tables)
    };
    report.check(
        "discover: every tpch.tiny table with the exact types of information_schema",
        || {
            let output = discovered(ADMIN, None)?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            ensure!(
                output.status.success(),
                "veil discover failed with {}: {stderr}",
                output.status
            );
            let found = parse_discovered(&String::from_utf8(output.stdout)?)?;
            let expected = expected_tiny()?;
            for (name, column, data_type) in [
                ("tiny.customer", "acctbal", "double"),
                ("tiny.customer", "name", "varchar(25)"),
                ("tiny.orders", "orderdate", "date"),
                ("tiny.orders", "shippriority", "integer"),
            ] {
                let table = found
                    .iter()
                    .find(|table| table.name == name)
                    .ok_or_else(|| anyhow!("`{name}` was not discovered"))?;
                ensure!(
                    table
                        .columns
                        .iter()
                        .any(|(found_column, found_type)| found_column == column
                            && found_type == data_type),
                    "`{name}.{column}` is not `{data_type}`: {:?}",
                    table.columns
                );
            }
            ensure!(
                found == expected,
                "discovered\n        {found:?}\n      information_schema has\n        {expected:?}"
            );
            println!(
                "        {} tables, {} columns",
                found.len(),
                found.iter().map(|table| table.columns.len()).sum::<usize>()
            );
            Ok(())
        },
    );
    report.check(
        "native: discover as the run-as user finds every table; as an end user, only what she may see",
        || {
            let found = |user: &str| -> Result<Vec<DiscoveredTable>> {
                let output = discovered_from(native, user, None)?;
                ensure!(
                    output.status.success(),
                    "veil discover as {user} against native enforcement failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                parse_discovered(&String::from_utf8(output.stdout)?)
            };
            let expected = expected_tiny()?;
            ensure!(found(ADMIN)? == expected, "the run-as user's discover is not information_schema's");
            let alice = found("alice")?;
            let names: Vec<&str> = alice.iter().map(|table| table.name.as_str()).collect();
            ensure!(
                names == ["tiny.customer", "tiny.nation", "tiny.orders"],
                "alice discovers {names:?}"
            );
            Ok(())
        },
    );
    report.check(
        "discover --into: merged into a copy of the scenario, which `veil check` accepts",
        || {
            let copy = pdp.config.with_file_name("discovered.yaml");
            fs::copy(&pdp.config, &copy)?;
            let output = discovered(ADMIN, Some(&copy))?;
            ensure!(
                output.status.success(),
                "veil discover --into failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            let merged = fs::read_to_string(&copy)?;
            let tiny: Vec<DiscoveredTable> = parse_discovered(&merged)?
                .into_iter()
                .filter(|table| table.name.starts_with("tiny."))
                .collect();
            let expected = expected_tiny()?;
            ensure!(
                tiny == expected,
                "the merged file's tiny.* data sources differ from information_schema"
            );
            let check = |path: &Path| -> Result<String> {
                let output = Command::new(&pdp.binary).arg("check").arg(path).output()?;
                let report = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                ensure!(
                    output.status.success(),
                    "veil check refused {}: {report}",
                    path.display()
                );
                // `<file>: ok (N data sources, M policies, K warning(s))`, after any warnings
                Ok(report
                    .split_once(": ok ")
                    .map(|(_, counts)| counts.to_owned())
                    .unwrap_or(report))
            };
            let before = check(&pdp.config)?;
            let after = check(&copy)?;
            let policies = |counts: &str| {
                counts
                    .split(", ")
                    .nth(1)
                    .map(str::to_owned)
                    .unwrap_or_default()
            };
            // The scenario's own data sources, and every tpch.tiny table discovered beside them.
            let scenario_sources: usize = before
                .trim_start_matches('(')
                .split(' ')
                .next()
                .and_then(|count| count.parse().ok())
                .unwrap_or_default();
            let wanted = format!("({} data sources", scenario_sources + expected.len());
            ensure!(
                after.starts_with(&wanted) && policies(&after) == policies(&before),
                "expected {wanted} and the scenario's policies ({before}), got {after}"
            );
            println!("        scenario {before}, merged {after}");
            Ok(())
        },
    );
    report.check(
        "discover: an end user denied the catalog gets a clear error and no output",
        || {
            let output = discovered("alice", None)?;
            let stderr = String::from_utf8_lossy(&output.stderr);
            ensure!(
                !output.status.success(),
                "alice's discover succeeded: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            ensure!(
                output.stdout.is_empty(),
                "alice's failed discover printed {}",
                String::from_utf8_lossy(&output.stdout)
            );
            ensure!(
                stderr.contains("Access Denied") && stderr.contains("tpch"),
                "the error does not say access to tpch was denied: {stderr}"
            );
            // With --into, the file is left exactly as it was.
            let copy = pdp.config.with_file_name("denied.yaml");
            fs::copy(&pdp.config, &copy)?;
            let output = discovered("alice", Some(&copy))?;
            ensure!(
                !output.status.success(),
                "alice's discover --into succeeded"
            );
            ensure!(
                fs::read(&copy)? == fs::read(&pdp.config)?,
                "a refused discover --into changed the file"
            );
            Ok(())
        },
    );
}

/// A data source as `veil discover` writes it: name, backing table, (column, type) in order.
#[derive(Debug, PartialEq)]
struct DiscoveredTable {
    name: String,
    table: String,
    columns: Vec<(String, String)>,
}

/// The `data_sources` of a policy file: each one's name, backing table and typed columns.
fn parse_discovered(yaml: &str) -> Result<Vec<DiscoveredTable>> {
    let bundle: Value = serde_norway::from_str(yaml).context("the output is not YAML")?;
    let Some(sources) = bundle.get("data_sources") else {
        return Ok(Vec::new());
    };
    let text = |value: &Value, key: &str| -> Result<String> {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no text `{key}` in {value}"))
    };
    let items = |value: &Value, what: &str| -> Result<Vec<Value>> {
        value
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow!("`{what}` is not a list: {value}"))
    };
    let mut tables = Vec::new();
    for source in items(sources, "data_sources")? {
        let mut columns = Vec::new();
        let listed = source
            .get("columns")
            .ok_or_else(|| anyhow!("a data source without columns: {source}"))?;
        for column in items(listed, "columns")? {
            columns.push((text(&column, "name")?, text(&column, "type")?));
        }
        tables.push(DiscoveredTable {
            name: text(&source, "name")?,
            table: text(&source, "table")?,
            columns,
        });
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_data_sources_in_block_and_flow_style() {
        let yaml = "data_sources:\n\
                    - name: tiny.nation\n  table: tpch.tiny.nation\n  columns:\n\
                    \x20 - name: nationkey\n    type: bigint\n\
                    \x20 - {name: 'it''s', type: \"varchar(25)\", tags: [PII]}\n\
                    users:\n- {name: alice}\n";
        let tables = parse_discovered(yaml).expect("parses");
        assert_eq!(
            tables,
            vec![DiscoveredTable {
                name: "tiny.nation".into(),
                table: "tpch.tiny.nation".into(),
                columns: vec![
                    ("nationkey".into(), "bigint".into()),
                    ("it's".into(), "varchar(25)".into()),
                ],
            }]
        );
        assert!(parse_discovered("users: []\n").expect("parses").is_empty());
    }

    #[test]
    fn reads_the_scenario() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/scenario.yaml");
        let scenario = fs::read_to_string(path).expect("the scenario is readable");
        let names: Vec<String> = parse_discovered(&scenario)
            .expect("parses")
            .into_iter()
            .map(|table| table.name)
            .collect();
        assert_eq!(
            names,
            [
                "sales.customers",
                "sales.orders",
                "sales.nations",
                "ops.events",
                "wide.table60",
                "privacy.suppliers",
                "privacy.parts",
                "privacy.contacts"
            ]
        );
    }
}
