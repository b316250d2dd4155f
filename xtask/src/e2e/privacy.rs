//! The privacy mask methods through a real Trino, both ways in, each checked against an
//! independent computation from the raw rows the run-as user reads: format-preserving phones
//! recomputed with RustCrypto's FF1, reversible tokens decrypted with RustCrypto's AES-GCM-SIV
//! (both keyed as the plugin keys them: HKDF-SHA256 subkeys of the configured mask key),
//! k-anonymous nations against a count of the rows pia may see, and randomized response within
//! statistical bounds of its probability.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use anyhow::{Context, Result, ensure};
use base64::Engine;
use serde_json::Value;

use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::Trino;
use super::trust::MASK_KEY;
use super::{ADMIN, ADMIN_TOKEN};

/// The user the scenario's `privacy.*` data sources are for.
const PIA: &str = "pia";
/// pia's colleague who may also reveal the contacts' email tokens.
const REX: &str = "rex";
/// The reversible policy on the contacts' emails: its name is the tokens' associated data.
const EMAIL_POLICY: &str = "tokenize-email";
/// How long the plugin may take to report what it revealed (it reports at least once a second).
const REPORTED_WITHIN: Duration = Duration::from_secs(20);
const KEY_ID: &str = "default";

pub(super) fn scenarios(trino: &Trino, native: &Trino, report: &mut Report, pdp: &PdpLauncher) {
    let both = [(trino, "veil.privacy"), (native, "")];
    report.check(
        "privacy: format-preserving phones are FF1 of the raw phones, both ways",
        || {
            let raw = keyed_rows(
                trino,
                ADMIN,
                "SELECT suppkey, phone FROM tpch.tiny.supplier WHERE acctbal > 0",
            )?;
            let key = subkey(&hex(MASK_KEY)?, "veil/fpe/v1");
            for (way, schema) in both {
                let seen = keyed_rows(way, PIA, &select(schema, "suppliers", "suppkey, phone"))?;
                ensure!(
                    seen.len() == raw.len(),
                    "{} rows seen, {} raw",
                    seen.len(),
                    raw.len()
                );
                for (id, phone) in &raw {
                    let phone = phone.as_str().context("a phone")?;
                    let expected = fpe(&key, phone);
                    let got = seen.get(id).and_then(Value::as_str);
                    ensure!(
                        got == expected.as_deref() && expected.as_deref() != Some(phone),
                        "supplier {id}: {phone} became {got:?}, FF1 gives {expected:?}"
                    );
                }
            }
            Ok(())
        },
    );
    report.check(
        "privacy: k-anonymity keeps a nation only where 5 of pia's suppliers share it, both ways",
        || {
            let raw = keyed_rows(
                trino,
                ADMIN,
                "SELECT suppkey, nationkey FROM tpch.tiny.supplier WHERE acctbal > 0",
            )?;
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for nation in raw.values() {
                *counts
                    .entry(nation.as_i64().context("a nation")?)
                    .or_default() += 1;
            }
            let (mut kept, mut suppressed) = (0, 0);
            for (way, schema) in both {
                let seen =
                    keyed_rows(way, PIA, &select(schema, "suppliers", "suppkey, nationkey"))?;
                for (id, nation) in &raw {
                    let common = counts[&nation.as_i64().unwrap()] >= 5;
                    let expected = if common { nation.clone() } else { Value::Null };
                    ensure!(
                        seen.get(id) == Some(&expected),
                        "supplier {id} of nation {nation}: saw {:?}, expected {expected}",
                        seen.get(id)
                    );
                    if common { kept += 1 } else { suppressed += 1 }
                }
            }
            // Both outcomes occur, or the check proves little.
            ensure!(
                kept > 0 && suppressed > 0,
                "{kept} kept, {suppressed} suppressed"
            );
            Ok(())
        },
    );
    report.check(
        "privacy: randomized response replaces about 30% of manufacturers with listed ones and moves sizes by at most 5, the same each time, both ways",
        || {
            let raw = keyed_rows(trino, ADMIN, "SELECT partkey, ARRAY[mfgr, CAST(size AS varchar)] FROM tpch.tiny.part")?;
            let listed: Vec<String> = (1..=5).map(|n| format!("Manufacturer#{n}")).collect();
            let mut answers = Vec::new();
            for (way, schema) in both {
                let sql = select(schema, "parts", "partkey, ARRAY[mfgr, CAST(size AS varchar)]");
                let seen = keyed_rows(way, PIA, &sql)?;
                ensure!(seen == keyed_rows(way, PIA, &sql)?, "a repeated query answered otherwise");
                let (mut replaced, mut moved) = (0usize, 0usize);
                for (id, truth) in &raw {
                    let pair = |value: &Value, index: usize| value[index].as_str().map(str::to_owned);
                    let answer = seen.get(id).context("a part pia cannot see")?;
                    let (mfgr, size) = (pair(answer, 0).context("mfgr")?, pair(answer, 1).context("size")?);
                    ensure!(listed.contains(&mfgr), "part {id}: mfgr {mfgr} is not listed");
                    if Some(&mfgr) != pair(truth, 0).as_ref() {
                        replaced += 1;
                    }
                    let (size, true_size): (i64, i64) = (size.parse()?, pair(truth, 1).context("size")?.parse()?);
                    ensure!((size - true_size).abs() <= 5, "part {id}: size {true_size} became {size}");
                    if size != true_size {
                        moved += 1;
                    }
                }
                let n = raw.len() as f64;
                // Four standard deviations of a binomial: fails by chance about once in 15,000 runs.
                let within = |observed: usize, p: f64| (observed as f64 / n - p).abs() <= 4.0 * (p * (1.0 - p) / n).sqrt();
                ensure!(within(replaced, 0.3), "{replaced} of {n} manufacturers replaced, probability 0.3");
                // Replaced with probability 0.5, then a shift uniform in (-5, 5) truncated: moved
                // when it reaches a whole step, 4 times in 5.
                ensure!(within(moved, 0.4), "{moved} of {n} sizes moved, expected 0.4");
                answers.push(seen);
            }
            ensure!(answers[0] == answers[1], "the governed catalog and native enforcement disagree");
            Ok(())
        },
    );
    report.check(
        "privacy: reversible tokens decrypt to the emails, equal emails give equal tokens, and pia cannot decrypt",
        || {
            let raw = keyed_rows(trino, ADMIN, "SELECT id, email FROM memory.default.contacts")?;
            let key = subkey(&hex(MASK_KEY)?, "veil/reversible/v1");
            for (way, schema) in both {
                let table = if schema.is_empty() { "memory.default.contacts".to_owned() } else { format!("{schema}.contacts") };
                let seen = keyed_rows(way, PIA, &format!("SELECT id, email FROM {table}"))?;
                let mut tokens: HashMap<String, String> = HashMap::new();
                for (id, email) in &raw {
                    let token = seen.get(id).context("a contact pia cannot see")?;
                    match (email.as_str(), token.as_str()) {
                        (None, None) => {}
                        (Some(email), Some(token)) => {
                            ensure!(token != email, "contact {id}: the email is shown");
                            let clear = decrypt(&key, KEY_ID, EMAIL_POLICY, token)?;
                            ensure!(clear == email, "contact {id}: {token} decrypts to {clear:?}, not {email:?}");
                            if let Some(other) = tokens.insert(email.to_owned(), token.to_owned()) {
                                ensure!(other == token, "{email:?} has two tokens");
                            }
                        }
                        _ => anyhow::bail!("contact {id}: {email} became {token}"),
                    }
                }
                let refused = way.fails(PIA, &[], &format!("SELECT veil.system.decrypt('{EMAIL_POLICY}', email) FROM {table}"))?;
                ensure!(
                    refused.message.contains("Access Denied") || refused.message.contains("denied"),
                    "pia decrypting: {refused}"
                );
            }
            Ok(())
        },
    );
    reveal_scenario(trino, native, report, pdp);
}

