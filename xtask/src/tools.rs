//! Tools the test suite runs that are not Rust crates, installed once into the cache
//! (`VEIL_CACHE_DIR`, default `~/.cache/veil`) with their own ordinary installers.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

/// The promtool release the metrics tests check the exposition with.
const PROMTOOL: &str = "github.com/prometheus/prometheus/cmd/promtool@v0.316.0";

/// Where downloads and installed tools are kept between runs.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("VEIL_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME").context("set VEIL_CACHE_DIR or HOME for the download cache")?;
    Ok(PathBuf::from(home).join(".cache/veil"))
}

/// Prometheus's `promtool`, built with `go install` into `<cache>/go-bin` the first time (a few
/// minutes: it compiles much of Prometheus).
pub fn promtool() -> Result<PathBuf> {
    let bin = cache_dir()?.join("go-bin");
    let promtool = bin.join("promtool");
    if promtool.is_file() {
        return Ok(promtool);
    }
    eprintln!("xtask: installing {PROMTOOL} into {}", bin.display());
    let status = Command::new("go")
        .args(["install", PROMTOOL])
        .env("GOBIN", &bin)
        .status()
        .context("running `go install` (is Go installed?)")?;
    anyhow::ensure!(
        status.success(),
        "go install {PROMTOOL} failed with {status}"
    );
    anyhow::ensure!(
        promtool.is_file(),
        "go install {PROMTOOL} left no {}",
        promtool.display()
    );
    Ok(promtool)
}
