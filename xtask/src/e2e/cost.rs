//! The cost report: what the governed catalog adds on Trino's side, from Trino's own query
//! statistics. It is printed, never asserted, and not counted as a scenario.

use std::time::Duration;

use std::collections::BTreeMap;

use anyhow::{Result, ensure};

use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::{QueryTimes, Trino};
use super::{ADMIN, ADMIN_TOKEN};

/// One of the [`QueryTimes`].
type TimePart = fn(&QueryTimes) -> Duration;

pub(super) fn measure(trino: &Trino, native: &Trino, pdp: &PdpLauncher, report: &Report) {
    const COST: &str = "cost: governed catalog and native enforcement against the backing table";
    if report.selects(COST) {
        println!("  ..    {COST}");
        if let Err(error) = governed_catalog_cost(trino, native) {
            println!("        not measured: {error:#}");
        }
        if let Err(error) = pdp_calls(trino, native, pdp) {
            println!("        PDP calls not counted: {error:#}");
        }
    }
}

/// The PDP's call counters (`veil status`), method by method.
fn status(pdp: &PdpLauncher) -> Result<BTreeMap<String, u64>> {
    let output = pdp
        .cli(ADMIN_TOKEN)
        .arg("status")
        .args(["--server", &pdp.url()])
        .output()?;
    ensure!(
        output.status.success(),
        "veil status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (method, count) = line.strip_prefix("calls ")?.split_once(' ')?;
            Some((method.to_owned(), count.parse().ok()?))
        })
        .collect())
}

/// How many PDP calls of each method one statement makes, with nothing cached for the user.
fn calls_of(pdp: &PdpLauncher, run: impl FnOnce() -> Result<()>) -> Result<String> {
    let before = status(pdp)?;
    run()?;
    let after = status(pdp)?;
    let made: Vec<String> = after
        .iter()
        .filter_map(|(method, count)| {
            let delta = count - before.get(method).copied().unwrap_or(0);
            (delta > 0).then(|| format!("{delta} {method}"))
        })
        .collect();
    Ok(if made.is_empty() {
        "none".to_owned()
    } else {
        made.join(", ")
    })
}

/// The user whose calls are counted: a reader of `wide.*` who asks nothing before this step.
const COUNTED: &str = "wanda";

/// `SELECT *` on the wide table, which must give its 10 rows of 60 columns.
fn wide(trino: &Trino, sql: &str) -> Result<()> {
    let rows = trino.rows(COUNTED, &[], sql)?;
    ensure!(
        rows.len() == 10 && rows[0].len() == 60,
        "{COUNTED} got {} rows",
        rows.len()
    );
    Ok(())
}

/// The PDP calls a `SELECT *` on a 60-column table and a listing of 300 tables make, each way,
/// with a cold plugin cache (each statement runs as a user who has asked nothing yet).
fn pdp_calls(trino: &Trino, native: &Trino, pdp: &PdpLauncher) -> Result<()> {
    native.rows(ADMIN, &[], "CREATE SCHEMA memory.many")?;
    for table in 1..=300 {
        native.rows(
            ADMIN,
            &[],
            &format!("CREATE TABLE memory.many.t{table:03} (id bigint)"),
        )?;
    }
    println!(
        "        PDP calls per statement, cold plugin cache (`veil status` before and after):"
    );
    let governed = calls_of(pdp, || wide(trino, "SELECT * FROM veil.wide.table60"))?;
    println!(
        "        {:<62}{governed}",
        "SELECT * on a 60-column table, governed catalog"
    );
    let natively = calls_of(pdp, || wide(native, "SELECT * FROM memory.default.wide60"))?;
    println!(
        "        {:<62}{natively}",
        "SELECT * on a 60-column table, native (30 masked columns)"
    );
    let listing = calls_of(pdp, || {
        native
            .rows(COUNTED, &[], "SHOW TABLES FROM memory.many")
            .map(|_| ())
    })?;
    println!(
        "        {:<62}{listing}",
        "SHOW TABLES over 300 tables, native"
    );
    let views = calls_of(pdp, || {
        trino
            .rows(
                COUNTED,
                &[],
                "SELECT table_name FROM veil.information_schema.views",
            )
            .map(|_| ())
    })?;
    println!(
        "        {:<62}{views}",
        "information_schema.views, governed catalog"
    );
    Ok(())
}