/// rex, granted `reveal` by the email policy, turns the tokens back with `veil.system.reveal`
/// (naming the data source, or in native enforcement the backing table); pia, who sees the same
/// tokens, is refused; `veil audit reveals` counts exactly the values rex's query revealed.
fn reveal_scenario(trino: &Trino, native: &Trino, report: &mut Report, pdp: &PdpLauncher) {
    report.check(
        "privacy: rex reveals the email tokens to the emails, pia is refused, and the reveal audit counts the values, both ways",
        || {
            let raw = keyed_rows(trino, ADMIN, "SELECT id, email FROM memory.default.contacts")?;
            let emails = raw.values().filter(|email| email.is_string()).count() as u64;
            let ways = [
                (trino, "veil.privacy.contacts", "privacy.contacts"),
                (native, "memory.default.contacts", "memory.default.contacts"),
                (native, "memory.default.contacts", "privacy.contacts"),
            ];
            for (way, table, named) in ways {
                let sql = format!("SELECT id, veil.system.reveal('{named}', 'email', email) FROM {table}");
                let answer = way.answer(REX, &[], &sql)?;
                if let Some(error) = &answer.error {
                    anyhow::bail!("rex revealing from {table} as `{named}`: {error}");
                }
                ensure!(answer.rows.len() == raw.len(), "{} rows revealed, {} raw", answer.rows.len(), raw.len());
                for row in &answer.rows {
                    let id = row.first().and_then(Value::as_i64).context("a key")?;
                    ensure!(row.get(1) == raw.get(&id), "contact {id}: revealed {:?}, raw {:?}", row.get(1), raw.get(&id));
                }
                let refused = way.fails(PIA, &[], &sql)?;
                ensure!(
                    refused.message.contains("Access Denied")
                        && refused.message.contains("does not grant you reveal"),
                    "pia revealing: {refused}"
                );
                let counted = revealed(pdp, &answer.id, emails)?;
                ensure!(
                    counted["user"] == REX
                        && counted["data_source"] == "privacy.contacts"
                        && counted["column"] == "email"
                        && counted["policy"] == EMAIL_POLICY,
                    "the reveal audit of query {}: {counted}",
                    answer.id
                );
            }
            let refusals = reveals(pdp, &["--user", PIA])?;
            ensure!(
                refusals.len() == 3 && refusals.iter().all(|reveal| reveal["allowed"] == false && reveal["values"] == 0),
                "pia's refused reveals as audited: {refusals:?}"
            );
            Ok(())
        },
    );
}

