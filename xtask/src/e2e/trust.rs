//! Trust scenarios: no mask key in anything a subscribed user can look at, the keyed functions
//! refused to end users, hashes equal to an HMAC the test computes itself, and key rotation as
//! one recorded bundle change.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::Value;

use super::fixtures::{ALICE_SEGMENTS, governed_phones};
use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::Trino;
use super::{ADMIN, ADMIN_TOKEN};

/// The mask key ring the plugin gets from the environment (`veil.mask.keys=${ENV:VEIL_MASK_KEYS}`):
/// `default`, which the scenario's views name, and `next`, the rotation target.
pub(super) const MASK_KEY: &str =
    "5f1d0c3a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e";
pub(super) const NEXT_MASK_KEY: &str =
    "a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f";

pub(super) fn mask_keys() -> String {
    format!("default:{MASK_KEY},next:{NEXT_MASK_KEY}")
}

/// A call of each keyed function a `veil` catalog declares, as an end user would try it: all hold
/// the mask keys, so all are the run-as user's alone.
const KEYED_CALLS: [&str; 6] = [
    "SELECT veil.system.hash('default', 'guess')",
    "SELECT veil.system.fpe('default', '4111-1111-1111-1111')",
    "SELECT veil.system.fpe_decrypt('default', '4111-1111-1111-1111')",
    "SELECT veil.system.encrypt('default', 'tokenize-email', 'guess')",
    "SELECT veil.system.decrypt('tokenize-email', 'v1:default:EU2ZCclk8rtIxukt4tvR9g')",
    "SELECT veil.system.uniform('default', 'guess')",
];

/// The HMAC-SHA256 of `column`'s text under `key`, as Trino's own `hmac_sha256` computes it (run
/// by the admin, who may read the backing table): the independent value a hash mask must equal.
pub(super) fn hmac(column: &str, key: &str) -> String {
    format!("lower(to_hex(hmac_sha256(to_utf8(CAST({column} AS varchar)), from_hex('{key}'))))")
}

/// Fails when `text` (from `place`) holds any configured key, in either case or in base64.
fn holds_no_key(place: &str, text: &str) -> Result<()> {
    let lower = text.to_lowercase();
    for key in [MASK_KEY, NEXT_MASK_KEY] {
        ensure!(!lower.contains(key), "{place} shows a mask key");
        // A key may also show as Trino's varbinary literal (`X'..'`, upper-case hex, spaced).
        let spaced: String = key
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        ensure!(
            !lower.contains(&spaced),
            "{place} shows a mask key as bytes"
        );
    }
    Ok(())
}

