//! Tools the test suite runs that are not Rust crates, installed once into the cache
//! (`VEIL_CACHE_DIR`, default `~/.cache/veil`) with their own ordinary installers.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

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
    let promtool = cache_dir()?.join("go-bin/promtool");
    if promtool.is_file() {
        return Ok(promtool);
    }
    go_install(PROMTOOL, &promtool)?;
    Ok(promtool)
}

/// The Python the reference model runs with: a virtual environment under `<cache>/model-venv`
/// with `tests/differential/requirements.txt` installed, made once per requirements.
pub fn model_python(root: &Path) -> Result<PathBuf> {
    let requirements = root.join("tests/differential/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let venv = cache_dir()?.join("model-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("veil-requirements.txt");
    if fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    eprintln!(
        "xtask: installing the reference model's packages into {} (once)",
        venv.display()
    );
    let run = |command: &mut Command| -> Result<()> {
        let output = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        ensure!(
            output.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    };
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    fs::write(&marker, wanted)?;
    Ok(python)
}

/// `go install MODULE@VERSION` into `<cache>/go-bin`, expecting `binary` there afterwards.
///
/// Go's module and build caches for these tools come to several GB (helm pulls in much of
/// Kubernetes), more than some machines have free beside the Rust build; they are kept in a
/// scratch directory under the cache and removed once the binary is built.
pub fn go_install(module: &str, binary: &Path) -> Result<()> {
    let cache = cache_dir()?;
    let scratch = cache.join("go-scratch");
    eprintln!(
        "xtask: installing {module} into {} (once)",
        cache.join("go-bin").display()
    );
    let output = Command::new("nice")
        .args([
            "-n",
            "10",
            "go",
            "install",
            "-modcacherw",
            "-trimpath",
            module,
        ])
        .env("GOBIN", cache.join("go-bin"))
        .env("GOMODCACHE", scratch.join("mod"))
        .env("GOCACHE", scratch.join("build"))
        .env("GOPATH", scratch.join("path"))
        .output()
        .context("running `go install` (is Go installed?)");
    let removed = match fs::remove_dir_all(&scratch) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error)
            .with_context(|| format!("removing Go's scratch caches {}", scratch.display())),
        _ => Ok(()),
    };
    let output = output?;
    ensure!(
        output.status.success(),
        "go install {module} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    removed?;
    ensure!(
        binary.is_file(),
        "go install {module} left no {}",
        binary.display()
    );
    Ok(())
}
