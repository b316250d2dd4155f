//! Project tasks behind `cargo xtask`: the demo, the test suite, the Helm chart's checks, the
//! end-to-end run against Trino, the differential run against the reference model, benchmarks and
//! the fuzz run.

mod e2e;
mod fuzz;
mod helm;
mod postgres;
#[cfg(test)]
mod tidy;
mod tools;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => e2e::demo(&args[1..]),
        Some("test") => test(),
        Some("e2e") => e2e::run(&args[1..]),
        Some("differential") => e2e::differential(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("helm") => helm::check(),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo|test|helm|e2e [FILTER..]|differential [--cases N] [--seed S] [--replay FILE]|bench [--quick]|fuzz --seconds N [--seed S]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything CI runs: unit, golden and integration tests, the reference model's tests, the Helm
/// chart's checks, then the end-to-end run. The store tests run against real SQLite and a real PostgreSQL started here;
/// the metrics tests check the exposition with Prometheus's `promtool`, installed here when
/// missing.
fn test() -> anyhow::Result<()> {
    let promtool = tools::promtool()?;
    let postgres = postgres::Postgres::start()?;
    run(Command::new("cargo")
        .args(["test", "--workspace", "--locked"])
        .env("VEIL_TEST_POSTGRES_URL", &postgres.url)
        .env("VEIL_PROMTOOL", &promtool))?;
    drop(postgres);
    // The reference model of the differential run has tests of its own.
    run(Command::new(tools::model_python(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace"),
    )?)
    .args(["-m", "unittest", "discover", "-s", "tests/differential"]))?;
    helm::check()?;
    e2e::run(&[])
}

/// Builds the server and the harness optimised, then runs the harness (see `crates/bench`).
fn bench(args: &[String]) -> anyhow::Result<()> {
    run(Command::new("cargo").args([
        "build",
        "--release",
        "--locked",
        "-p",
        "veil-server",
        "-p",
        "veil-bench",
    ]))?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let mut command = Command::new(format!("{target}/release/veil-bench"));
    command.arg("--veil").arg(format!("{target}/release/veil"));
    // The two-replica phase runs on a PostgreSQL of its own, stopped when the bench ends.
    let postgres = if args.iter().any(|arg| arg == "--no-replicas") {
        None
    } else {
        Some(postgres::Postgres::start()?)
    };
    if let Some(postgres) = &postgres {
        command.args(["--postgres", &postgres.url]);
    }
    run(command.args(args.iter().filter(|arg| *arg != "--no-replicas")))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "{command:?} failed with {status}");
    Ok(())
}
