//! The query audit through a real Trino: the plugin's event listener reports completed queries,
//! and `veil audit queries` shows each with what it read, the filters and masks Trino applied,
//! and the decisions Veil made for it. Runs first, so that alice's answers are not yet cached in
//! the plugin and each query's decisions reach the PDP with its query id.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::ADMIN_TOKEN;
use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::{Answer, Trino};
use super::trust::MASK_KEY;

/// How long a completed query may take to be listed: the listener flushes every second.
const LISTED_WITHIN: Duration = Duration::from_secs(20);

pub(super) fn scenarios(trino: &Trino, native: &Trino, report: &mut Report, pdp: &PdpLauncher) {
    report.check(
        "query audit: a governed-catalog query is recorded with its project, tables, rows and decisions",
        || {
            let sql = "SELECT custkey, phone FROM veil.sales.customers";
            let answer = finished(trino.answer("alice", &[("veil.project", "fraud-2026")], sql)?)?;
            let record = listed(pdp, &answer.id)?;
            expect(&record, "user", "alice")?;
            expect(&record, "project", "fraud-2026")?;
            expect(&record, "state", "FINISHED")?;
            ensure!(
                record["output_rows"] == answer.rows.len(),
                "output_rows {} for {} rows",
                record["output_rows"],
                answer.rows.len()
            );
            ensure!(
                record["data_sources"] == serde_json::json!(["sales.customers"]),
                "data sources {}",
                record["data_sources"]
            );
            let view = table(&record, "veil", "sales", "customers")?;
            ensure!(
                view["governed_view"] == true && view["directly_referenced"] == true,
                "the view as recorded: {view}"
            );
            let backing = table(&record, "tpch", "tiny", "customer")?;
            ensure!(
                backing["directly_referenced"] == false,
                "the backing table is read through the view: {backing}"
            );
            let decisions = record["decisions"].as_array().context("no decisions")?;
            ensure!(
                !decisions.is_empty()
                    && decisions.iter().all(|decision| {
                        decision["data_source"] == "sales.customers"
                            && decision["allowed"] == true
                            && decision["project"] == "fraud-2026"
                    }),
                "the decisions of the query: {decisions:?}"
            );
            let policies = &decisions[0]["policies"];
            ensure!(
                policies
                    .as_array()
                    .is_some_and(|names| names.iter().any(|name| name == "own-segments")),
                "the decision's policies: {policies}"
            );
            Ok(())
        },
    );
    report.check(
        "query audit: a native query is recorded with the row filter and masks Trino applied, and no key",
        || {
            let sql = "SELECT custkey, phone, mktsegment FROM tpch.tiny.customer";
            let answer = finished(native.answer("alice", &[], sql)?)?;
            let record = listed(pdp, &answer.id)?;
            expect(&record, "project", "")?;
            ensure!(
                record["output_rows"] == answer.rows.len(),
                "output_rows {} for {} rows",
                record["output_rows"],
                answer.rows.len()
            );
            let customer = table(&record, "tpch", "tiny", "customer")?;
            let filters = customer["row_filters"].as_array().context("no filters")?;
            ensure!(
                filters
                    .iter()
                    .any(|filter| filter.as_str().is_some_and(|text| text.contains("mktsegment"))),
                "the row filters as recorded: {filters:?}"
            );
            let phone = customer["columns"]
                .as_array()
                .and_then(|columns| columns.iter().find(|column| column["name"] == "phone"))
                .context("phone is not among the columns read")?;
            let mask = phone["mask"].as_str().unwrap_or_default();
            ensure!(
                mask.contains("hash"),
                "phone's mask as recorded: `{mask}`"
            );
            let text = record.to_string();
            ensure!(
                !text.contains(MASK_KEY),
                "the query record holds the mask key"
            );
            ensure!(
                record["decisions"].as_array().is_some_and(|decisions| !decisions.is_empty()),
                "no decision linked to the native query"
            );
            Ok(())
        },
    );
    report.check(
        "query audit: a failed query is recorded with its error code, and the auditor's filters find it",
        || {
            let sql = "SELECT CAST(name AS bigint) FROM veil.sales.customers";
            let answer = trino.answer("alice", &[], sql)?;
            let error = answer.error.as_ref().context("the cast did not fail")?;
            let record = listed(pdp, &answer.id)?;
            expect(&record, "state", "FAILED")?;
            expect(&record, "error_code", &error.name)?;
            let by_source = audit(
                pdp,
                &["--user", "alice", "--data-source", "sales.customers", "--json"],
            )?;
            let ids: Vec<&str> = by_source
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter_map(|record| record["query_id"].as_str().map(str::to_owned))
                .map(|id| if id == answer.id { "failed" } else { "other" })
                .collect();
            ensure!(
                ids.first() == Some(&"failed"),
                "alice's queries on sales.customers, newest first: {ids:?}"
            );
            let printed = audit(pdp, &["--query-id", &answer.id])?;
            ensure!(
                printed.contains(&answer.id)
                    && printed.contains(&error.name)
                    && printed.contains("data sources: sales.customers"),
                "veil audit queries printed:\n{printed}"
            );
            let none = audit(pdp, &["--user", "nobody-at-all"])?;
            ensure!(none.contains("no queries match"), "for nobody: {none}");
            Ok(())
        },
    );
}

fn finished(answer: Answer) -> Result<Answer> {
    if let Some(error) = &answer.error {
        bail!("query {} failed: {error}", answer.id);
    }
    Ok(answer)
}

/// `veil audit queries ARGS` against the run's PDP, as the admin.
fn audit(pdp: &PdpLauncher, args: &[&str]) -> Result<String> {
    let output = pdp
        .cli(ADMIN_TOKEN)
        .args(["audit", "queries", "--server", &pdp.url()])
        .args(args)
        .output()?;
    ensure!(
        output.status.success(),
        "veil audit queries {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The query's record as `veil audit queries --json` prints it, once the listener has sent it.
fn listed(pdp: &PdpLauncher, query_id: &str) -> Result<Value> {
    let deadline = Instant::now() + LISTED_WITHIN;
    loop {
        let printed = audit(pdp, &["--query-id", query_id, "--json"])?;
        if let Some(line) = printed.lines().next() {
            let record: Value = serde_json::from_str(line)
                .with_context(|| format!("veil audit queries --json printed `{line}`"))?;
            // The decisions are written by the audit writer, at most a moment after the query.
            let linked = record["decisions"]
                .as_array()
                .is_some_and(|decisions| !decisions.is_empty());
            if linked || Instant::now() > deadline {
                return Ok(record);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "query {query_id} was not in the query audit within {LISTED_WITHIN:?}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

fn expect(record: &Value, field: &str, expected: &str) -> Result<()> {
    ensure!(
        record[field] == expected,
        "{field} is {}, expected `{expected}`",
        record[field]
    );
    Ok(())
}

/// The record of one table the query read.
fn table<'a>(record: &'a Value, catalog: &str, schema: &str, name: &str) -> Result<&'a Value> {
    record["tables"]
        .as_array()
        .and_then(|tables| {
            tables.iter().find(|table| {
                table["catalog"] == catalog && table["schema"] == schema && table["table"] == name
            })
        })
        .with_context(|| {
            format!(
                "{catalog}.{schema}.{name} is not among {}",
                record["tables"]
            )
        })
}
