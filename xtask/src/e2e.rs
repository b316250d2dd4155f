//! The end-to-end run: a real Trino server with the Veil plugin against a real PDP.
//!
//! `cargo xtask e2e [NAME-FILTER...]` fetches Trino once (cached under `$VEIL_CACHE_DIR`, default
//! `~/.cache/veil`), builds the plugin (Maven) and the `veil` binary, lays out a Trino install under
//! `target/e2e` from the files in `deploy/trino/`, serves `tests/e2e/scenario.yaml`, and checks the
//! rows each user gets back against what the run-as admin computes directly on the backing tables.
//! Every process it starts runs in its own process group and is stopped on success, error, panic,
//! Ctrl-C and SIGTERM.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Value, json};

mod trust;

const TRINO_VERSION: &str = "476";
/// Trino 476 needs Java 24 or newer; this is where CI images keep Temurin 25.
const DEFAULT_JAVA_HOME: &str = "/usr/lib/jvm/temurin-25-jdk-amd64";
/// The run-as user of `deploy/trino/catalog/veil.properties`: owns every view, reads the backing catalogs.
const ADMIN: &str = "veil_admin";
/// The plugin's bearer token (given to Trino as `VEIL_PDP_TOKEN`) and the admin's (`veil apply`).
const PLUGIN_TOKEN: &str = "e2e-plugin-token-0123456789";
const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";
const PROJECT: &str = "fraud-2026";

const PDP_START_DEADLINE: Duration = Duration::from_secs(60);
const TRINO_START_DEADLINE: Duration = Duration::from_secs(240);
const QUERY_DEADLINE: Duration = Duration::from_secs(120);

pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let filters: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = workspace_root();
    let java_home = java_home()?;
    let trino = ensure_trino(&cache_dir()?, &java_home)?;
    let plugin_zip = build_plugin(&root, &java_home)?;
    let veil = build_server(&root)?;

    let run_dir = target_dir(&root).join("e2e");
    if run_dir.exists() {
        fs::remove_dir_all(&run_dir).with_context(|| format!("removing {}", run_dir.display()))?;
    }
    let pdp_port = free_port()?;
    let mut trino_port = free_port()?;
    while trino_port == pdp_port {
        trino_port = free_port()?;
    }
    fs::create_dir_all(&run_dir)?;
    let tls = Tls::create(&run_dir.join("tls"))?;
    layout(
        &root,
        &run_dir,
        &trino,
        &plugin_zip,
        &java_home,
        Ports {
            trino: trino_port,
            pdp: pdp_port,
        },
        &tls,
    )?;

    // The PDP serves a copy, which the propagation scenario edits.
    let policy = run_dir.join("policy.yaml");
    fs::copy(root.join("tests/e2e/scenario.yaml"), &policy)?;

    // The PDP requires tokens: the plugin's for the query path, the admin's for PolicyAdmin.
    let auth = run_dir.join("auth.yaml");
    fs::write(
        &auth,
        format!(
            "tokens:\n  - {{name: trino, role: plugin, token: {PLUGIN_TOKEN}}}\n  - {{name: e2e, role: admin, token: {ADMIN_TOKEN}}}\n"
        ),
    )?;

    let mut processes = Processes::new()?;
    let pdp = PdpLauncher {
        binary: veil,
        config: policy,
        port: pdp_port,
        log: run_dir.join("veil.log"),
        store: format!("sqlite://{}", run_dir.join("veil.db").display()),
        auth,
        tls,
    };
    pdp.start(&mut processes)?;
    step(&format!(
        "starting Trino {TRINO_VERSION} on port {trino_port}"
    ));
    let trino_started = Instant::now();
    processes.spawn(
        "trino",
        trino_command(&run_dir, &trino, &java_home)?,
        &run_dir.join("trino.log"),
    )?;
    let client = Trino::new(trino_port);
    wait_for_trino(&client, &mut processes, &run_dir.join("trino.log"))?;
    println!(
        "e2e: Trino ready in {:.0?} (logs in {})",
        trino_started.elapsed(),
        run_dir.display()
    );

    create_backing_tables(&client)?;
    let mut report = Report::new(filters);
    scenarios(&client, &mut report, &mut processes, &pdp);
    drop(processes);
    report.finish(started.elapsed(), &run_dir)
}

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

/// Alice's row filter on `sales.customers` (`own-segments`, her `segment` attribute).
const ALICE_SEGMENTS: &str = "mktsegment IN ('BUILDING', 'MACHINERY')";
/// Alice's row filter on `sales.orders` (`no-low-priority`).
const ALICE_ORDERS: &str = "orderpriority <> '5-LOW'";

/// The phones a user sees in `veil.sales.customers`, in key order.
fn governed_phones(trino: &Trino, user: &str) -> Result<Vec<Vec<Value>>> {
    trino.rows(
        user,
        &[],
        "SELECT phone FROM veil.sales.customers ORDER BY custkey",
    )
}

/// The unmasked phones of alice's rows, read by the admin from the backing table.
fn raw_phones(trino: &Trino) -> Result<Vec<Vec<Value>>> {
    trino.rows(
        ADMIN,
        &[],
        &format!("SELECT phone FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"),
    )
}

/// The scenario with alice also in `auditors`, whom the phone hash exempts.
fn with_alice_as_auditor(scenario: &str) -> Result<String> {
    let from = "{name: alice, groups: [analysts],";
    ensure!(
        scenario.contains(from),
        "the scenario no longer has `{from}`"
    );
    Ok(scenario.replace(from, "{name: alice, groups: [analysts, auditors],"))
}

/// What the hash mask of `column` must equal: its HMAC-SHA256 under the plugin's `default` key.
fn hashed(column: &str) -> String {
    trust::hmac(column, trust::MASK_KEY)
}

