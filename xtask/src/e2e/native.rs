//! Native enforcement: the second Trino of the run governs the backing tables themselves with
//! Veil's access control (`deploy/trino/native/`). Both ways must give every user the same rows;
//! what is hidden reads as absent; writes to governed tables are refused; Trino's own groups
//! reach the decision.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::report::Report;
use super::trino::{QueryError, Trino};

/// The users the comparison runs as: the scenario's users with different views, plus `zoe`,
/// whom only Trino's group provider puts in a group, and `nobody`, whom nothing admits. (`sam`
/// is left out: the fail-closed scenario needs him not to have asked the governed catalog yet.)
const USERS: [&str; 9] = [
    "alice",
    "carol",
    "bob",
    "tina",
    "mallory",
    "hector",
    "zoe",
    "nobody",
    "veil_admin",
];

/// The governed tables (governed name → backing name) of a policy file.
pub(super) fn governed_tables(policy_file: &str) -> Result<Vec<(String, String)>> {
    let document: Value = serde_norway::from_str(policy_file).context("the policy file")?;
    let Some(Value::Array(data_sources)) = document.get("data_sources") else {
        bail!("the policy file has no data sources");
    };
    data_sources
        .iter()
        .map(|data_source| {
            let text = |key: &str| {
                data_source
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .with_context(|| format!("a data source without `{key}`"))
            };
            Ok((text("name")?, text("table")?))
        })
        .collect()
}

/// Rows, or that the table reads as absent (any other error fails the scenario).
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows(Vec<Vec<Value>>),
    Absent,
}

fn outcome(trino: &Trino, user: &str, sql: &str) -> Result<Outcome> {
    match trino.execute(user, &[], sql)? {
        (rows, None) => Ok(Outcome::Rows(rows)),
        (_, Some(error)) if absent(&error) => Ok(Outcome::Absent),
        (_, Some(error)) => bail!("{user}: `{sql}` failed: {error}"),
    }
}

/// A table reads as absent: it, or (in the governed catalog) its whole schema, does not exist.
fn absent(error: &QueryError) -> bool {
    matches!(error.name.as_str(), "TABLE_NOT_FOUND" | "SCHEMA_NOT_FOUND")
        && error.message.contains("does not exist")
}

/// `QueryError::message` without the analyzer's `line N:M: ` prefix, which an access control,
/// given no query text, cannot write.
fn without_location(message: &str) -> &str {
    match message.split_once(": ") {
        Some((location, rest)) if location.starts_with("line ") => rest,
        _ => message,
    }
}

