//! Differential testing: random estates from `tests/differential/generate.py`, queried through a
//! real Trino both ways in (the governed catalog and native enforcement) and compared with the
//! reference model `tests/differential/model.py`, which was written from the documentation alone
//! and shares no code with the PDP.
//!
//! A *case* is one query of one estate: a user, optionally a project, and a data source, checked
//! in both ways against the model's answer (the rows as a multiset, or that the table is absent,
//! or that the project is refused). A mismatch is shrunk to a smaller estate that still
//! mismatches, and written as a reproducer under `target/differential/`; replaying it is
//! `cargo xtask differential --replay FILE`. Every reproducer that found a bug is kept in
//! `tests/differential/regressions/`, which every run replays first.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::pdp::PdpLauncher;
use super::report::Report;
use super::trino::{CREDENTIAL, Trino};
use super::trust::{MASK_KEY, NEXT_MASK_KEY};
use super::{ADMIN, ADMIN_TOKEN};

/// The cases the e2e run (and so CI) compares, beyond the regressions.
mod observe; // one case through one Trino, read as an outcome
mod reference; // the Python side: the generator's estates and the model's answers
mod shrink; // a mismatch shrunk to a smaller estate, written as a reproducer
mod tables; // the estate's data sources and tables, and their raw rows

use observe::*;
use shrink::{SETTLE, SHRUNK_PER_RUN};
use tables::*;

const E2E_CASES: usize = 200;
/// Queries in flight at once against each Trino.
const CONCURRENCY: usize = 6;
pub(super) struct Options {
    cases: usize,
    seed: u64,
    replay: Vec<PathBuf>,
}

impl Options {
    pub(super) fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            cases: 1000,
            seed: 1,
            replay: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .with_context(|| format!("`{name}` needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--cases" => {
                    options.cases = value("--cases")?
                        .parse()
                        .context("`--cases` must be a number")?
                }
                "--seed" => {
                    options.seed = value("--seed")?
                        .parse()
                        .context("`--seed` must be a number")?
                }
                "--replay" => options.replay.push(PathBuf::from(value("--replay")?)),
                other => bail!(
                    "unknown argument `{other}`; usage: cargo xtask differential [--cases N] [--seed S] [--replay FILE]..."
                ),
            }
        }
        Ok(options)
    }
}

/// The e2e run's scenario: the regressions, then [`E2E_CASES`] cases from seed 1.
pub(super) fn scenario(
    governed: &Trino,
    native: &Trino,
    pdp: &PdpLauncher,
    root: &Path,
    report: &mut Report,
) {
    report.check(
        &format!("differential: {E2E_CASES} random cases and the regressions agree with the reference model, both ways"),
        || {
            let options = Options {
                cases: E2E_CASES,
                seed: 1,
                replay: Vec::new(),
            };
            run(governed, native, pdp, root, &options)
        },
    );
}

