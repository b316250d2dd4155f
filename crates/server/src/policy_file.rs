//! Policy files on disk, for the `veil` commands: their text, or the bundle they hold compiled,
//! with errors that name the file.

use std::path::Path;

use anyhow::Context;
use veil_compiler::Compiler;

pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading policy file {}", path.display()))
}

/// Reads and validates a policy file (every problem with its line), ready to serve.
pub fn compile(path: &Path, functions_catalog: &str) -> anyhow::Result<Compiler> {
    Compiler::from_yaml(&read(path)?, functions_catalog)
        .map_err(|errors| anyhow::anyhow!("{}: invalid policy file:\n{errors}", path.display()))
}
