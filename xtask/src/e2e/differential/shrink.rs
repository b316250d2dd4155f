//! Shrinking a mismatch: the estate made smaller while its case still mismatches, then written
//! with the three answers as a reproducer that `--replay` runs again.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use super::*;

/// Mismatches shrunk per run (the others are written as they are), and the time each may take.
pub(super) const SHRUNK_PER_RUN: usize = 5;
const SHRINK_BUDGET: Duration = Duration::from_secs(120);
/// How long a change may take to reach the plugins' caches (the e2e run checks that an applied
/// bundle shows in a query within a second). A candidate reuses its estate's users and tables, so
/// its first answers may still be the previous candidate's: it counts as a mismatch only when it
/// mismatches again after this. (A random estate's names are its seed's own, never cached before.)
pub(super) const SETTLE: Duration = Duration::from_secs(1);

impl Runner<'_> {
    /// Shrinks the estate to a smaller one whose case still mismatches, and writes it (with the
    /// three answers) as a reproducer; returns its path.
    pub(super) fn reproduce(
        &self,
        estate: &Value,
        query: &Value,
        raw: &RawTables,
        shrink: bool,
    ) -> Result<PathBuf> {
        let started = Instant::now();
        let mut original = estate.clone();
        original["queries"] = json!([query]);
        // A candidate the PDP refuses (a policy naming a removed column) is no reproducer.
        let mismatches = |candidate: &Value, settle: Duration| {
            self.compare_all(candidate, raw, settle, &mut Timings::default())
                .is_ok_and(|results| results.iter().any(|(_, answers)| !answers.agree()))
        };
        // Looked at right after its apply, then (applied again) once its changes have settled.
        let settled = |candidate: &Value| {
            mismatches(candidate, Duration::ZERO) && mismatches(candidate, SETTLE)
        };
        let mut smallest = original.clone();
        let mut improved = shrink;
        while improved && started.elapsed() < SHRINK_BUDGET {
            improved = false;
            for candidate in smaller(&smallest, query) {
                if settled(&candidate) {
                    smallest = candidate;
                    improved = true;
                    break;
                }
            }
        }
        let mut answers = self.compare_all(&smallest, raw, SETTLE, &mut Timings::default())?;
        // Should the shrunk estate agree after all, the reproducer is the estate as it was.
        if smallest != original && answers.iter().all(|(_, answers)| answers.agree()) {
            smallest = original;
            answers = self.compare_all(&smallest, raw, SETTLE, &mut Timings::default())?;
        }
        let id = query["id"].as_str().unwrap_or("case").replace('/', "_");
        let file = self.work.join(format!("mismatch-{id}.json"));
        let mut reproducer = smallest.clone();
        if let Some((_, answers)) = answers.first() {
            reproducer["observed"] = json!({
                "model": answers.expected.to_string(),
                "governed_catalog": answers.governed.to_string(),
                "native": answers.native.to_string(),
            });
        }
        fs::write(&file, serde_json::to_string_pretty(&reproducer)?)?;
        Ok(file)
    }
}

/// Candidate estates one step smaller than `estate`, for shrinking: without one policy, one
/// other data source, one other user, or one project or purpose. The tables stay as they are
/// (a candidate runs on the estate's tables and raw rows): dropping a row or a column would
/// change what the model reads but not what Trino does.
fn smaller(estate: &Value, query: &Value) -> Vec<Value> {
    let mut candidates = Vec::new();
    let without = |path: &[&str], index: usize| {
        let mut candidate = estate.clone();
        let mut target = &mut candidate;
        for key in path {
            target = &mut target[*key];
        }
        if let Some(items) = target.as_array_mut() {
            items.remove(index);
        }
        candidate
    };
    let count = |value: &Value| value.as_array().map_or(0, Vec::len);
    let bundle = &estate["bundle"];
    for index in 0..count(&bundle["policies"]) {
        candidates.push(without(&["bundle", "policies"], index));
    }
    let case_source = query["data_source"].as_str().unwrap_or_default();
    for (index, data_source) in bundle["data_sources"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if data_source["name"].as_str() != Some(case_source) {
            candidates.push(without(&["bundle", "data_sources"], index));
        }
    }
    for (index, user) in bundle["users"].as_array().into_iter().flatten().enumerate() {
        if user["name"] != query["user"] {
            candidates.push(without(&["bundle", "users"], index));
        }
    }
    for key in ["projects", "purposes"] {
        for index in 0..count(&bundle[key]) {
            candidates.push(without(&["bundle", key], index));
        }
    }
    candidates
}