/// Runs the regressions and the replays, then random estates from `options.seed` on until
/// `options.cases` cases have been compared; fails when any case mismatched.
pub(super) fn run(
    governed: &Trino,
    native: &Trino,
    pdp: &PdpLauncher,
    root: &Path,
    options: &Options,
) -> Result<()> {
    let started = Instant::now();
    let runner = Runner {
        governed,
        native,
        pdp,
        root,
        python: crate::tools::model_python(root)?,
        work: super::install::target_dir(root).join("differential"),
        today: today(native)?,
    };
    fs::create_dir_all(&runner.work)?;
    runner.prepare(governed)?;
    runner.prepare(native)?;
    let mut estates: Vec<(String, Value)> = Vec::new();
    let regressions = root.join("tests/differential/regressions");
    let mut files: Vec<PathBuf> = match fs::read_dir(&regressions) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files.extend(options.replay.iter().cloned());
    for file in files {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let estate: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an estate", file.display()))?;
        estates.push((file.display().to_string(), estate));
    }
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    // Regressions one at a time: a reproducer's tables may be named like a seed's, and its users
    // like another reproducer's, whose answers the plugins may still cache right after the apply.
    for (name, estate) in estates {
        let ready = runner.ready(name, estate)?;
        runner.check(ready, SETTLE, &mut totals, &mut failures)?;
    }
    // Random estates in a pipeline: the next one's tables are created, read and modelled while
    // the current one is queried (each estate's tables are named by its seed).
    let mut seed = options.seed;
    let random_start = totals.cases;
    let mut next = match options.cases {
        0 => None,
        _ => Some(runner.ready_seed(seed)?),
    };
    while let Some(current) = next.take() {
        seed += 1;
        let more = totals.cases - random_start + current.queries.len() < options.cases;
        let (checked, prepared) = thread::scope(|scope| {
            let prepared = more.then(|| scope.spawn(|| runner.ready_seed(seed)));
            let checked = runner.check(current, Duration::ZERO, &mut totals, &mut failures);
            (checked, prepared.map(|thread| thread.join()))
        });
        let prepared = prepared
            .transpose()
            .map_err(|_| anyhow::anyhow!("an estate thread panicked"))?
            .transpose();
        // The next estate's tables exist even when this one failed: drop them before failing.
        if let Err(error) = checked {
            if let Ok(Some(ready)) = prepared {
                runner.drop_tables(&ready.tables, &mut totals.timings)?;
            }
            return Err(error);
        }
        next = prepared?;
        if totals.estates % 50 == 0 {
            println!(
                "        … {} cases in {} estates, {} mismatched, {:.0?}",
                totals.cases,
                totals.estates,
                failures.len(),
                started.elapsed()
            );
        }
    }
    let elapsed = started.elapsed();
    println!(
        "        {} cases in {} estates ({} rows, {} absent, {} refused), seeds {}..{}, {:.0?} ({:.0} cases/s)",
        totals.cases,
        totals.estates,
        totals.rows,
        totals.absent,
        totals.refused,
        options.seed,
        seed,
        elapsed,
        totals.cases as f64 / elapsed.as_secs_f64()
    );
    let timings = &totals.timings;
    println!(
        "        time in tables {:.0?}, applying bundles {:.0?}, the model {:.0?}, queries {:.0?} (tables and the model overlap the queries)",
        timings.tables, timings.apply, timings.model, timings.queries
    );
    if failures.is_empty() {
        return Ok(());
    }
    for failure in &failures {
        println!("        mismatch: {failure}");
    }
    bail!(
        "{} of {} cases disagree with the model; reproducers in {}",
        failures.len(),
        totals.cases,
        runner.work.display()
    )
}

#[derive(Default)]
struct Totals {
    timings: Timings,
    estates: usize,
    cases: usize,
    rows: usize,
    absent: usize,
    refused: usize,
}

/// Where a run's time went: creating, reading and dropping tables; applying bundles; the model;
/// the queries through Trino.
#[derive(Default)]
struct Timings {
    tables: Duration,
    apply: Duration,
    model: Duration,
    queries: Duration,
}

impl Timings {
    fn add(&mut self, other: &Timings) {
        self.tables += other.tables;
        self.apply += other.apply;
        self.model += other.model;
        self.queries += other.queries;
    }
}

/// What one way in (or the model) answered for a case.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Canonical rows, each in the data source's column order, sorted: a multiset.
    Rows(Vec<Vec<String>>),
    Absent,
    Refused,
    /// Anything else: an error no case should get.
    Failed(String),
}

impl Outcome {
    fn summary(&self) -> String {
        match self {
            Outcome::Rows(rows) => format!("{} rows", rows.len()),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Rows(rows) if rows.len() <= 8 => {
                write!(formatter, "{} rows {rows:?}", rows.len())
            }
            Outcome::Rows(rows) => write!(formatter, "{} rows, first {:?}", rows.len(), &rows[..8]),
            Outcome::Absent => write!(formatter, "absent"),
            Outcome::Refused => write!(formatter, "refused"),
            Outcome::Failed(error) => write!(formatter, "failed: {error}"),
        }
    }
}

/// The three answers to one case.
struct Answers {
    expected: Outcome,
    governed: Outcome,
    native: Outcome,
}

impl Answers {
    fn agree(&self) -> bool {
        self.governed == self.expected && self.native == self.expected
    }

