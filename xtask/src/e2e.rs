//! The end-to-end run: a real Trino server with the Veil plugin against a real PDP.
//!
//! `cargo xtask e2e [NAME-FILTER...]` fetches Trino once (cached under `$VEIL_CACHE_DIR`, default
//! `~/.cache/veil`), builds the plugin (Maven) and the `veil` binary, lays out a Trino install under
//! `target/e2e` from the files in `deploy/trino/`, serves `tests/e2e/scenario.yaml`, and checks the
//! rows each user gets back against what the run-as admin computes directly on the backing tables.
//! A scenario runs when its name contains one of the filters (no filter runs all). Every process it
//! starts runs in its own process group and is stopped on success, error, panic, Ctrl-C and SIGTERM.
//!
//! The modules, in the order a run uses them:
//!
//! - `install`: the cached Trino distribution, the plugin and server builds, the Trino install.
//! - `pdp`: `veil serve` with its tokens and mutual-TLS material; `processes`: the supervisor.
//! - `trino`: the HTTP client and the row comparisons; `report`: the output and the summary.
//! - `fixtures`: the backing table the run creates, and what several scenarios share.
//! - The scenarios: `listing` (a hidden table fails like a missing one); `cases`, the plain
//!   comparisons, read from `tests/e2e/{listing,masks,row_filters,access_control}.yaml`;
//!   `discover`; `cost` (reported, not asserted); `propagation` (SIGHUP and `veil apply`);
//!   `trust` (secrets, keyed functions, rotation); `fail_closed` (the PDP down and back).
//!
//! `demo` is not a scenario: `cargo xtask demo` starts the same `Stack` on the example estate and
//! stays up for a person to query it with the Trino CLI.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

mod cases;
mod cost;
mod demo;
mod differential;
mod discover;
mod fail_closed;
mod fixtures;
mod install;
mod listing;
mod native;
mod pdp;
mod privacy;
mod processes;
mod propagation;
mod query_audit;
mod report;
mod trino;
mod trust;

pub(crate) use demo::run as demo;

use cases::Cases;
use install::{Enforcement, Ports, TRINO_VERSION};
use pdp::{PdpLauncher, Tls};
use processes::Processes;
use report::{Report, step};
use trino::Trino;

/// The run-as user of `deploy/trino/catalog/veil.properties`: owns every view, reads the backing catalogs.
const ADMIN: &str = "veil_admin";
/// The plugin's bearer token (given to Trino as `VEIL_PDP_TOKEN`) and the admin's (`veil apply`).
const PLUGIN_TOKEN: &str = "e2e-plugin-token-0123456789";
const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let filters: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = install::workspace_root();
    // Read first: a mistake in a case file fails before anything is built.
    let cases = Cases::load(&root.join("tests/e2e"))?;
    // Three Trinos, one PDP: the governed catalog alone, native enforcement beside it, and
    // native enforcement that lets unregistered tables through (a gradual roll-out).
    let Stack {
        mut processes,
        pdp,
        trinos,
        run_dir,
        ..
    } = Stack::start(
        &root,
        &[
            Enforcement::GovernedCatalog,
            Enforcement::Native,
            Enforcement::NativeAllowingUnregistered,
        ],
        &root.join("tests/e2e/scenario.yaml"),
        "e2e",
    )?;
    let [client, native, allowing] = &trinos[..] else {
        unreachable!("three Trinos were started")
    };
    let (client, native, allowing) = (client, native, allowing);

    let now = fixtures::now_literal(client)?;
    fixtures::create_backing_tables(client, &now)?;
    fixtures::create_backing_tables(native, &now)?;
    let tables = native::governed_tables(&fs::read_to_string(&pdp.config)?)?;
    let mut report = Report::new(filters);
    // The report lists the scenarios in this order. The query audit comes first: its users'
    // answers must not be cached in the plugin yet. Fail closed comes last: it stops the PDP,
    // and needs sam not to have asked for sales.customers yet (a cached view would be served).
    query_audit::scenarios(client, native, &mut report, &pdp);
    listing::scenarios(client, &mut report);
    cases.run(client, &mut report);
    cases.run_native(native, &tables, &mut report);
    native::scenarios(client, native, &tables, &mut report);
    native::allowing_unregistered(client, allowing, &mut report);
    privacy::scenarios(client, native, &mut report, &pdp);
    discover::scenarios(client, native, &mut report, &pdp);
    cost::measure(client, native, &pdp, &report);
    propagation::scenarios(client, native, &mut report, &mut processes, &pdp);
    trust::scenarios(client, native, &mut report, &pdp);
    fail_closed::scenarios(client, native, &mut report, &mut processes, &pdp);
    differential::scenario(client, native, &pdp, &root, &mut report);
    drop(processes);
    report.finish(started.elapsed(), &run_dir)
}

