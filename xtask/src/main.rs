//! Project tasks behind `cargo xtask`: the test suite, the end-to-end run against Trino, benchmarks.

mod e2e;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("e2e") => e2e::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|e2e>");
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

/// Everything CI runs: unit, golden and integration tests, then the end-to-end run.
fn test() -> anyhow::Result<()> {
    run(Command::new("cargo").args(["test", "--workspace", "--locked"]))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status()?;
    anyhow::ensure!(status.success(), "{command:?} failed with {status}");
    Ok(())
}