    /// How the ways in differ from the model: each one's outcome, and for rows the first row
    /// of each multiset that the model's lacks, and the other way round.
    fn difference(&self) -> String {
        let mut parts = vec![format!("model {}", self.expected.summary())];
        for (way, outcome) in [
            ("governed catalog", &self.governed),
            ("native", &self.native),
        ] {
            if outcome == &self.expected {
                parts.push(format!("{way} agrees"));
                continue;
            }
            let mut part = format!("{way} {}", outcome.summary());
            if let (Outcome::Rows(expected), Outcome::Rows(rows)) = (&self.expected, outcome) {
                if let Some(row) = rows.iter().find(|row| !expected.contains(row)) {
                    part.push_str(&format!(", has {row:?}"));
                }
                if let Some(row) = expected.iter().find(|row| !rows.contains(row)) {
                    part.push_str(&format!(", lacks {row:?}"));
                }
            }
            parts.push(part);
        }
        parts.join("; ")
    }
}

/// An estate made ready to compare: its tables created in both Trinos, their rows read as the
/// run-as user, and the model's answer to each of its queries.
struct Ready {
    name: String,
    estate: Value,
    tables: Tables,
    raw: RawTables,
    queries: Vec<Value>,
    expected: Vec<Outcome>,
    timings: Timings,
}

fn queries(estate: &Value) -> Result<Vec<Value>> {
    Ok(estate["queries"]
        .as_array()
        .context("an estate without queries")?
        .clone())
}

/// Each query with its three answers.
fn answers(
    queries: &[Value],
    expected: Vec<Outcome>,
    governed: Vec<Outcome>,
    native: Vec<Outcome>,
) -> Vec<(Value, Answers)> {
    queries
        .iter()
        .cloned()
        .zip(expected)
        .zip(governed.into_iter().zip(native))
        .map(|((query, expected), (governed, native))| {
            (
                query,
                Answers {
                    expected,
                    governed,
                    native,
                },
            )
        })
        .collect()
}

struct Runner<'a> {
    governed: &'a Trino,
    native: &'a Trino,
    pdp: &'a PdpLauncher,
    root: &'a Path,
    /// The Python with the reference model's packages.
    python: PathBuf,
    work: PathBuf,
    today: String,
}