pub(super) fn scenarios(
    governed: &Trino,
    native: &Trino,
    tables: &[(String, String)],
    report: &mut Report,
) {
    report.check(
        "native: both ways give every user exactly the same rows of every table",
        || {
            let mut compared = 0;
            for user in USERS {
                for (name, backing) in tables {
                    let [catalog, schema, table] = backing.split('.').collect::<Vec<_>>()[..] else {
                        bail!("backing table `{backing}` is not catalog.schema.table");
                    };
                    // Every data source of the scenario lists all of its table's columns.
                    let columns = governed
                        .rows(
                            super::ADMIN,
                            &[],
                            &format!("SELECT count(*) FROM {catalog}.information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}'"),
                        )?
                        .first()
                        .and_then(|row| row.first())
                        .and_then(Value::as_i64)
                        .context("a column count")?;
                    let order: Vec<String> = (1..=columns).map(|n| n.to_string()).collect();
                    let order = order.join(", ");
                    let through_view =
                        outcome(governed, user, &format!("SELECT * FROM veil.{name} ORDER BY {order}"))?;
                    let natively =
                        outcome(native, user, &format!("SELECT * FROM {backing} ORDER BY {order}"))?;
                    if user == super::ADMIN {
                        // The run-as user is never governed: natively it reads everything.
                        ensure!(natively != Outcome::Absent, "the run-as user is governed");
                        continue;
                    }
                    ensure!(
                        through_view == natively,
                        "{user} on {name}: the governed catalog gives {through_view:?}, native enforcement {natively:?}"
                    );
                    compared += 1;
                }
            }
            println!("        {compared} (user, table) pairs equal both ways");
            Ok(())
        },
    );
    report.check(
        "native: a masked column in WHERE, JOIN and GROUP BY gives what the view gives",
        || {
            for (user, sql) in [
                (
                    "alice",
                    "SELECT c.phone, count(*) FROM {customer} c JOIN {orders} o ON c.custkey = o.custkey \
                     WHERE c.phone <> '' AND o.clerk LIKE '%0%' GROUP BY c.phone ORDER BY 1",
                ),
                (
                    "alice",
                    "SELECT acctbal, count(*) FROM {customer} WHERE acctbal > 1000 GROUP BY acctbal ORDER BY 1",
                ),
                (
                    "sam",
                    "SELECT orderdate, sum(totalprice) FROM {orders} GROUP BY orderdate ORDER BY 1",
                ),
            ] {
                let governed_sql = sql
                    .replace("{customer}", "veil.sales.customers")
                    .replace("{orders}", "veil.sales.orders");
                let native_sql = sql
                    .replace("{customer}", "tpch.tiny.customer")
                    .replace("{orders}", "tpch.tiny.orders");
                let expected = governed.rows(user, &[], &governed_sql)?;
                ensure!(!expected.is_empty(), "{user}: `{governed_sql}` returned nothing");
                let rows = native.rows(user, &[], &native_sql)?;
                ensure!(rows == expected, "{user}: `{native_sql}` differs from the view's rows");
            }
            Ok(())
        },
    );
    report.check(
        "native: SHOW TABLES and information_schema in the backing catalog list only what the user may see",
        || {
            let names = |rows: Vec<Vec<Value>>| -> Vec<String> {
                rows.into_iter()
                    .filter_map(|row| row.first().and_then(Value::as_str).map(str::to_owned))
                    .collect()
            };
            for (user, expected) in [
                ("alice", vec!["customer", "nation", "orders"]),
                ("bob", vec!["nation"]),
                ("zoe", vec!["nation"]),
                ("nobody", vec![]),
            ] {
                let shown = names(native.rows(user, &[], "SHOW TABLES FROM tpch.tiny")?);
                ensure!(shown == expected, "{user}: SHOW TABLES FROM tpch.tiny shows {shown:?}");
                let listed = names(native.rows(
                    user,
                    &[],
                    "SELECT table_name FROM tpch.information_schema.tables WHERE table_schema = 'tiny' ORDER BY 1",
                )?);
                ensure!(listed == expected, "{user}: information_schema.tables lists {listed:?}");
            }
            let columns = names(native.rows(
                "alice",
                &[],
                "SELECT column_name FROM tpch.information_schema.columns WHERE table_schema = 'tiny' AND table_name = 'customer' ORDER BY ordinal_position",
            )?);
            ensure!(columns.len() == 8, "alice sees the columns {columns:?}");
            Ok(())
        },
    );
    report.check(
        "native: every user's schemas, tables and columns in the backing catalogs are the governed catalog's",
        || {
            let backing_of = |governed_name: &str| {
                tables
                    .iter()
                    .find(|(name, _)| name == governed_name)
                    .map(|(_, backing)| backing.clone())
            };
            let catalogs: BTreeSet<&str> = tables
                .iter()
                .filter_map(|(_, backing)| backing.split('.').next())
                .collect();
            for user in USERS.into_iter().filter(|user| *user != super::ADMIN) {
                // What the governed catalog lists, renamed to the backing tables.
                let mut expected = BTreeSet::new();
                for row in governed.rows(
                    user,
                    &[],
                    "SELECT table_schema || '.' || table_name, column_name, data_type FROM veil.information_schema.columns \
                     WHERE table_schema <> 'information_schema'",
                )? {
                    let text = |index: usize| row.get(index).and_then(Value::as_str).unwrap_or_default().to_owned();
                    let backing = backing_of(&text(0))
                        .with_context(|| format!("{user} lists `{}`, which is no data source", text(0)))?;
                    expected.insert((backing, text(1), text(2)));
                }
                let mut listed = BTreeSet::new();
                let mut schemas = BTreeSet::new();
                for catalog in &catalogs {
                    for row in native.rows(
                        user,
                        &[],
                        &format!(
                            "SELECT table_catalog || '.' || table_schema || '.' || table_name, column_name, data_type \
                             FROM {catalog}.information_schema.columns WHERE table_schema <> 'information_schema'"
                        ),
                    )? {
                        let text = |index: usize| row.get(index).and_then(Value::as_str).unwrap_or_default().to_owned();
                        listed.insert((text(0), text(1), text(2)));
                    }
                    for row in native.rows(user, &[], &format!("SHOW SCHEMAS FROM {catalog}"))? {
                        if let Some(schema) = row.first().and_then(Value::as_str) {
                            schemas.insert(format!("{catalog}.{schema}"));
                        }
                    }
                }
                ensure!(
                    listed == expected,
                    "{user}: the backing catalogs list {listed:?}, the governed catalog {expected:?}"
                );
                let mut expected_schemas: BTreeSet<String> = catalogs
                    .iter()
                    .map(|catalog| format!("{catalog}.information_schema"))
                    .collect();
                for (table, _, _) in &expected {
                    expected_schemas.insert(table.rsplit_once('.').map(|(schema, _)| schema.to_owned()).unwrap_or_default());
                }
                ensure!(
                    schemas == expected_schemas,
                    "{user}: SHOW SCHEMAS shows {schemas:?}, expected {expected_schemas:?}"
                );
            }
            Ok(())
        },
    );
    report.check(
        "native: a hidden and an unregistered table read exactly like one that does not exist",
        || {
            let missing = native.fails("bob", &[], "SELECT * FROM tpch.tiny.no_such_table")?;
            for (user, table) in [
                ("bob", "customer"),
                ("alice", "region"),
                ("nobody", "nation"),
            ] {
                let hidden =
                    native.fails(user, &[], &format!("SELECT * FROM tpch.tiny.{table}"))?;
                ensure!(
                    hidden.name == missing.name
                        && without_location(&hidden.message).replace(table, "no_such_table")
                            == without_location(&missing.message),
                    "{user} on tpch.tiny.{table}: `{hidden}` is distinguishable from `{missing}`"
                );
            }
            Ok(())
        },
    );
    report.check(
        "native: writes to a governed table are refused to end users",
        || {
            for sql in [
                "INSERT INTO memory.default.events SELECT * FROM memory.default.events LIMIT 1",
                "DELETE FROM memory.default.events WHERE id = 0",
                "DROP TABLE memory.default.events",
            ] {
                // Trino's file rules let end users write to the memory catalog: Veil refuses.
                let refused = native.fails("tina", &[], sql)?;
                ensure!(
                    refused.message.contains("Access Denied")
                        && refused.message.contains("governed tables are read-only"),
                    "tina: `{sql}`: {refused}"
                );
            }
            Ok(())
        },
    );
    report.check(
        "native: groups Trino resolves reach the decision in both ways",
        || {
            for (trino, table) in [
                (governed, "veil.sales.nations"),
                (native, "tpch.tiny.nation"),
            ] {
                let rows = trino.rows("zoe", &[], &format!("SELECT count(*) FROM {table}"))?;
                ensure!(
                    rows == vec![vec![Value::from(25)]],
                    "zoe on {table}: {rows:?}"
                );
            }
            let hidden = native.fails("zoe", &[], "SELECT count(*) FROM tpch.tiny.customer")?;
            ensure!(absent(&hidden), "zoe on tpch.tiny.customer: {hidden}");
            Ok(())
        },
    );
}

