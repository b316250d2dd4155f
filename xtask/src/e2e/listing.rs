//! The subscription scenario that compares two errors with each other: a table the user is not
//! subscribed to must fail exactly like one that does not exist. The listings that are plain
//! comparisons are in `tests/e2e/listing.yaml`.

use anyhow::ensure;

use super::report::Report;
use super::trino::Trino;

pub(super) fn scenarios(trino: &Trino, report: &mut Report) {
    // Subscriptions: deny by default, and absence looks exactly like non-existence.
    report.check(
        "subscription: an unsubscribed user is told the table does not exist",
        || {
            let hidden = trino.fails("bob", &[], "SELECT * FROM veil.sales.customers")?;
            let missing = trino.fails("bob", &[], "SELECT * FROM veil.sales.no_such_table")?;
            ensure!(
                hidden.message.contains("does not exist"),
                "unexpected error: {hidden}"
            );
            ensure!(
                hidden.message.replace("customers", "no_such_table") == missing.message,
                "a hidden table is distinguishable from a missing one: `{hidden}` vs `{missing}`"
            );
            Ok(())
        },
    );
}
