//! The cost report: what the governed catalog adds on Trino's side, from Trino's own query
//! statistics. It is printed, never asserted, and not counted as a scenario.

use std::time::Duration;

use anyhow::Result;

use super::ADMIN;
use super::report::Report;
use super::trino::{QueryTimes, Trino};

/// One of the [`QueryTimes`].
type TimePart = fn(&QueryTimes) -> Duration;

pub(super) fn measure(trino: &Trino, report: &Report) {
    const COST: &str = "cost: governed catalog against the backing table";
    if report.selects(COST) {
        println!("  ..    {COST}");
        if let Err(error) = governed_catalog_cost(trino) {
            println!("        not measured: {error:#}");
        }
    }
}

/// The same query through the governed catalog and on the backing table: Trino's own figures for
/// where the time goes. `sales.nations` has no masks or row filters for bob, so the view is a
/// plain projection of `tpch.tiny.nation` and the difference is the governed catalog itself
/// (the view lookup, the PDP call on a cache miss, analysing the view as its owner).
fn governed_catalog_cost(trino: &Trino) -> Result<()> {
    const QUERIES: usize = 20;
    let backing_sql = "SELECT nationkey, name, regionkey, comment FROM tpch.tiny.nation";
    let governed_sql = "SELECT nationkey, name, regionkey, comment FROM veil.sales.nations";
    // Warms Trino (class loading, JIT) and puts bob's view in the plugin's cache.
    for _ in 0..3 {
        trino.timed(ADMIN, backing_sql)?;
        trino.timed("bob", governed_sql)?;
    }
    let mut backing = Vec::new();
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    // Interleaved, so drift on a shared machine hits all three alike. Each `cold-NN` user
    // (tests/e2e/scenario.yaml) queries once: the plugin has nothing cached for them.
    for index in 1..=QUERIES {
        backing.push(trino.timed(ADMIN, backing_sql)?);
        warm.push(trino.timed("bob", governed_sql)?);
        cold.push(trino.timed(&format!("cold-{index:02}"), governed_sql)?);
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
    let rows: [(&str, &[QueryTimes]); 3] = [
        ("backing table (veil_admin, tpch.tiny.nation)", &backing),
        ("governed, warm plugin cache (bob)", &warm),
        ("governed, cold plugin cache (cold-NN)", &cold),
    ];
    for (label, times) in rows {
        let mut line = format!("        {label:<44}");
        for (_, part) in &parts {
            line.push_str(&format!("{:>10.1}", median(times, *part)));
        }
        println!("{line}");
    }
    for (label, times) in [("added, warm", &warm), ("added, cold", &cold)] {
        let mut line = format!("        {label:<44}");
        for (_, part) in &parts {
            line.push_str(&format!(
                "{:>+10.1}",
                median(times, *part) - median(&backing, *part)
            ));
        }
        println!("{line}");
    }
    Ok(())
}
