//! What the run prints: progress steps, one line per scenario as it runs, and the final
//! `N passed, N failed` summary that decides the exit status.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

/// A progress line of the run's setup.
pub(super) fn step(message: &str) {
    println!("e2e: {message}");
}

/// The scenarios run so far, and the command line's name filters.
pub(super) struct Report<'a> {
    filters: Vec<&'a str>,
    passed: Vec<String>,
    failed: Vec<(String, String)>,
}

impl<'a> Report<'a> {
    pub(super) fn new(filters: Vec<&'a str>) -> Self {
        Report {
            filters,
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Whether the command line selects the scenario (no filter selects all).
    pub(super) fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|filter| name.contains(filter))
    }

    /// Runs one scenario unless the command line named others.
    pub(super) fn check<T>(&mut self, name: &str, scenario: impl FnOnce() -> Result<T>) {
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

    pub(super) fn finish(self, elapsed: Duration, run_dir: &Path) -> Result<()> {
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