/// `cargo xtask differential`: the governed catalog and native enforcement against the reference
/// model on random estates (see `differential`).
pub fn differential(args: &[String]) -> Result<()> {
    let options = differential::Options::parse(args)?;
    let root = install::workspace_root();
    let Stack {
        processes,
        pdp,
        trinos,
        ..
    } = Stack::start(
        &root,
        &[Enforcement::GovernedCatalog, Enforcement::Native],
        &root.join("tests/e2e/scenario.yaml"),
        "e2e",
    )?;
    let outcome = differential::run(&trinos[0], &trinos[1], &pdp, &root, &options);
    drop(processes);
    outcome
}

/// A running PDP and one Trino per way in, all against it, laid out under the target directory
/// (`target/e2e` for the e2e run, `target/demo` for the demo).
struct Stack {
    processes: Processes,
    pdp: PdpLauncher,
    trinos: Vec<Trino>,
    run_dir: PathBuf,
    /// Each started process's supervisor name and log, PDP first.
    logs: Vec<(&'static str, PathBuf)>,
}

impl Stack {
    /// Builds what is needed, serves a copy of `policy_file`, and starts one Trino per entry of
    /// `enforcements` (the governed catalog's in `target/<directory>`, native enforcement's in
    /// subdirectories), ready to query. `target/<directory>` is emptied first.
    fn start(
        root: &Path,
        enforcements: &[Enforcement],
        policy_file: &Path,
        directory: &str,
    ) -> Result<Stack> {
        let java_home = install::java_home()?;
        let built = install::Built {
            trino: install::ensure_trino(&install::cache_dir()?, &java_home)?,
            plugin_zip: install::build_plugin(root, &java_home)?,
            java_home,
        };
        let veil = install::build_server(root)?;

        let run_dir = install::target_dir(root).join(directory);
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .with_context(|| format!("removing {}", run_dir.display()))?;
        }
        let mut ports = Vec::new();
        while ports.len() < enforcements.len() + 1 {
            let port = install::free_port()?;
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let pdp_port = ports[0];
        fs::create_dir_all(&run_dir)?;
        let tls = Tls::create(&run_dir.join("tls"))?;
        let installs: Vec<(Enforcement, PathBuf, u16)> = enforcements
            .iter()
            .zip(&ports[1..])
            .map(|(&enforcement, &port)| {
                let directory = match enforcement {
                    Enforcement::GovernedCatalog => run_dir.clone(),
                    Enforcement::Native => run_dir.join("native"),
                    Enforcement::NativeAllowingUnregistered => run_dir.join("native-allow"),
                };
                (enforcement, directory, port)
            })
            .collect();
        for (enforcement, directory, port) in &installs {
            install::layout(
                root,
                directory,
                *enforcement,
                &built,
                Ports {
                    trino: *port,
                    pdp: pdp_port,
                },
                &tls,
            )?;
        }

        // The PDP serves a copy, which the propagation scenario edits.
        let policy = run_dir.join("policy.yaml");
        fs::copy(policy_file, &policy)?;
        // The PDP requires tokens: the plugin's for the query path, the admin's for PolicyAdmin.
        let auth = run_dir.join("auth.yaml");
        pdp::write_tokens(&auth)?;

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
        let ways: Vec<String> = installs
            .iter()
            .map(|(enforcement, _, port)| format!("{port} ({})", enforcement.describe()))
            .collect();
        step(&format!(
            "starting Trino {TRINO_VERSION} on ports {}",
            ways.join(", ")
        ));
        let trino_started = Instant::now();
        for (enforcement, directory, _) in &installs {
            processes.spawn(
                enforcement.process_name(),
                install::trino_command(directory, &built.trino, &built.java_home)?,
                &directory.join("trino.log"),
            )?;
        }
        let mut logs = vec![("veil", pdp.log.clone())];
        let mut trinos = Vec::new();
        for (enforcement, directory, port) in &installs {
            logs.push((enforcement.process_name(), directory.join("trino.log")));
            let trino = Trino::new(*port);
            trino.wait_until_ready(
                &mut processes,
                enforcement.process_name(),
                &directory.join("trino.log"),
            )?;
            trinos.push(trino);
        }
        println!(
            "e2e: the Trinos are ready in {:.0?} (logs in {})",
            trino_started.elapsed(),
            run_dir.display()
        );
        Ok(Stack {
            processes,
            pdp,
            trinos,
            run_dir,
            logs,
        })
    }

    /// Fails, with the end of its log, if any process of the stack has exited.
    fn ensure_running(&mut self) -> Result<()> {
        for (name, log) in &self.logs {
            self.processes.ensure_running(name, log)?;
        }
        Ok(())
    }
}
