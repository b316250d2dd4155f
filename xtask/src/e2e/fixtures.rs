//! What several scenarios rely on: the backing table the run creates beyond tpch, alice's row
//! filters and phones as `tests/e2e/scenario.yaml` defines them, and the value a hash must equal.

use anyhow::{Result, ensure};
use serde_json::Value;

use super::ADMIN;
use super::trino::Trino;
use super::trust;

/// Alice's row filter on `sales.customers` (`own-segments`, her `segment` attribute).
pub(super) const ALICE_SEGMENTS: &str = "mktsegment IN ('BUILDING', 'MACHINERY')";
/// Alice's row filter on `sales.orders` (`no-low-priority`).
pub(super) const ALICE_ORDERS: &str = "orderpriority <> '5-LOW'";

/// The time the events of [`create_backing_tables`] count back from: now, as a literal, so the
/// run's Trinos hold exactly the same rows.
pub(super) fn now_literal(trino: &Trino) -> Result<String> {
    let rows = trino.rows(
        ADMIN,
        &[],
        "SELECT CAST(CAST(current_timestamp AS timestamp(3)) AS varchar)",
    )?;
    rows.first()
        .and_then(|row| row.first())
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no current timestamp"))
}

/// Backing tables the scenarios need beyond tpch: events with timestamps relative to `now` (from
/// [`now_literal`]), in regions whose names would break a naively quoted literal.
pub(super) fn create_backing_tables(trino: &Trino, now: &str) -> Result<()> {
    trino.rows(
        ADMIN,
        &[],
        &format!("CREATE TABLE memory.default.events AS \
         SELECT n AS id, \
                CAST(TIMESTAMP '{now}' - n * INTERVAL '1' HOUR - INTERVAL '30' MINUTE AS timestamp(3)) AS ts, \
                CAST(element_at(ARRAY['EU', 'US', 'x'' OR 1=1 --', 'a''''b', '\\'''], CAST(n % 5 + 1 AS integer)) AS varchar) AS region, \
                CAST(n * 10 + 0.5 AS double) AS amount \
         FROM UNNEST(sequence(0, 49)) AS t(n)"),
    )?;
    // `privacy.contacts`: emails for the reversible mask, repeated, hostile, non-ASCII and NULL.
    trino.rows(
        ADMIN,
        &[],
        "CREATE TABLE memory.default.contacts AS SELECT id, CAST(email AS varchar) AS email FROM (VALUES \
         (1, 'ana@example.org'), (2, 'ben@example.org'), (3, 'ana@example.org'), \
         (4, 'x'' OR 1=1 --'), (5, 'zoë@exämple.org'), (6, NULL), (7, '')) AS t(id, email)",
    )?;
    // `wide.table60`: 60 varchar columns, 10 rows.
    let columns: Vec<String> = (1..=60)
        .map(|column| format!("'v{column:02}-' || CAST(n AS varchar) AS c{column:02}"))
        .collect();
    trino.rows(
        ADMIN,
        &[],
        &format!(
            "CREATE TABLE memory.default.wide60 AS SELECT {} FROM UNNEST(sequence(1, 10)) AS t(n)",
            columns.join(", ")
        ),
    )?;
    Ok(())
}

/// The phones a user sees in `veil.sales.customers`, in key order.
pub(super) fn governed_phones(trino: &Trino, user: &str) -> Result<Vec<Vec<Value>>> {
    trino.rows(
        user,
        &[],
        "SELECT phone FROM veil.sales.customers ORDER BY custkey",
    )
}

/// The unmasked phones of alice's rows, read by the admin from the backing table.
pub(super) fn raw_phones(trino: &Trino) -> Result<Vec<Vec<Value>>> {
    trino.rows(
        ADMIN,
        &[],
        &format!("SELECT phone FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"),
    )
}

/// The scenario with alice also in `auditors`, whom the phone hash exempts.
pub(super) fn with_alice_as_auditor(scenario: &str) -> Result<String> {
    let from = "{name: alice, groups: [analysts],";
    ensure!(
        scenario.contains(from),
        "the scenario no longer has `{from}`"
    );
    Ok(scenario.replace(from, "{name: alice, groups: [analysts, auditors],"))
}

/// What the hash mask of `column` (of `data_type`) must equal: its HMAC-SHA256 under the
/// plugin's `default` key, cut to the column's type as every mask keeps its column's type.
pub(super) fn hashed(column: &str, data_type: &str) -> String {
    format!(
        "CAST({} AS {data_type})",
        trust::hmac(column, trust::MASK_KEY)
    )
}