impl Runner<'_> {
    /// The schema the generator's memory tables live in.
    fn prepare(&self, trino: &Trino) -> Result<()> {
        trino.rows(ADMIN, &[], "CREATE SCHEMA IF NOT EXISTS memory.diff")?;
        Ok(())
    }

    /// The estate of `seed`, made ready.
    fn ready_seed(&self, seed: u64) -> Result<Ready> {
        let estate = self.generate(seed)?;
        self.ready(format!("seed {seed}"), estate)
    }

    /// Creates the estate's tables in both Trinos, reads their rows and asks the model; the
    /// tables are dropped again when the model fails.
    fn ready(&self, name: String, estate: Value) -> Result<Ready> {
        let mut timings = Timings::default();
        let tables = Tables::of(&estate)?;
        let started = Instant::now();
        both(self.governed, self.native, |trino| tables.create(trino))
            .with_context(|| format!("creating the tables of estate {name}"))?;
        let raw = tables.read(self.native);
        timings.tables += started.elapsed();
        let started = Instant::now();
        let expected = raw.and_then(|raw| {
            let queries = queries(&estate)?;
            let expected = self.model(&estate, &queries, &raw)?;
            Ok((raw, queries, expected))
        });
        timings.model += started.elapsed();
        match expected {
            Ok((raw, queries, expected)) => Ok(Ready {
                name,
                estate,
                tables,
                raw,
                queries,
                expected,
                timings,
            }),
            Err(error) => {
                both(self.governed, self.native, |trino| tables.drop(trino))?;
                Err(error.context(format!("estate {name}")))
            }
        }
    }

    /// Compares every case of a ready estate (`settle` after applying its bundle), shrinks and
    /// writes each mismatch, and drops the estate's tables.
    fn check(
        &self,
        ready: Ready,
        settle: Duration,
        totals: &mut Totals,
        failures: &mut Vec<String>,
    ) -> Result<()> {
        let Ready {
            name,
            estate,
            tables,
            raw,
            queries,
            expected,
            timings,
        } = ready;
        let observed = self.observe_both(&estate, &queries, settle, &mut totals.timings);
        let outcome = observed.and_then(|(governed, native)| {
            let results = answers(&queries, expected, governed, native);
            totals.estates += 1;
            for (query, answers) in results {
                totals.cases += 1;
                match answers.expected {
                    Outcome::Rows(_) => totals.rows += 1,
                    Outcome::Absent => totals.absent += 1,
                    Outcome::Refused => totals.refused += 1,
                    Outcome::Failed(_) => {}
                }
                if answers.agree() {
                    continue;
                }
                let id = query["id"].as_str().unwrap_or("case").to_owned();
                let shrink = failures.len() < SHRUNK_PER_RUN;
                // Shrinking queries the estate's tables: they are dropped only after it.
                let reproducer = self.reproduce(&estate, &query, &raw, shrink)?;
                failures.push(format!(
                    "{name}, case {id}: {} (reproducer {})",
                    answers.difference(),
                    reproducer.display()
                ));
            }
            Ok(())
        });
        let dropped = self.drop_tables(&tables, &mut totals.timings);
        totals.timings.add(&timings);
        outcome
            .with_context(|| format!("estate {name}"))
            .and(dropped)
    }

    fn drop_tables(&self, tables: &Tables, timings: &mut Timings) -> Result<()> {
        let started = Instant::now();
        let dropped = both(self.governed, self.native, |trino| tables.drop(trino));
        timings.tables += started.elapsed();
        dropped
    }

    /// Applies the estate's bundle, waits `settle`, and answers every one of its queries three
    /// ways (for shrinking: the model runs on every candidate).
    fn compare_all(
        &self,
        estate: &Value,
        raw: &RawTables,
        settle: Duration,
        timings: &mut Timings,
    ) -> Result<Vec<(Value, Answers)>> {
        let queries = queries(estate)?;
        let started = Instant::now();
        let expected = self.model(estate, &queries, raw)?;
        timings.model += started.elapsed();
        let (governed, native) = self.observe_both(estate, &queries, settle, timings)?;
        Ok(answers(&queries, expected, governed, native))
    }

    /// Applies the estate's bundle, waits `settle`, and runs every query through both Trinos at
    /// once.
    fn observe_both(
        &self,
        estate: &Value,
        queries: &[Value],
        settle: Duration,
        timings: &mut Timings,
    ) -> Result<(Vec<Outcome>, Vec<Outcome>)> {
        let started = Instant::now();
        self.apply(&estate["bundle"])?;
        timings.apply += started.elapsed();
        thread::sleep(settle);
        let data_sources = DataSources::of(&estate["bundle"])?;
        let started = Instant::now();
        let (governed, native) = thread::scope(|scope| {
            let governed = scope.spawn(|| {
                self.observe_all(self.governed, Way::GovernedCatalog, queries, &data_sources)
            });
            let native = self.observe_all(self.native, Way::Native, queries, &data_sources);
            (governed.join(), native)
        });
        let governed = governed.map_err(|_| anyhow::anyhow!("a query thread panicked"))??;
        let native = native?;
        timings.queries += started.elapsed();
        Ok((governed, native))
    }

    fn apply(&self, bundle: &Value) -> Result<()> {
        let file = self.work.join("bundle.yaml");
        // JSON is YAML: the bundle goes to the PDP exactly as the generator wrote it.
        fs::write(&file, serde_json::to_string_pretty(bundle)?)?;
        let output = self
            .pdp
            .cli(ADMIN_TOKEN)
            .arg("apply")
            .arg(&file)
            .args(["--server", &self.pdp.url()])
            .output()?;
        ensure!(
            output.status.success(),
            "veil apply refused the bundle: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// Every query through one Trino, [`CONCURRENCY`] at a time.
    fn observe_all(
        &self,
        trino: &Trino,
        way: Way,
        queries: &[Value],
        data_sources: &DataSources,
    ) -> Result<Vec<Outcome>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Outcome>>>> =
            Mutex::new((0..queries.len()).map(|_| None).collect());
        thread::scope(|scope| {
            for _ in 0..CONCURRENCY {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(query) = queries.get(index) else {
                            return;
                        };
                        let outcome = observe(trino, way, query, data_sources);
                        if let Ok(mut results) = results.lock() {
                            results[index] = Some(outcome);
                        }
                    }
                });
            }
        });
        results
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a query thread panicked"))?
            .into_iter()
            .map(|result| result.context("a query was never run")?)
            .collect()
    }
}