fn text_of(rows: &[Vec<Value>]) -> String {
    rows.iter()
        .flatten()
        .map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Searches what alice can read about her own query of `relation` (its name and phone) for the
/// keys: EXPLAIN of every type and format, `system.runtime.queries`, her query info, and the errors
/// of failing queries over the masked columns. Returns how many bytes it searched.
fn search_explains_and_errors(trino: &Trino, relation: &str) -> Result<usize> {
    let query = format!("SELECT name, phone FROM {relation}");
    let mut looked = 0;
    for explain in [
        "EXPLAIN",
        "EXPLAIN (TYPE LOGICAL)",
        "EXPLAIN (TYPE DISTRIBUTED)",
        "EXPLAIN (TYPE IO, FORMAT JSON)",
        "EXPLAIN (TYPE VALIDATE)",
        "EXPLAIN (FORMAT JSON)",
        "EXPLAIN (FORMAT GRAPHVIZ)",
        "EXPLAIN ANALYZE",
        "EXPLAIN ANALYZE VERBOSE",
    ] {
        let rows = trino.rows("alice", &[], &format!("{explain} {query}"))?;
        let text = text_of(&rows);
        holds_no_key(explain, &text)?;
        looked += text.len();
    }
    // The plan names the keyed function by its key id: the masks really are in it.
    let plan = text_of(&trino.rows("alice", &[], &format!("EXPLAIN {query}"))?);
    ensure!(
        plan.contains("hash"),
        "the plan does not call the keyed hash:\n{plan}"
    );
    // The governed catalog's file rules refuse alice the system tables; the refusal is searched
    // like any answer. Natively she reads them, and sees only her own queries.
    let queries = match trino.execute("alice", &[], "SELECT query FROM system.runtime.queries")? {
        (rows, None) => text_of(&rows),
        (_, Some(error)) => error.message,
    };
    ensure!(
        !queries.is_empty(),
        "system.runtime.queries showed alice nothing"
    );
    holds_no_key("system.runtime.queries", &queries)?;
    looked += queries.len();
    // Alice's own query info, as Trino's REST API gives it to her.
    let (_, error, id) = trino.execute_with_id("alice", &[], &query)?;
    ensure!(error.is_none(), "{query} failed: {error:?}");
    let info = trino
        .agent
        .get(&format!("{}/v1/query/{id}", trino.base))
        .set("X-Trino-User", "alice")
        .call()
        .map_err(|error| anyhow!("GET /v1/query/{id} as alice: {error}"))?
        .into_string()?;
    ensure!(info.contains("hash"), "the query info holds no plan");
    holds_no_key("GET /v1/query/{id}", &info)?;
    looked += info.len();
    // Errors of failing queries over masked columns.
    for sql in [
        format!("SELECT CAST(name AS bigint) FROM {relation}"),
        format!("SELECT name FROM {relation} WHERE CAST(phone AS integer) > 0"),
        "SELECT veil.system.hash('default', 'guess')".to_owned(),
        format!("SELECT veil.system.hash('nope', name) FROM {relation}"),
    ] {
        let error = trino.fails("alice", &[], &sql)?;
        holds_no_key(&sql, &error.message)?;
    }
    Ok(looked)
}

pub(super) fn scenarios(trino: &Trino, native: &Trino, report: &mut Report, pdp: &PdpLauncher) {
    report.check(
        "secrets: no mask key in EXPLAIN of any type, views, SHOW CREATE VIEW, system tables, query info or errors",
        || {
            let mut looked = search_explains_and_errors(trino, "veil.sales.customers")?;
            for (place, sql) in [
                (
                    "information_schema.views",
                    "SELECT view_definition FROM veil.information_schema.views",
                ),
                // Trino's file-based access control refuses this to a non-owner; the refusal
                // is searched like any answer.
                ("SHOW CREATE VIEW", "SHOW CREATE VIEW veil.sales.customers"),
            ] {
                let text = match trino.execute("alice", &[], sql)? {
                    (rows, None) => text_of(&rows),
                    (_, Some(error)) => error.message,
                };
                ensure!(!text.is_empty(), "{place} showed alice nothing");
                holds_no_key(place, &text)?;
                looked += text.len();
            }
            let views = text_of(&trino.rows(
                "alice",
                &[],
                "SELECT view_definition FROM veil.information_schema.views WHERE table_name = 'customers'",
            )?);
            ensure!(
                views.contains("\"veil\".\"system\".\"hash\"('default'"),
                "the view does not hash by key id:\n{views}"
            );
            println!("        searched {looked} bytes of what alice can read");
            Ok(())
        },
    );
    report.check(
        "native: no mask key in EXPLAIN, system tables, query info or errors; the keyed function refused; hashes are the key's HMAC",
        || {
            let looked = search_explains_and_errors(native, "tpch.tiny.customer")?;
            println!("        searched {looked} bytes of what alice can read natively");
            for user in ["alice", "bob"] {
                for sql in KEYED_CALLS {
                    let denied = native.fails(user, &[], sql)?;
                    ensure!(denied.message.contains("Access Denied"), "{user} ran `{sql}` natively: {denied}");
                }
            }
            let phones = native.rows("alice", &[], "SELECT phone FROM tpch.tiny.customer ORDER BY custkey")?;
            let expected = native.rows(
                ADMIN,
                &[],
                &format!(
                    "SELECT CAST({} AS varchar(15)) FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey",
                    hmac("phone", MASK_KEY)
                ),
            )?;
            ensure!(!phones.is_empty() && phones == expected, "alice's phones natively are not the HMACs under the `default` key");
            Ok(())
        },
    );
    report.check(
        "keyed functions: an end user cannot run veil.system.hash, fpe, fpe_decrypt, encrypt, decrypt or uniform; the run-as user can",
        || {
            for sql in KEYED_CALLS {
                let denied = trino.fails("alice", &[], sql)?;
                ensure!(
                    denied.message.contains("Access Denied"),
                    "alice ran `{sql}`: {denied}"
                );
            }
            let listed = trino.fails("bob", &[], "SELECT veil.system.hash('default', 'x')")?;
            ensure!(listed.message.contains("Access Denied"), "{listed}");
            let admin = trino.rows(
                ADMIN,
                &[],
                &format!(
                    "SELECT veil.system.hash('default', 'guess') = {}",
                    hmac("'guess'", MASK_KEY)
                ),
            )?;
            ensure!(
                admin == vec![vec![Value::Bool(true)]],
                "the run-as user's hash: {admin:?}"
            );
            let inverses = trino.rows(
                ADMIN,
                &[],
                "SELECT veil.system.decrypt('p', veil.system.encrypt('default', 'p', 'guess')) = 'guess', \
                 veil.system.fpe_decrypt('default', veil.system.fpe('default', '4111-1111-1111-1111')) = '4111-1111-1111-1111', \
                 veil.system.fpe('default', '12-34') IS NULL, \
                 veil.system.uniform('default', 'guess') >= 0 AND veil.system.uniform('default', 'guess') < 1",
            )?;
            ensure!(
                inverses == vec![vec![Value::Bool(true); 4]],
                "the run-as user's fpe, encrypt and uniform: {inverses:?}"
            );
            Ok(())
        },
    );
    report.check(
        "key rotation: one bundle change moves every view to the next key, recorded in the history",
        || {
            let phones = |user: &str| governed_phones(trino, user);
            let under = |key: &str| -> Result<Vec<Vec<Value>>> {
                trino.rows(
                    ADMIN,
                    &[],
                    &format!(
                        "SELECT CAST({} AS varchar(15)) FROM tpch.tiny.customer WHERE {ALICE_SEGMENTS} ORDER BY custkey",
                        hmac("phone", key)
                    ),
                )
            };
            // Alice's phones are hashed when she is no auditor: the scenario's hash-phone policy.
            let original = fs::read_to_string(&pdp.config)?;
            let hashed_view = pdp.config.with_file_name("hashed.yaml");
            let rotated = pdp.config.with_file_name("rotated.yaml");
            let unknown = pdp.config.with_file_name("unknown-key.yaml");
            fs::write(&hashed_view, &original)?;
            fs::write(
                &rotated,
                format!("{original}\nsettings: {{mask_key: next}}\n"),
            )?;
            fs::write(
                &unknown,
                format!("{original}\nsettings: {{mask_key: retired}}\n"),
            )?;
            let apply = |file: &Path| -> Result<()> {
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
                Ok(())
            };
            let until = |expected: &[Vec<Value>]| -> Result<()> {
                let started = Instant::now();
                // A query may still fail under the previous settings until the change arrives.
                while phones("alice").ok().as_deref() != Some(expected) {
                    ensure!(
                        started.elapsed() < Duration::from_secs(5),
                        "alice's phones did not change to the expected hashes within 5s"
                    );
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(())
            };
            let first = under(MASK_KEY)?;
            let next = under(NEXT_MASK_KEY)?;
            ensure!(first != next, "the two keys hash alike");
            until(&first)?;
            apply(&rotated)?;
            until(&next)?;
            // A key id no coordinator holds fails closed, and names no key.
            apply(&unknown)?;
            let started = Instant::now();
            let error = loop {
                match trino.execute("alice", &[], "SELECT phone FROM veil.sales.customers")? {
                    (_, Some(error)) => break error,
                    _ => ensure!(
                        started.elapsed() < Duration::from_secs(5),
                        "the unknown key id did not fail alice's query within 5s"
                    ),
                }
            };
            ensure!(
                error
                    .message
                    .contains("Veil: no mask key `retired` is configured"),
                "{error}"
            );
            holds_no_key("the unknown-key error", &error.message)?;
            apply(&hashed_view)?;
            until(&first)?;
            let history = pdp
                .cli(ADMIN_TOKEN)
                .arg("history")
                .args(["--server", &pdp.url(), "--kind", "settings"])
                .output()?;
            let history = String::from_utf8_lossy(&history.stdout).into_owned();
            ensure!(
                history.matches("by e2e").count() >= 3 && history.contains("mask_key: next"),
                "veil history does not show the rotation:\n{history}"
            );
            // As of the rotation (the third newest settings change), alice's view named `next`.
            let rotation: u64 = history
                .lines()
                .filter_map(|line| line.strip_prefix("version "))
                .nth(2)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|version| version.parse().ok())
                .with_context(|| format!("no third change in:\n{history}"))?;
            let explain = |as_of: Option<u64>| -> Result<String> {
                let mut command = pdp.cli(ADMIN_TOKEN);
                command.args(["explain", "--server", &pdp.url(), "--user", "alice"]);
                if let Some(version) = as_of {
                    command.args(["--as-of", &version.to_string()]);
                }
                let output = command.arg("sales.customers").output()?;
                ensure!(
                    output.status.success(),
                    "veil explain failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                Ok(String::from_utf8_lossy(&output.stdout).into_owned())
            };
            let then = explain(Some(rotation))?;
            let now = explain(None)?;
            ensure!(
                then.contains("hash\"('next'") && now.contains("hash\"('default'"),
                "veil explain --as-of {rotation} does not show the rotated key:\n{then}\nnow:\n{now}"
            );
            Ok(())
        },
    );
}
