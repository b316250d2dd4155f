//! `cargo xtask fuzz --seconds N [--seed S] [--property NAME]`: builds `veil-fuzz` optimised
//! and runs it; a failure's shrunk input is written under the target directory's
//! `fuzz-failures/` and the task fails.

use std::process::Command;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    crate::run(Command::new("cargo").args(["build", "--release", "--locked", "-p", "veil-fuzz"]))?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    crate::run(
        Command::new(format!("{target}/release/veil-fuzz"))
            .arg("--out")
            .arg(format!("{target}/fuzz-failures"))
            .args(args),
    )
}
