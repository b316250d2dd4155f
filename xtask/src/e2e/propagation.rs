//! Policy changes while queries run: a reloaded policy file (SIGHUP) and a bundle applied with
//! `veil apply` through the admin API both reach the plugin within seconds, not at the cache TTL.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use super::fixtures::{governed_phones, raw_phones, with_alice_as_auditor};
use super::pdp::PdpLauncher;
use super::processes::Processes;
use super::report::Report;
use super::trino::Trino;
use super::{ADMIN_TOKEN, PLUGIN_TOKEN};

pub(super) fn scenarios(
    trino: &Trino,
    native: &Trino,
    report: &mut Report,
    processes: &mut Processes,
    pdp: &PdpLauncher,
) {
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
            // Native enforcement's cached answer follows the same change stream.
            let native_phones = || {
                native.rows(
                    "alice",
                    &[],
                    "SELECT phone FROM tpch.tiny.customer ORDER BY custkey",
                )
            };
            ensure!(native_phones()? != raw, "alice's phone is not masked natively");
            let natively = |masked: bool| -> Result<Duration> {
                let started = Instant::now();
                while (native_phones()? != raw) != masked {
                    ensure!(
                        started.elapsed() < Duration::from_secs(10),
                        "alice's native answer did not change within 10s of the reload"
                    );
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(started.elapsed())
            };
            let unmasked_after = change(&edited, processes, false)?;
            let unmasked_natively = natively(false)?;
            let masked_after = change(&original, processes, true)?;
            let masked_natively = natively(true)?;
            println!(
                "        seen after {unmasked_after:.1?} (auditor) and {masked_after:.1?} (back); natively {unmasked_natively:.1?} and {masked_natively:.1?} after that"
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
}
