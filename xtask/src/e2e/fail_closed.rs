//! Fail closed: the PDP stops mid-run and every governed query fails with a Veil error, in both
//! ways in, then the PDP restarts on the same store and the next query works again.

use anyhow::ensure;

use super::fixtures::hashed;
use super::pdp::PdpLauncher;
use super::processes::Processes;
use super::report::Report;
use super::trino::Trino;

pub(super) fn scenarios(
    trino: &Trino,
    native: &Trino,
    report: &mut Report,
    processes: &mut Processes,
    pdp: &PdpLauncher,
) {
    let none: &[(&str, &str)] = &[];
    // Fail closed: the PDP goes away mid-run. Sam may see sales.customers but has not asked for it
    // yet, so nothing is cached for it (a cached view would be served until its TTL).
    const PDP_DOWN: &str = "PDP down: queries fail closed with a Veil error";
    const PDP_BACK: &str = "PDP back: the next query works again";
    if !report.selects(PDP_DOWN) && !report.selects(PDP_BACK) {
        return;
    }
    let stopped = processes.stop("veil");
    report.check(PDP_DOWN, || {
        stopped?;
        for (user, sql) in [
            ("sam", "SELECT * FROM veil.sales.customers"),
            ("alice", "SHOW TABLES FROM veil.sales"),
            ("alice", "SHOW SCHEMAS FROM veil"),
            (
                "tina",
                "SELECT column_name FROM veil.information_schema.columns WHERE table_schema = 'ops'",
            ),
        ] {
            let error = trino.fails(user, none, sql)?;
            ensure!(
                error.message.contains("Veil: the policy decision point")
                    && error.message.contains("unreachable"),
                "{user}: `{sql}`: the error does not say the PDP is unreachable: {error}"
            );
        }
        // Natively too, for a user with nothing cached: never the backing rows, never "absent".
        for sql in [
            "SELECT * FROM tpch.tiny.customer",
            "SHOW TABLES FROM tpch.tiny",
        ] {
            let error = native.fails("quinn", none, sql)?;
            ensure!(
                error.message.contains("Veil: the policy decision point")
                    && error.message.contains("unreachable"),
                "quinn natively: `{sql}`: the error does not say the PDP is unreachable: {error}"
            );
        }
        Ok(())
    });
    let restarted = pdp.start(processes);
    report.check(PDP_BACK, || {
        restarted?;
        trino.same_rows(
            "sam",
            none,
            "SELECT custkey, phone FROM veil.sales.customers ORDER BY custkey",
            &format!(
                "SELECT custkey, {} FROM tpch.tiny.customer ORDER BY custkey",
                hashed("phone", "varchar(15)")
            ),
        )
    });
}