/// The same query through the governed catalog, natively, and on the backing table: Trino's own
/// figures for where the time goes. `sales.nations` has no masks or row filters for bob, so the
/// view is a plain projection of `tpch.tiny.nation` and the difference is the governance itself
/// (the view lookup or the access control's answer, the PDP call on a cache miss, analysing the
/// view as its owner). Each Trino's baseline is the run-as user on the backing table, whom the
/// native access control never governs.
fn governed_catalog_cost(trino: &Trino, native: &Trino) -> Result<()> {
    const QUERIES: usize = 20;
    let backing_sql = "SELECT nationkey, name, regionkey, comment FROM tpch.tiny.nation";
    let governed_sql = "SELECT nationkey, name, regionkey, comment FROM veil.sales.nations";
    // Warms both Trinos (class loading, JIT) and puts bob's answers in the plugins' caches.
    for _ in 0..3 {
        trino.timed(ADMIN, backing_sql)?;
        trino.timed("bob", governed_sql)?;
        native.timed(ADMIN, backing_sql)?;
        native.timed("bob", backing_sql)?;
    }
    let mut backing = Vec::new();
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    let mut native_backing = Vec::new();
    let mut native_warm = Vec::new();
    let mut native_cold = Vec::new();
    // Interleaved, so drift on a shared machine hits all alike. Each `cold-NN` user
    // (tests/e2e/scenario.yaml) queries once in each Trino: nothing is cached for them.
    for index in 1..=QUERIES {
        let cold_user = format!("cold-{index:02}");
        backing.push(trino.timed(ADMIN, backing_sql)?);
        warm.push(trino.timed("bob", governed_sql)?);
        cold.push(trino.timed(&cold_user, governed_sql)?);
        native_backing.push(native.timed(ADMIN, backing_sql)?);
        native_warm.push(native.timed("bob", backing_sql)?);
        native_cold.push(native.timed(&cold_user, backing_sql)?);
    }
    let median = |times: &[QueryTimes], part: TimePart| -> f64 {
        let mut values: Vec<f64> = times
            .iter()
            .map(|times| part(times).as_secs_f64() * 1e3)
            .collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len().is_multiple_of(2) {
            (values[middle - 1] + values[middle]) / 2.0
        } else {
            values[middle]
        }
    };
    let parts: [(&str, TimePart); 5] = [
        ("queued", |times| times.queued),
        ("analysis", |times| times.analysis),
        ("planning", |times| times.planning),
        ("execution", |times| times.execution),
        ("elapsed", |times| times.elapsed),
    ];
    println!(
        "        median of {QUERIES} queries each, ms, from Trino's queryStats (GET /v1/query/{{id}}):"
    );
    let mut header = format!("        {:<44}", "");
    for (name, _) in &parts {
        header.push_str(&format!("{name:>10}"));
    }
    println!("{header}");
    let rows: [(&str, &[QueryTimes]); 6] = [
        ("backing table (veil_admin, tpch.tiny.nation)", &backing),
        ("governed, warm plugin cache (bob)", &warm),
        ("governed, cold plugin cache (cold-NN)", &cold),
        ("native Trino: backing table (veil_admin)", &native_backing),
        ("native, warm plugin cache (bob)", &native_warm),
        ("native, cold plugin cache (cold-NN)", &native_cold),
    ];
    for (label, times) in rows {
        let mut line = format!("        {label:<44}");
        for (_, part) in &parts {
            line.push_str(&format!("{:>10.1}", median(times, *part)));
        }
        println!("{line}");
    }
    for (label, times, baseline) in [
        ("governed catalog added, warm", &warm, &backing),
        ("governed catalog added, cold", &cold, &backing),
        (
            "native enforcement added, warm",
            &native_warm,
            &native_backing,
        ),
        (
            "native enforcement added, cold",
            &native_cold,
            &native_backing,
        ),
    ] {
        let mut line = format!("        {label:<44}");
        for (_, part) in &parts {
            line.push_str(&format!(
                "{:>+10.1}",
                median(times, *part) - median(baseline, *part)
            ));
        }
        println!("{line}");
    }
    Ok(())
}