/// `veil audit reveals --json ARGS` against the run's PDP, as the admin.
fn reveals(pdp: &PdpLauncher, args: &[&str]) -> Result<Vec<Value>> {
    let output = pdp
        .cli(ADMIN_TOKEN)
        .args(["audit", "reveals", "--json", "--server", &pdp.url()])
        .args(args)
        .output()?;
    ensure!(
        output.status.success(),
        "veil audit reveals {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .with_context(|| format!("veil audit reveals printed `{line}`"))
        })
        .collect()
}

/// The allowed reveal of `query_id`, once the plugin has reported `values` revealed values.
fn revealed(pdp: &PdpLauncher, query_id: &str, values: u64) -> Result<Value> {
    let deadline = Instant::now() + REPORTED_WITHIN;
    loop {
        let found = reveals(pdp, &["--query-id", query_id])?;
        let allowed: Vec<&Value> = found
            .iter()
            .filter(|reveal| reveal["allowed"] == true)
            .collect();
        ensure!(allowed.len() <= 1, "query {query_id}: {found:?}");
        if let Some(reveal) = allowed.first() {
            let counted = reveal["values"].as_u64().context("values")?;
            ensure!(
                counted <= values,
                "query {query_id} counted {counted} values, it revealed {values}"
            );
            if counted == values {
                return Ok((*reveal).clone());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "query {query_id}: {values} revealed values not in the reveal audit within {REPORTED_WITHIN:?}: {found:?}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// `SELECT <columns>` from pia's view of `table` (governed: `schema` is `veil.privacy`) or from
/// its backing table (native: `schema` is empty).
fn select(schema: &str, table: &str, columns: &str) -> String {
    let from = match (schema, table) {
        ("", "suppliers") => "tpch.tiny.supplier".to_owned(),
        ("", "parts") => "tpch.tiny.part".to_owned(),
        ("", other) => format!("memory.default.{other}"),
        (schema, table) => format!("{schema}.{table}"),
    };
    format!("SELECT {columns} FROM {from}")
}

/// The rows of `sql` as `user`, by their first column (a bigint key), each the second column.
fn keyed_rows(trino: &Trino, user: &str, sql: &str) -> Result<HashMap<i64, Value>> {
    let mut rows = HashMap::new();
    for row in trino.rows(user, &[], sql)? {
        let key = row.first().and_then(Value::as_i64).context("a key")?;
        let value = row.get(1).cloned().context("a value")?;
        ensure!(
            rows.insert(key, value).is_none(),
            "key {key} twice in `{sql}`"
        );
    }
    Ok(rows)
}

fn hex(text: &str) -> Result<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).context("hex"))
        .collect()
}

/// HKDF-SHA256 of the mask key, without salt, for one purpose: the plugin's subkeys.
fn subkey(key: &[u8], info: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, key)
        .expand(info.as_bytes(), &mut out)
        .expect("32 bytes is a valid HKDF length");
    out
}