fn scenarios(trino: &Trino, report: &mut Report, processes: &mut Processes, pdp: &PdpLauncher) {
    let none: &[(&str, &str)] = &[];
    let project: &[(&str, &str)] = &[("veil.project", PROJECT)];

    // Subscriptions: deny by default, and absence looks exactly like non-existence.
    report.check(
        "subscription: an unsubscribed user is told the table does not exist",
        || {
            let hidden = trino.fails("bob", none, "SELECT * FROM veil.sales.customers")?;
            let missing = trino.fails("bob", none, "SELECT * FROM veil.sales.no_such_table")?;
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
    report.check(
        "subscription: SHOW TABLES lists only subscribed tables",
        || {
            expect_rows(
                trino,
                "bob",
                "SHOW TABLES FROM veil.sales",
                json!([["nations"]]),
            )?;
            expect_rows(
                trino,
                "alice",
                "SHOW TABLES FROM veil.sales",
                json!([["customers"], ["nations"], ["orders"]]),
            )?;
            expect_rows(
                trino,
                "tina",
                "SHOW TABLES FROM veil.ops",
                json!([["events"]]),
            )?;
            let error = trino.fails("bob", none, "SHOW TABLES FROM veil.ops")?;
            ensure!(
                error.message.contains("does not exist"),
                "unexpected error: {error}"
            );
            Ok(())
        },
    );
    report.check(
        "listing: SHOW SCHEMAS shows only schemas with visible tables",
        || {
            let schemas = json!([["information_schema"], ["sales"]]);
            expect_rows(trino, "alice", "SHOW SCHEMAS FROM veil", schemas.clone())?;
            expect_rows(trino, "bob", "SHOW SCHEMAS FROM veil", schemas)?;
            expect_rows(
                trino,
                "tina",
                "SHOW SCHEMAS FROM veil",
                json!([["information_schema"], ["ops"]]),
            )?;
            expect_rows(
                trino,
                "nobody",
                "SHOW SCHEMAS FROM veil",
                json!([["information_schema"]]),
            )
        },
    );
    report.check("listing: information_schema.columns has exactly the visible columns and types", || {
        let sql = "SELECT table_schema, table_name, column_name, data_type FROM veil.information_schema.columns \
                   WHERE table_schema <> 'information_schema' ORDER BY table_schema, table_name, ordinal_position";
        let customers = |phone: &str| {
            json!([
                ["sales", "customers", "custkey", "bigint"],
                ["sales", "customers", "name", "varchar(25)"],
                ["sales", "customers", "address", "varchar(40)"],
                ["sales", "customers", "nationkey", "bigint"],
                ["sales", "customers", "phone", phone],
                ["sales", "customers", "acctbal", "double"],
                ["sales", "customers", "mktsegment", "varchar(10)"],
                ["sales", "customers", "comment", "varchar(117)"],
            ])
        };
        let nations = json!([
            ["sales", "nations", "nationkey", "bigint"],
            ["sales", "nations", "name", "varchar(25)"],
            ["sales", "nations", "regionkey", "bigint"],
            ["sales", "nations", "comment", "varchar(152)"],
        ]);
        let orders = json!([
            ["sales", "orders", "orderkey", "bigint"],
            ["sales", "orders", "custkey", "bigint"],
            ["sales", "orders", "orderstatus", "varchar(1)"],
            ["sales", "orders", "totalprice", "double"],
            ["sales", "orders", "orderdate", "date"],
            ["sales", "orders", "orderpriority", "varchar(15)"],
            ["sales", "orders", "clerk", "varchar(15)"],
            ["sales", "orders", "shippriority", "integer"],
            ["sales", "orders", "comment", "varchar(79)"],
        ]);
        let concat = |parts: &[&Value]| {
            Value::Array(
                parts
                    .iter()
                    .flat_map(|part| part.as_array().cloned().unwrap_or_default())
                    .collect(),
            )
        };
        // A hashed column is a varchar; the auditor's unmasked phone keeps the backing type.
        expect_rows(trino, "alice", sql, concat(&[&customers("varchar"), &nations, &orders]))?;
        expect_rows(trino, "carol", sql, concat(&[&customers("varchar(15)"), &nations, &orders]))?;
        expect_rows(trino, "bob", sql, nations.clone())?;
        expect_rows(
            trino,
            "tina",
            sql,
            json!([
                ["ops", "events", "id", "bigint"],
                ["ops", "events", "ts", "timestamp(3)"],
                ["ops", "events", "region", "varchar"],
                ["ops", "events", "amount", "double"],
            ]),
        )
    });

    // Masks: each method, row for row, against the same expression run by the admin.
    let customers = |user_columns: &str, admin_columns: &str| {
        trino.same_rows(
            "alice",
            none,
            &format!("SELECT {user_columns} FROM veil.sales.customers ORDER BY custkey"),
            &format!(
                "SELECT {admin_columns} FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"
            ),
        )
    };
    let orders = |user_columns: &str, admin_columns: &str| {
        trino.same_rows(
            "alice",
            none,
            &format!("SELECT {user_columns} FROM veil.sales.orders ORDER BY orderkey"),
            &format!(
                "SELECT {admin_columns} FROM tpch.tiny.orders WHERE {ALICE_ORDERS} ORDER BY orderkey"
            ),
        )
    };
    report.check(
        "mask hash: HMAC-SHA256 of the value under the plugin's key",
        || {
            customers("custkey, phone", &format!("custkey, {}", hashed("phone")))?;
            distinct_from_backing(trino, "alice", "phone", "phone")
        },
    );
    report.check(
        "mask nullify: NULL of the column type (deeper tag beats the PII hash)",
        || customers("custkey, address", "custkey, CAST(NULL AS varchar(40))"),
    );
    report.check("mask constant: the literal", || {
        customers(
            "custkey, comment",
            "custkey, CAST('REDACTED' AS varchar(117))",
        )
    });
    report.check(
        "mask regex: regexp_replace (a named column beats the PII hash)",
        || {
            customers(
                "custkey, name",
                "custkey, regexp_replace(name, '[0-9]', '#')",
            )?;
            distinct_from_backing(trino, "alice", "name", "name")
        },
    );
    report.check("mask round: digits -2 on a double", || {
        customers("custkey, acctbal", "custkey, round(acctbal, -2)")
    });
    report.check("mask round: unit month on a date", || {
        orders(
            "orderkey, orderdate",
            "orderkey, date_trunc('month', orderdate)",
        )
    });
    report.check("mask partial: keep_last 3", || {
        orders(
            "orderkey, clerk",
            "orderkey, CASE WHEN length(clerk) <= 3 THEN lpad('', length(clerk), '*') \
             ELSE concat(lpad('', length(clerk) - 3, '*'), substr(clerk, length(clerk) - 2)) END",
        )
    });
    report.check("mask expression: custom SQL over the row", || {
        orders(
            "orderkey, totalprice",
            "orderkey, CAST(CASE WHEN orderpriority = '1-URGENT' THEN totalprice ELSE 0 END AS double)",
        )
    });
    report.check("view: SELECT * is every column, masked, in order", || {
        customers(
            "*",
            &format!(
                "custkey, regexp_replace(name, '[0-9]', '#'), CAST(NULL AS varchar(40)), nationkey, {}, \
                 round(acctbal, -2), mktsegment, CAST('REDACTED' AS varchar(117))",
                hashed("phone")
            ),
        )
    });

    // Exemptions.
    report.check(
        "except: an auditor sees the raw phone, other masks still apply",
        || {
            trino.same_rows(
                "carol",
                none,
                "SELECT custkey, name, phone FROM veil.sales.customers ORDER BY custkey",
                "SELECT custkey, regexp_replace(name, '[0-9]', '#'), phone FROM tpch.tiny.customer \
             WHERE mktsegment IN ('AUTOMOBILE') ORDER BY custkey",
            )
        },
    );
    report.check("purpose: acting under fraud-2026 lifts the hash", || {
        trino.same_rows(
            "alice",
            project,
            "SELECT custkey, phone FROM veil.sales.customers ORDER BY custkey",
            &format!(
                "SELECT custkey, phone FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"
            ),
        )
    });
    report.check(
        "purpose: a project the user is not a member of is denied",
        || {
            let error = trino.fails("bob", project, "SELECT * FROM veil.sales.nations")?;
            ensure!(
                error.name == "PERMISSION_DENIED",
                "expected PERMISSION_DENIED, got {error}"
            );
            Ok(())
        },
    );

    // Row filters.
    report.check("row filter match: only the user's attribute values", || {
        let rows = trino.same_rows(
            "alice",
            none,
            "SELECT custkey, mktsegment FROM veil.sales.customers ORDER BY custkey",
            &format!(
                "SELECT custkey, mktsegment FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"
            ),
        )?;
        let total = trino.count(ADMIN, "SELECT count(*) FROM tpch.tiny.customer")?;
        ensure!(
            (rows as i64) < total,
            "the filter kept all {total} rows"
        );
        Ok(())
    });
    report.check("row filter where: the predicate", || {
        let rows = orders("orderkey, orderpriority", "orderkey, orderpriority")?;
        let total = trino.count(ADMIN, "SELECT count(*) FROM tpch.tiny.orders")?;
        ensure!((rows as i64) < total, "the filter kept all {total} rows");
        Ok(())
    });
    report.check("row filter time_window: the last day only", || {
        let rows = trino.same_rows(
            "tina",
            none,
            "SELECT id, ts FROM veil.ops.events ORDER BY id",
            "SELECT id, ts FROM memory.default.events WHERE ts >= current_timestamp - INTERVAL '1' DAY ORDER BY id",
        )?;
        // One event per hour, each half an hour past the hour: 24 are younger than a day.
        ensure!(rows == 24, "expected 24 events in the last day, got {rows}");
        Ok(())
    });
    report.check("row filter sample: the deterministic 10% by xxhash64", || {
        let rows = trino.same_rows(
            "sam",
            none,
            "SELECT orderkey FROM veil.sales.orders ORDER BY orderkey",
            "SELECT orderkey FROM tpch.tiny.orders WHERE bitwise_and(from_big_endian_64(xxhash64(to_utf8(\
             CAST(orderkey AS varchar)))), 9223372036854775807) % 10000 < 1000 ORDER BY orderkey",
        )?;
        let total = trino.count(ADMIN, "SELECT count(*) FROM tpch.tiny.orders")?;
        ensure!(
            rows as i64 * 20 > total && (rows as i64) * 20 < total * 3,
            "{rows} of {total} rows is not about 10%"
        );
        Ok(())
    });
    report.check("hostile attribute: `x' OR 1=1 --` is compared as a literal", || {
        let rows = trino.same_rows(
            "mallory",
            none,
            "SELECT id, region FROM veil.ops.events ORDER BY id",
            "SELECT id, region FROM memory.default.events WHERE region = 'x'' OR 1=1 --' ORDER BY id",
        )?;
        ensure!(rows == 10, "expected the 10 events of that region, got {rows}");
        Ok(())
    });
    report.check("hostile attribute: `a''b` and `\\'` are compared as literals", || {
        let rows = trino.same_rows(
            "hector",
            none,
            "SELECT id, region FROM veil.ops.events ORDER BY id",
            "SELECT id, region FROM memory.default.events WHERE region IN ('a''''b', '\\''') ORDER BY id",
        )?;
        ensure!(rows == 20, "expected the 20 events of those regions, got {rows}");
        Ok(())
    });

    // Trino's own access control keeps end users out of the backing catalogs.
    report.check(
        "access control: end users cannot read backing tables directly",
        || {
            for (user, sql) in [
                ("alice", "SELECT count(*) FROM tpch.tiny.customer"),
                ("carol", "SELECT phone FROM tpch.tiny.customer"),
                ("tina", "SELECT count(*) FROM memory.default.events"),
            ] {
                let error = trino.fails(user, none, sql)?;
                ensure!(
                    error.message.contains("Access Denied"),
                    "{user}: unexpected error: {error}"
                );
            }
            expect_rows(
                trino,
                "alice",
                "SHOW CATALOGS",
                json!([["system"], ["veil"]]),
            )
        },
    );

    // `veil discover` against this Trino: the types it writes are exactly Trino's.
    let discovered = |user: &str, into: Option<&Path>| -> Result<std::process::Output> {
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
    let expected_tiny = || -> Result<Vec<DiscoveredTable>> {
        let rows = trino.rows(
            ADMIN,
            none,
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
                // `<file>: ok (N data sources, M policies)`
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
            let wanted = format!("({} data sources", 4 + expected.len());
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

    // What the governed catalog adds on Trino's side: reported, never asserted.
    const COST: &str = "cost: governed catalog against the backing table";
    if report.selects(COST) {
        println!("  ..    {COST}");
        if let Err(error) = governed_catalog_cost(trino) {
            println!("        not measured: {error:#}");
        }
    }

    // A policy change reaches the plugin through WatchChanges, long before the cache TTL (1m).
    report.check(
        "propagation: a reloaded policy reaches the next query within seconds",
        || {
            let phones = |user: &str| governed_phones(trino, user);
            let raw = raw_phones(trino)?;
            // Alice's view is cached now, with her phone hashed.
            ensure!(
                phones("alice")? != raw,
                "alice's phone is not masked before the change"
            );
            let original = fs::read_to_string(&pdp.config)?;
            let edited = with_alice_as_auditor(&original)?;
            let change =
                |text: &str, processes: &mut Processes, masked: bool| -> Result<Duration> {
                    fs::write(&pdp.config, text)?;
                    let started = Instant::now();
                    processes.signal("veil", "HUP")?;
                    loop {
                        if (phones("alice")? != raw) == masked {
                            return Ok(started.elapsed());
                        }
                        ensure!(
                            started.elapsed() < Duration::from_secs(10),
                            "alice's view did not change within 10s of the reload"
                        );
                        thread::sleep(Duration::from_millis(100));
                    }
                };
            let unmasked_after = change(&edited, processes, false)?;
            let masked_after = change(&original, processes, true)?;
            println!(
                "        seen after {unmasked_after:.1?} (auditor) and {masked_after:.1?} (back)"
            );
            Ok(())
        },
    );

    // An admin change through PolicyAdmin (`veil apply`, admin token) while queries run.
    report.check(
        "admin API: a bundle applied with `veil apply` shows in the next query",
        || {
            let phones = |user: &str| governed_phones(trino, user);
            let raw = raw_phones(trino)?;
            ensure!(
                phones("alice")? != raw,
                "alice's phone is not masked before the change"
            );
            let original = fs::read_to_string(&pdp.config)?;
            let edited = pdp.config.with_file_name("applied.yaml");
            fs::write(&edited, with_alice_as_auditor(&original)?)?;
            let apply = |file: &Path| -> Result<Duration> {
                let started = Instant::now();
                let output = pdp
                    .cli(ADMIN_TOKEN)
                    .arg("apply")
                    .arg(file)
                    .args(["--server", &pdp.url()])
                    .output()?;
                ensure!(
                    output.status.success(),
                    "veil apply failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                Ok(started.elapsed())
            };
            let wrong_token = pdp
                .cli(PLUGIN_TOKEN)
                .arg("export")
                .args(["--server", &pdp.url()])
                .output()?;
            ensure!(
                !wrong_token.status.success()
                    && String::from_utf8_lossy(&wrong_token.stderr).contains("PermissionDenied"),
                "the plugin token could read the bundle"
            );
            let without_certificate = pdp
                .cli(ADMIN_TOKEN)
                .env_remove("VEIL_TLS_CLIENT_CERT")
                .env_remove("VEIL_TLS_CLIENT_KEY")
                .arg("export")
                .args(["--server", &pdp.url()])
                .output()?;
            ensure!(
                !without_certificate.status.success() && without_certificate.stdout.is_empty(),
                "a client without a certificate got past mutual TLS"
            );
            let mut seen = Vec::new();
            for (file, masked) in [(&edited, false), (&pdp.config, true)] {
                let took = apply(file)?;
                let started = Instant::now();
                let mut queries = 0;
                loop {
                    queries += 1;
                    if (phones("alice")? != raw) == masked {
                        break;
                    }
                    ensure!(
                        started.elapsed() < Duration::from_secs(1),
                        "alice's view did not change within 1s of `veil apply`"
                    );
                }
                seen.push(format!("apply took {took:.1?}, shown by query #{queries}"));
            }
            println!("        {}", seen.join("; "));
            Ok(())
        },
    );

    trust::scenarios(trino, report, pdp);

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
                hashed("phone")
            ),
        )
    });
}

/// A data source as `veil discover` writes it: name, backing table, (column, type) in order.
#[derive(Debug, PartialEq)]
struct DiscoveredTable {
    name: String,
    table: String,
    columns: Vec<(String, String)>,
}

/// Reads the `data_sources` of a policy file in the block style `veil` writes (serde_norway):
/// a data source is a `- name:` item, its columns are `- name:` items indented deeper.
fn parse_discovered(yaml: &str) -> Result<Vec<DiscoveredTable>> {
    let mut tables: Vec<DiscoveredTable> = Vec::new();
    let mut in_data_sources = false;
    let mut table_indent = None;
    for line in yaml.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if indent == 0 && !text.starts_with('-') {
            in_data_sources = text == "data_sources:";
            table_indent = None;
            continue;
        }
        if !in_data_sources {
            continue;
        }
        if let Some(name) = text.strip_prefix("- name: ") {
            if table_indent.is_none_or(|table_indent| indent <= table_indent) {
                table_indent = Some(indent);
                tables.push(DiscoveredTable {
                    name: unquote(name),
                    table: String::new(),
                    columns: Vec::new(),
                });
            } else {
                tables
                    .last_mut()
                    .ok_or_else(|| anyhow!("a column before any data source: `{line}`"))?
                    .columns
                    .push((unquote(name), String::new()));
            }
        } else if let Some(table) = text.strip_prefix("table: ") {
            if let Some(last) = tables.last_mut() {
                last.table = unquote(table);
            }
        } else if let Some(data_type) = text.strip_prefix("type: ") {
            let column = tables
                .last_mut()
                .and_then(|table| table.columns.last_mut())
                .ok_or_else(|| anyhow!("a type outside a column: `{line}`"))?;
            column.1 = unquote(data_type);
        }
    }
    Ok(tables)
}

/// A YAML scalar without its quotes (`'it''s'` → `it's`).
fn unquote(value: &str) -> String {
    let value = value.trim();
    if let Some(inner) = value
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    {
        inner.replace("''", "'")
    } else if let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        inner.replace("\\\"", "\"")
    } else {
        value.to_owned()
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

/// The masked column must differ from the backing value somewhere, or the mask check proves nothing.
fn distinct_from_backing(trino: &Trino, user: &str, column: &str, backing: &str) -> Result<()> {
    let masked = trino.rows(
        user,
        &[],
        &format!("SELECT {column} FROM veil.sales.customers ORDER BY custkey"),
    )?;
    let raw = trino.rows(
        ADMIN,
        &[],
        &format!(
            "SELECT {backing} FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey"
        ),
    )?;
    ensure!(masked != raw, "`{column}` comes back unmasked");
    Ok(())
}

fn expect_rows(trino: &Trino, user: &str, sql: &str, expected: Value) -> Result<()> {
    let rows = Value::Array(
        trino
            .rows(user, &[], sql)?
            .into_iter()
            .map(Value::Array)
            .collect(),
    );
    ensure!(
        rows == expected,
        "{user}: `{sql}`\n      expected {expected}\n      got      {rows}"
    );
    Ok(())
}

/// Backing tables the scenarios need beyond tpch: events with timestamps relative to now, in
/// regions whose names would break a naively quoted literal.
fn create_backing_tables(trino: &Trino) -> Result<()> {
    trino.rows(
        ADMIN,
        &[],
        "CREATE TABLE memory.default.events AS \
         SELECT n AS id, \
                CAST(current_timestamp - n * INTERVAL '1' HOUR - INTERVAL '30' MINUTE AS timestamp(3)) AS ts, \
                CAST(element_at(ARRAY['EU', 'US', 'x'' OR 1=1 --', 'a''''b', '\\'''], CAST(n % 5 + 1 AS integer)) AS varchar) AS region, \
                CAST(n * 10 + 0.5 AS double) AS amount \
         FROM UNNEST(sequence(0, 49)) AS t(n)",
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

struct Report<'a> {
    filters: Vec<&'a str>,
    passed: Vec<String>,
    failed: Vec<(String, String)>,
}

impl<'a> Report<'a> {
    fn new(filters: Vec<&'a str>) -> Self {
        Report {
            filters,
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Whether the command line selects the scenario (no filter selects all).
    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|filter| name.contains(filter))
    }

    /// Runs one scenario unless the command line named others.
    fn check<T>(&mut self, name: &str, scenario: impl FnOnce() -> Result<T>) {
        if !self.selects(name) {
            return;
        }
        let started = Instant::now();
        match scenario() {
            Ok(_) => {
                println!("  ok    {name} ({:.1?})", started.elapsed());
                self.passed.push(name.to_owned());
            }
            Err(error) => {
                println!(
                    "  FAIL  {name} ({:.1?})\n        {error:#}",
                    started.elapsed()
                );
                self.failed.push((name.to_owned(), format!("{error:#}")));
            }
        }
    }

    fn finish(self, elapsed: Duration, run_dir: &Path) -> Result<()> {
        println!();
        if !self.failed.is_empty() {
            println!("failed scenarios (logs in {}):", run_dir.display());
            for (name, error) in &self.failed {
                println!("  {name}: {}", error.lines().next().unwrap_or_default());
            }
        }
        println!("e2e finished in {elapsed:.0?}");
        println!("{} passed, {} failed", self.passed.len(), self.failed.len());
        ensure!(
            self.failed.is_empty(),
            "{} e2e scenarios failed",
            self.failed.len()
        );
        ensure!(
            !self.passed.is_empty(),
            "no e2e scenario matched {:?}",
            self.filters
        );
        Ok(())
    }
}

fn step(message: &str) {
    println!("e2e: {message}");
}

// ---------------------------------------------------------------------------------------------
// Trino's HTTP client protocol
// ---------------------------------------------------------------------------------------------

struct Trino {
    base: String,
    agent: ureq::Agent,
}

/// What Trino reported for a failed query.
#[derive(Debug)]
struct QueryError {
    name: String,
    message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.name, self.message)
    }
}

impl Trino {
    fn new(port: u16) -> Self {
        Trino {
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout_read(Duration::from_secs(60))
                .build(),
        }
    }

    /// Runs a statement to the end: its rows, or the error Trino reported (with any rows seen before it).
    fn execute(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<(Vec<Vec<Value>>, Option<QueryError>)> {
        let (rows, error, _) = self.execute_with_id(user, session, sql)?;
        Ok((rows, error))
    }

    /// [`Trino::execute`], also returning Trino's query id (for `GET /v1/query/{id}`).
    fn execute_with_id(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<(Vec<Vec<Value>>, Option<QueryError>, String)> {
        let deadline = Instant::now() + QUERY_DEADLINE;
        let mut request = self
            .agent
            .post(&format!("{}/v1/statement", self.base))
            .set("X-Trino-User", user);
        if !session.is_empty() {
            let properties: Vec<String> = session
                .iter()
                .map(|(name, value)| format!("{name}={}", percent_encode(value)))
                .collect();
            request = request.set("X-Trino-Session", &properties.join(","));
        }
        let mut page = read_json(request.send_string(sql))?;
        let query_id = page
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut rows = Vec::new();
        loop {
            if let Some(data) = page.get("data").and_then(Value::as_array) {
                for row in data {
                    rows.push(row.as_array().cloned().unwrap_or_default());
                }
            }
            if let Some(error) = page.get("error") {
                let text = |key: &str| {
                    error
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                return Ok((
                    rows,
                    Some(QueryError {
                        name: text("errorName"),
                        message: text("message"),
                    }),
                    query_id,
                ));
            }
            let Some(next) = page.get("nextUri").and_then(Value::as_str) else {
                return Ok((rows, None, query_id));
            };
            ensure!(
                Instant::now() < deadline,
                "`{sql}` did not finish within {QUERY_DEADLINE:?}"
            );
            page = self.next_page(user, next, deadline)?;
        }
    }

    fn next_page(&self, user: &str, uri: &str, deadline: Instant) -> Result<Value> {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.agent.get(uri).set("X-Trino-User", user).call() {
                // 503: the coordinator is busy; the protocol says to retry the same URI.
                Err(ureq::Error::Status(503, _)) if Instant::now() < deadline => {
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                response => return read_json(response),
            }
        }
    }

    /// The rows of a statement that must succeed.
    fn rows(&self, user: &str, session: &[(&str, &str)], sql: &str) -> Result<Vec<Vec<Value>>> {
        match self.execute(user, session, sql)? {
            (rows, None) => Ok(rows),
            (_, Some(error)) => bail!("{user}: `{sql}` failed: {error}"),
        }
    }

    /// The error of a statement that must fail without returning a single row.
    fn fails(&self, user: &str, session: &[(&str, &str)], sql: &str) -> Result<QueryError> {
        match self.execute(user, session, sql)? {
            (rows, _) if !rows.is_empty() => {
                bail!(
                    "{user}: `{sql}` returned {} rows, expected an error",
                    rows.len()
                )
            }
            (_, Some(error)) => Ok(error),
            (_, None) => bail!("{user}: `{sql}` succeeded with no rows, expected an error"),
        }
    }

    /// Runs a statement that must return rows and reads what Trino spent on it from the query's
    /// own statistics (`GET /v1/query/{id}`).
    fn timed(&self, user: &str, sql: &str) -> Result<QueryTimes> {
        let (rows, error, query_id) = self.execute_with_id(user, &[], sql)?;
        if let Some(error) = error {
            bail!("{user}: `{sql}` failed: {error}");
        }
        ensure!(!rows.is_empty(), "{user}: `{sql}` returned no rows");
        let info = read_json(
            self.agent
                .get(&format!("{}/v1/query/{query_id}", self.base))
                .set("X-Trino-User", user)
                .call(),
        )?;
        let stats = info
            .get("queryStats")
            .ok_or_else(|| anyhow!("query {query_id} has no queryStats"))?;
        let field = |name: &str| -> Result<Duration> {
            let text = stats
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("query {query_id} has no queryStats.{name}"))?;
            parse_duration(text)
        };
        Ok(QueryTimes {
            queued: field("queuedTime")?,
            analysis: field("analysisTime")?,
            planning: field("planningTime")?,
            execution: field("executionTime")?,
            elapsed: field("elapsedTime")?,
        })
    }

    fn count(&self, user: &str, sql: &str) -> Result<i64> {
        let rows = self.rows(user, &[], sql)?;
        rows.first()
            .and_then(|row| row.first())
            .and_then(Value::as_i64)
            .ok_or_else(|| anyhow!("`{sql}` did not return a count: {rows:?}"))
    }

    /// The user's rows equal the admin's, row for row; returns how many. The admin's query must
    /// return rows, or the comparison would prove nothing.
    fn same_rows(
        &self,
        user: &str,
        session: &[(&str, &str)],
        user_sql: &str,
        admin_sql: &str,
    ) -> Result<usize> {
        let expected = self.rows(ADMIN, &[], admin_sql)?;
        ensure!(
            !expected.is_empty(),
            "the admin's `{admin_sql}` returned no rows"
        );
        let actual = self.rows(user, session, user_sql)?;
        if actual != expected {
            let first_difference = actual
                .iter()
                .zip(&expected)
                .position(|(left, right)| left != right)
                .unwrap_or(actual.len().min(expected.len()));
            bail!(
                "{user}: `{user_sql}` returned {} rows, the admin's `{admin_sql}` {}; first difference at row {}: \
                 got {:?}, expected {:?}",
                actual.len(),
                expected.len(),
                first_difference,
                actual.get(first_difference),
                expected.get(first_difference)
            );
        }
        Ok(actual.len())
    }
}

/// Where Trino's time went for one query, as its `queryStats` report it.
#[derive(Debug, Clone, Copy)]
struct QueryTimes {
    queued: Duration,
    analysis: Duration,
    planning: Duration,
    execution: Duration,
    elapsed: Duration,
}

/// One of the [`QueryTimes`].
type TimePart = fn(&QueryTimes) -> Duration;

/// Parses an airlift `Duration` as Trino prints it: a decimal number and a unit (`12.34ms`).
fn parse_duration(text: &str) -> Result<Duration> {
    let split = text
        .find(|character: char| character.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("`{text}` has no unit"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a duration"))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => bail!("`{text}` has an unknown unit"),
    };
    Ok(Duration::from_secs_f64(value * seconds_per_unit))
}

fn read_json(response: Result<ureq::Response, ureq::Error>) -> Result<Value> {
    let response = match response {
        Ok(response) => response,
        Err(ureq::Error::Status(status, response)) => {
            let body = response.into_string().unwrap_or_default();
            bail!("Trino answered HTTP {status}: {body}")
        }
        Err(error) => return Err(error).context("talking to Trino"),
    };
    let body = response.into_string().context("reading Trino's answer")?;
    serde_json::from_str(&body).with_context(|| format!("Trino's answer is not JSON: {body}"))
}

/// Percent-encoding for `X-Trino-Session` values, which the protocol URL-decodes.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Building and laying out
// ---------------------------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("VEIL_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home =
        env::var_os("HOME").context("set VEIL_CACHE_DIR or HOME for the Trino download cache")?;
    Ok(PathBuf::from(home).join(".cache/veil"))
}

/// `VEIL_JAVA_HOME`, else Temurin 25 where CI keeps it, else `JAVA_HOME`.
fn java_home() -> Result<PathBuf> {
    let candidates = [
        env::var_os("VEIL_JAVA_HOME").map(PathBuf::from),
        Some(PathBuf::from(DEFAULT_JAVA_HOME)),
        env::var_os("JAVA_HOME").map(PathBuf::from),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|home| home.join("bin/java").exists())
        .ok_or_else(|| {
            anyhow!(
                "no JDK found: set VEIL_JAVA_HOME to a JDK 24+ (Trino {TRINO_VERSION} needs it)"
            )
        })
}

/// The Trino server and the tpch and memory plugins, fetched from Maven Central once.
struct TrinoDistribution {
    /// The unpacked `trino-server-core` (its `lib/` is the classpath).
    server: PathBuf,
    /// Unpacked plugin directories by name.
    plugins: Vec<(&'static str, PathBuf)>,
}

fn ensure_trino(cache: &Path, java_home: &Path) -> Result<TrinoDistribution> {
    let home = cache.join(format!("trino-{TRINO_VERSION}"));
    let distribution = TrinoDistribution {
        server: home.join(format!("trino-server-core-{TRINO_VERSION}")),
        plugins: vec![
            ("tpch", home.join("plugin/tpch")),
            ("memory", home.join("plugin/memory")),
        ],
    };
    if home.join(".complete").exists() {
        return Ok(distribution);
    }
    step(&format!(
        "fetching Trino {TRINO_VERSION} from Maven Central into {}",
        home.display()
    ));
    let staging = cache.join(format!("trino-{TRINO_VERSION}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let downloads = staging.join("downloads");
    fs::create_dir_all(staging.join("plugin"))?;
    for artifact in [
        format!("io.trino:trino-server-core:{TRINO_VERSION}:tar.gz"),
        format!("io.trino:trino-tpch:{TRINO_VERSION}:zip"),
        format!("io.trino:trino-memory:{TRINO_VERSION}:zip"),
    ] {
        run_quietly(
            Command::new("mvn")
                .args(["-B", "-q", "dependency:copy"])
                .arg(format!("-Dartifact={artifact}"))
                .arg(format!("-DoutputDirectory={}", downloads.display()))
                .env("JAVA_HOME", java_home)
                .current_dir(&staging),
        )
        .with_context(|| format!("downloading {artifact}"))?;
    }
    run_quietly(
        Command::new("tar")
            .arg("xzf")
            .arg(downloads.join(format!("trino-server-core-{TRINO_VERSION}.tar.gz")))
            .current_dir(&staging),
    )?;
    for (name, _) in &distribution.plugins {
        let zip = downloads.join(format!("trino-{name}-{TRINO_VERSION}.zip"));
        unzip(java_home, &zip, &staging.join("plugin"))?;
        fs::rename(
            staging.join(format!("plugin/trino-{name}-{TRINO_VERSION}")),
            staging.join("plugin").join(name),
        )?;
    }
    fs::remove_dir_all(&downloads)?;
    fs::write(staging.join(".complete"), "")?;
    if home.exists() {
        fs::remove_dir_all(&home)?;
    }
    fs::rename(&staging, &home)?;
    Ok(distribution)
}

/// Unpacks a zip with the JDK's `jar` tool, which every machine running the e2e has.
fn unzip(java_home: &Path, zip: &Path, into: &Path) -> Result<()> {
    fs::create_dir_all(into)?;
    run_quietly(
        Command::new(java_home.join("bin/jar"))
            .arg("xf")
            .arg(zip)
            .current_dir(into),
    )
}

/// Builds and unit-tests the plugin; returns its plugin zip.
fn build_plugin(root: &Path, java_home: &Path) -> Result<PathBuf> {
    step("building the Trino plugin (mvn package)");
    let project = root.join("plugins/trino");
    run_quietly(
        Command::new("mvn")
            .args(["-B", "-q", "package"])
            .env("JAVA_HOME", java_home)
            .current_dir(&project),
    )
    .context("building plugins/trino")?;
    let zips: Vec<PathBuf> = fs::read_dir(project.join("target"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("veil-trino-") && name.ends_with(".zip"))
        })
        .collect();
    match zips.as_slice() {
        [zip] => Ok(zip.clone()),
        _ => bail!("expected one plugin zip in plugins/trino/target, found {zips:?}"),
    }
}

fn build_server(root: &Path) -> Result<PathBuf> {
    step("building the PDP (cargo build -p veil-server)");
    let status = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "-p", "veil-server"])
        .current_dir(root)
        .status()?;
    ensure!(
        status.success(),
        "cargo build -p veil-server failed with {status}"
    );
    let binary = target_dir(root).join("debug/veil");
    ensure!(binary.exists(), "{} was not built", binary.display());
    Ok(binary)
}

/// Runs a command, showing its output only when it fails.
fn run_quietly(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{command:?} failed with {}\n{}\n{}",
            output.status,
            tail(&stdout, 60),
            tail(&stderr, 60)
        );
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The Trino install of this run: `deploy/trino/` with only ports and paths rewritten, the cached
/// server and plugins, and the freshly built Veil plugin.
fn layout(
    root: &Path,
    run_dir: &Path,
    trino: &TrinoDistribution,
    plugin_zip: &Path,
    java_home: &Path,
    ports: Ports,
    tls: &Tls,
) -> Result<()> {
    let Ports {
        trino: trino_port,
        pdp: pdp_port,
    } = ports;
    let deploy = root.join("deploy/trino");
    let etc = run_dir.join("etc");
    fs::create_dir_all(etc.join("catalog"))?;
    fs::create_dir_all(run_dir.join("data"))?;
    let port = trino_port.to_string();
    render(
        &deploy.join("config.properties"),
        &etc.join("config.properties"),
        &[
            ("http-server.http.port", port.clone()),
            ("discovery.uri", format!("http://127.0.0.1:{port}")),
        ],
    )?;
    render(
        &deploy.join("node.properties"),
        &etc.join("node.properties"),
        &[("node.data-dir", run_dir.join("data").display().to_string())],
    )?;
    render(
        &deploy.join("access-control.properties"),
        &etc.join("access-control.properties"),
        &[(
            "security.config-file",
            etc.join("rules.json").display().to_string(),
        )],
    )?;
    render(
        &deploy.join("catalog/veil.properties"),
        &etc.join("catalog/veil.properties"),
        &[
            ("veil.pdp.address", format!("127.0.0.1:{pdp_port}")),
            (
                "veil.pdp.tls.trust-certificates",
                tls.authority.display().to_string(),
            ),
            (
                "veil.pdp.tls.client-certificate",
                tls.client_certificate.display().to_string(),
            ),
            (
                "veil.pdp.tls.client-key",
                tls.client_key.display().to_string(),
            ),
        ],
    )?;
    for file in [
        "jvm.config",
        "log.properties",
        "rules.json",
        "catalog/tpch.properties",
        "catalog/memory.properties",
    ] {
        fs::copy(deploy.join(file), etc.join(file))
            .with_context(|| format!("copying deploy/trino/{file}"))?;
    }

    let plugins = run_dir.join("plugin");
    fs::create_dir_all(&plugins)?;
    for (name, directory) in &trino.plugins {
        std::os::unix::fs::symlink(directory, plugins.join(name))?;
    }
    let unpacked = run_dir.join("veil-plugin");
    unzip(java_home, plugin_zip, &unpacked)?;
    let mut entries = fs::read_dir(&unpacked)?;
    let inner = entries.next().context("the plugin zip is empty")??.path();
    fs::rename(inner, plugins.join("veil"))?;
    Ok(())
}

/// Copies a properties file, replacing the values of the given keys. Every key must be present,
/// so the e2e run and `deploy/trino/` cannot drift apart silently.
fn render(source: &Path, target: &Path, overrides: &[(&str, String)]) -> Result<()> {
    let text =
        fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    let mut replaced = BTreeSet::new();
    let mut output = String::new();
    for line in text.lines() {
        let key = line.split_once('=').map(|(key, _)| key.trim());
        match overrides
            .iter()
            .find(|(name, _)| Some(*name) == key && !line.trim_start().starts_with('#'))
        {
            Some((name, value)) => {
                output.push_str(&format!("{name}={value}\n"));
                replaced.insert(*name);
            }
            None => {
                output.push_str(line);
                output.push('\n');
            }
        }
    }
    for (name, _) in overrides {
        ensure!(
            replaced.contains(name),
            "{} has no `{name}` to set",
            source.display()
        );
    }
    fs::write(target, output).with_context(|| format!("writing {}", target.display()))
}

/// `java` with the options of `jvm.config` and `node.properties`, as `bin/launcher run` would do.
fn trino_command(run_dir: &Path, trino: &TrinoDistribution, java_home: &Path) -> Result<Command> {
    let etc = run_dir.join("etc");
    let mut command = Command::new(java_home.join("bin/java"));
    for line in fs::read_to_string(etc.join("jvm.config"))?.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            command.arg(line);
        }
    }
    for line in fs::read_to_string(etc.join("node.properties"))?.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            command.arg(format!("-D{line}"));
        }
    }
    command
        .arg(format!(
            "-Dconfig={}",
            etc.join("config.properties").display()
        ))
        .arg(format!(
            "-Dlog.levels-file={}",
            etc.join("log.properties").display()
        ))
        .arg("-cp")
        .arg(format!("{}/lib/*", trino.server.display()))
        .arg("io.trino.server.TrinoServer")
        .current_dir(run_dir)
        .env("JAVA_HOME", java_home)
        .env("VEIL_PDP_TOKEN", PLUGIN_TOKEN)
        .env("VEIL_MASK_KEYS", trust::mask_keys());
    Ok(command)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

