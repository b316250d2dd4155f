//! The Python side of a run: random estates from `tests/differential/generate.py` and the
//! answers of the reference model `tests/differential/model.py`, each run with the model's own
//! Python (see `tools::model_python`).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::*;

impl Runner<'_> {
    pub(super) fn generate(&self, seed: u64) -> Result<Value> {
        let output = Command::new(&self.python)
            .arg(self.root.join("tests/differential/generate.py"))
            .args(["--seed", &seed.to_string(), "--today", &self.today])
            .output()
            .context("running python3 tests/differential/generate.py")?;
        ensure!(
            output.status.success(),
            "generate.py --seed {seed} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).context("generate.py printed no estate")
    }

    /// The model's answer to every query, in order.
    pub(super) fn model(
        &self,
        estate: &Value,
        queries: &[Value],
        raw: &RawTables,
    ) -> Result<Vec<Outcome>> {
        let data_sources = DataSources::of(&estate["bundle"])?;
        let cases: Vec<Value> = queries
            .iter()
            .map(|query| {
                let name = query["data_source"].as_str().unwrap_or_default();
                let table = data_sources
                    .backing(name)
                    .and_then(|backing| raw.0.get(backing))
                    .cloned()
                    .unwrap_or_else(|| json!({"columns": [], "rows": []}));
                json!({
                    "id": query["id"],
                    "user": query["user"],
                    "trino_groups": [],
                    "project": query["project"],
                    "data_source": name,
                    "raw": table,
                })
            })
            .collect();
        let input = json!({
            "bundle": estate["bundle"],
            "now": format!("{} 12:00:00", self.today),
            "keys": {"default": MASK_KEY, "next": NEXT_MASK_KEY},
            "trust_trino_groups": true,
            "cases": cases,
        });
        let mut child = Command::new(&self.python)
            .arg(self.root.join("tests/differential/model.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running python3 tests/differential/model.py")?;
        child
            .stdin
            .take()
            .context("the model's stdin")?
            .write_all(serde_json::to_string(&input)?.as_bytes())?;
        let output = child.wait_with_output()?;
        ensure!(
            output.status.success(),
            "model.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answers: Vec<Value> = String::from_utf8(output.stdout)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .context("model.py printed a line that is not JSON")?;
        ensure!(
            answers.len() == queries.len(),
            "the model answered {} of {} cases",
            answers.len(),
            queries.len()
        );
        answers
            .iter()
            .zip(queries)
            .map(|(answer, query)| {
                let name = query["data_source"].as_str().unwrap_or_default();
                Ok(match answer["outcome"].as_str() {
                    Some("rows") => {
                        let columns = strings(&answer["columns"]);
                        let rows = answer["rows"].as_array().cloned().unwrap_or_default();
                        let rows: Vec<Vec<Value>> = rows
                            .iter()
                            .map(|row| row.as_array().cloned().unwrap_or_default())
                            .collect();
                        rows_outcome(&columns, &columns, &rows, data_sources.types(name))?
                    }
                    Some("absent") => Outcome::Absent,
                    Some("refused") => Outcome::Refused,
                    other => bail!("the model answered {other:?} for {query}"),
                })
            })
            .collect()
    }
}