/// FF1 over each class of the value's characters, as the plugin's `fpe`: `None` when a class
/// present is too short for FF1 (or longer than 4096), or there is no letter or digit.
fn fpe(key: &[u8; 32], value: &str) -> Option<String> {
    use fpe::ff1::{FF1, FlexibleNumeralString};
    let classes: [(&str, char, u32, usize); 3] = [
        ("digits", '0', 10, 6),
        ("lower", 'a', 26, 5),
        ("upper", 'A', 26, 5),
    ];
    let class_of = |c: char| {
        classes.iter().position(|(_, first, radix, _)| {
            c.is_ascii() && (c as u32).wrapping_sub(*first as u32) < *radix
        })
    };
    let mut out: Vec<char> = value.chars().collect();
    let mut any = false;
    for (index, (tweak, first, radix, minimum)) in classes.iter().enumerate() {
        let positions: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, c)| class_of(**c) == Some(index))
            .map(|(position, _)| position)
            .collect();
        if positions.is_empty() {
            continue;
        }
        if positions.len() < *minimum || positions.len() > 4096 {
            return None;
        }
        any = true;
        let numerals: Vec<u16> = positions
            .iter()
            .map(|&position| (out[position] as u32 - *first as u32) as u16)
            .collect();
        let cipher = FF1::<aes::Aes256>::new(key, *radix).ok()?;
        let encrypted: Vec<u16> = cipher
            .encrypt(tweak.as_bytes(), &FlexibleNumeralString::from(numerals))
            .ok()?
            .into();
        for (&position, numeral) in positions.iter().zip(encrypted) {
            out[position] = char::from_u32(*first as u32 + numeral as u32)?;
        }
    }
    any.then(|| out.into_iter().collect())
}

/// A `reversible` token `v1:<key id>:<base64url>` of `policy` decrypted as the plugin's `decrypt`
/// does.
fn decrypt(key: &[u8; 32], key_id: &str, policy: &str, token: &str) -> Result<String> {
    let rest = token
        .strip_prefix(&format!("v1:{key_id}:"))
        .with_context(|| format!("`{token}` is no token of key {key_id}"))?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rest)?;
    let cipher = aes_gcm_siv::Aes256GcmSiv::new_from_slice(key).expect("a 32-byte key");
    let aad = format!("veil/reversible/v1:{key_id}:{policy}");
    let clear = cipher
        .decrypt(
            aes_gcm_siv::Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| anyhow::anyhow!("`{token}` does not decrypt"))?;
    Ok(String::from_utf8(clear)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plugin's own known answers (its `MaskContractVectorsTest`), key `k1` = 00 01 .. 1f:
    /// this independent implementation agrees with the plugin byte for byte.
    #[test]
    fn agrees_with_the_plugins_known_answers() {
        let key: Vec<u8> = (0u8..32).collect();
        let fpe_key = subkey(&key, "veil/fpe/v1");
        assert_eq!(
            fpe(&fpe_key, "25-989-741-2988").as_deref(),
            Some("61-590-285-2610")
        );
        assert_eq!(
            fpe(&fpe_key, "AbCdEfGhIj123456").as_deref(),
            Some("MiJlOcTaGe628369")
        );
        assert_eq!(fpe(&fpe_key, "12-34"), None);
        assert_eq!(fpe(&fpe_key, "--"), None);
        let reversible = subkey(&key, "veil/reversible/v1");
        let token = "v1:k1:hIToln-FCUnqi5iuEwVKmEMGN56z";
        let decrypted = decrypt(&reversible, "k1", "tokenize-email", token).unwrap();
        assert_eq!(decrypted, "alice");
        let emoji = "v1:k1:sDYSJyo5LNQZrDtFW4YXhcnMThjyWuYMRA";
        assert_eq!(
            decrypt(&reversible, "k1", "política", emoji).unwrap(),
            "Zoë 😀"
        );
        // Altered, or opened under another policy: refused.
        assert!(
            decrypt(
                &reversible,
                "k1",
                "tokenize-email",
                "v1:k1:hIToln-FCUnqi5iuEwVKmEMGN56y"
            )
            .is_err()
        );
        assert!(decrypt(&reversible, "k1", "política", token).is_err());
    }
}