struct PdpLauncher {
    binary: PathBuf,
    config: PathBuf,
    port: u16,
    log: PathBuf,
    /// The PDP's store: it survives the PDP's restart in the fail-closed scenario.
    store: String,
    auth: PathBuf,
    tls: Tls,
}

/// The loopback ports the run's servers listen on.
#[derive(Clone, Copy)]
struct Ports {
    trino: u16,
    pdp: u16,
}

/// The PDP serves TLS with a certificate from a CA made for the run, which the plugin trusts, and
/// requires mutual TLS: clients (the plugin, `veil apply`) present certificates from a second CA.
struct Tls {
    authority: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
    client_authority: PathBuf,
    client_certificate: PathBuf,
    client_key: PathBuf,
}

impl Tls {
    fn create(directory: &Path) -> Result<Tls> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        fs::create_dir_all(directory)?;
        let authority = |name: &str| -> Result<CertifiedIssuer<'static, KeyPair>> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
        };
        let issue = |issuer: &CertifiedIssuer<'static, KeyPair>,
                     names: &[&str]|
         -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let certificate = CertificateParams::new(names)?.signed_by(&key, issuer)?;
            Ok((certificate.pem(), key.serialize_pem()))
        };
        let servers = authority("veil e2e PDP CA")?;
        let clients = authority("veil e2e plugin CA")?;
        let (server_pem, server_key) = issue(&servers, &["localhost", "127.0.0.1"])?;
        let (client_pem, client_key) = issue(&clients, &["trino-coordinator"])?;
        let tls = Tls {
            authority: directory.join("ca.pem"),
            certificate: directory.join("pdp.pem"),
            key: directory.join("pdp.key"),
            client_authority: directory.join("plugin-ca.pem"),
            client_certificate: directory.join("plugin.pem"),
            client_key: directory.join("plugin.key"),
        };
        fs::write(&tls.authority, servers.pem())?;
        fs::write(&tls.certificate, server_pem)?;
        fs::write(&tls.key, server_key)?;
        fs::write(&tls.client_authority, clients.pem())?;
        fs::write(&tls.client_certificate, client_pem)?;
        fs::write(&tls.client_key, client_key)?;
        Ok(tls)
    }
}