/// `veil.unregistered-tables=allow`: tables no data source governs pass untouched, and the
/// governed ones stay governed.
pub(super) fn allowing_unregistered(governed: &Trino, allowing: &Trino, report: &mut Report) {
    report.check(
        "native: with unregistered tables allowed, they pass untouched and governed ones stay governed",
        || {
            let regions = allowing.rows("alice", &[], "SELECT count(*) FROM tpch.tiny.region")?;
            ensure!(regions == vec![vec![Value::from(5)]], "alice on tpch.tiny.region: {regions:?}");
            let shown = allowing.rows("bob", &[], "SHOW TABLES FROM tpch.tiny")?;
            let shown: Vec<&str> = shown.iter().filter_map(|row| row.first()?.as_str()).collect();
            ensure!(
                shown.contains(&"region") && shown.contains(&"nation") && !shown.contains(&"customer"),
                "bob's tables with unregistered allowed: {shown:?}"
            );
            let hidden = allowing.fails("bob", &[], "SELECT * FROM tpch.tiny.customer")?;
            ensure!(absent(&hidden), "bob on tpch.tiny.customer: {hidden}");
            Ok(())
        },
    );
    report.check(
        "native: CREATE TABLE AS SELECT from a governed table into an ungoverned one copies the masked, filtered rows",
        || {
            // The file rules give end users `memory.scratch` to write to; no data source governs it.
            allowing.rows(super::ADMIN, &[], "CREATE SCHEMA IF NOT EXISTS memory.scratch")?;
            let copy = "memory.scratch.alice_customers";
            allowing.rows(
                "alice",
                &[],
                &format!("CREATE TABLE {copy} AS SELECT * FROM tpch.tiny.customer"),
            )?;
            let copied = allowing.rows("alice", &[], &format!("SELECT * FROM {copy} ORDER BY custkey"))?;
            let governed_rows =
                governed.rows("alice", &[], "SELECT * FROM veil.sales.customers ORDER BY custkey")?;
            let raw = allowing.rows(super::ADMIN, &[], "SELECT * FROM tpch.tiny.customer ORDER BY custkey")?;
            ensure!(!copied.is_empty(), "alice's copy is empty");
            ensure!(
                copied == governed_rows,
                "alice's copy ({} rows) is not what the governed catalog shows her ({} rows)",
                copied.len(),
                governed_rows.len()
            );
            ensure!(copied.len() < raw.len(), "alice's copy holds every row");
            allowing.rows("alice", &[], &format!("DROP TABLE {copy}"))?;
            Ok(())
        },
    );
}