impl PdpLauncher {
    /// `veil apply`/`veil export` against this PDP, with its CA and the given token.
    fn cli(&self, token: &str) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("VEIL_TOKEN", token)
            .env("VEIL_TLS_CA", &self.tls.authority)
            .env("VEIL_TLS_CLIENT_CERT", &self.tls.client_certificate)
            .env("VEIL_TLS_CLIENT_KEY", &self.tls.client_key);
        command
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl PdpLauncher {
    /// Starts `veil serve` and waits until it accepts connections.
    fn start(&self, processes: &mut Processes) -> Result<()> {
        step(&format!("starting the PDP on port {}", self.port));
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .arg("--auth")
            .arg(&self.auth)
            .arg("--tls-cert")
            .arg(&self.tls.certificate)
            .arg("--tls-key")
            .arg(&self.tls.key)
            .arg("--tls-client-ca")
            .arg(&self.tls.client_authority)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port));
        processes.spawn("veil", command, &self.log)?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + PDP_START_DEADLINE;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            processes.ensure_running("veil", &self.log)?;
            ensure!(
                Instant::now() < deadline,
                "the PDP did not listen on {address} within {PDP_START_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn wait_for_trino(trino: &Trino, processes: &mut Processes, log: &Path) -> Result<()> {
    let deadline = Instant::now() + TRINO_START_DEADLINE;
    let url = format!("{}/v1/info", trino.base);
    loop {
        let info = trino
            .agent
            .get(&url)
            .call()
            .ok()
            .and_then(|response| response.into_string().ok())
            .and_then(|body| serde_json::from_str::<Value>(&body).ok());
        if info.is_some_and(|info| info.get("starting") == Some(&Value::Bool(false))) {
            return Ok(());
        }
        processes.ensure_running("trino", log)?;
        ensure!(
            Instant::now() < deadline,
            "Trino did not start within {TRINO_START_DEADLINE:?}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// Process groups to kill if the xtask itself is interrupted.
static PROCESS_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The processes this run started. Dropping it stops them all, whatever happened before.
struct Processes {
    running: Vec<(&'static str, Child)>,
}

impl Processes {
    fn new() -> Result<Self> {
        static HANDLER: std::sync::Once = std::sync::Once::new();
        let mut installed = Ok(());
        HANDLER.call_once(|| {
            installed = ctrlc::set_handler(|| {
                let groups = PROCESS_GROUPS
                    .lock()
                    .map(|groups| groups.clone())
                    .unwrap_or_default();
                for group in groups {
                    signal_group(group, "KILL");
                }
                eprintln!("e2e: interrupted; stopped every process it started");
                std::process::exit(130);
            });
        });
        installed.context("installing the Ctrl-C handler")?;
        Ok(Processes {
            running: Vec::new(),
        })
    }

    /// Starts a process in its own process group, its output going to `log`.
    fn spawn(&mut self, name: &'static str, mut command: Command, log: &Path) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let output = fs::OpenOptions::new().create(true).append(true).open(log)?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        if let Ok(mut groups) = PROCESS_GROUPS.lock() {
            groups.push(child.id());
        }
        self.running.push((name, child));
        Ok(())
    }

    fn ensure_running(&mut self, name: &str, log: &Path) -> Result<()> {
        for (running, child) in &mut self.running {
            if *running != name {
                continue;
            }
            if let Some(status) = child.try_wait()? {
                let text = fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "{name} exited with {status}; last lines of {}:\n{}",
                    log.display(),
                    tail(&text, 40)
                );
            }
        }
        Ok(())
    }

    /// Sends a signal to a running process (not its group).
    fn signal(&mut self, name: &str, signal: &str) -> Result<()> {
        let (_, child) = self
            .running
            .iter()
            .find(|(running, _)| *running == name)
            .ok_or_else(|| anyhow!("{name} is not running"))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()?;
        ensure!(
            status.success(),
            "kill -{signal} {name} failed with {status}"
        );
        Ok(())
    }

    fn stop(&mut self, name: &str) -> Result<()> {
        let index = self
            .running
            .iter()
            .position(|(running, _)| *running == name)
            .ok_or_else(|| anyhow!("{name} is not running"))?;
        let (_, child) = self.running.remove(index);
        terminate(child);
        Ok(())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        while let Some((_, child)) = self.running.pop() {
            terminate(child);
        }
    }
}

/// SIGTERM to the process group, SIGKILL if it has not exited after a grace period.
fn terminate(mut child: Child) {
    let group = child.id();
    signal_group(group, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    // Also reaps anything else left in the group.
    signal_group(group, "KILL");
    let _ = child.wait();
    if let Ok(mut groups) = PROCESS_GROUPS.lock() {
        groups.retain(|other| *other != group);
    }
}

fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{group}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
