//! A client for Trino's HTTP protocol as each test user: statements run to the end, the
//! comparisons the scenarios assert with (`same_rows`, `expect_rows`, `differs`), and the
//! query timings Trino reports.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;

use super::ADMIN;
use super::processes::Processes;

const TRINO_START_DEADLINE: Duration = Duration::from_secs(240);
const QUERY_DEADLINE: Duration = Duration::from_secs(120);

pub(super) struct Trino {
    pub(super) base: String,
    pub(super) agent: ureq::Agent,
}

/// The prefix that makes an entry of a statement's `session` an extra credential
/// (`credential:veil.project`), the way native enforcement reads the project.
pub(super) const CREDENTIAL: &str = "credential:";

/// What Trino reported for a failed query.
#[derive(Debug)]
pub(super) struct QueryError {
    pub(super) name: String,
    pub(super) message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.name, self.message)
    }
}

impl Trino {
    pub(super) fn new(port: u16) -> Self {
        Trino {
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout_read(Duration::from_secs(60))
                .build(),
        }
    }

    /// Waits until the coordinator says it has started; fails early if the process exits.
    pub(super) fn wait_until_ready(
        &self,
        processes: &mut Processes,
        name: &str,
        log: &Path,
    ) -> Result<()> {
        let deadline = Instant::now() + TRINO_START_DEADLINE;
        let url = format!("{}/v1/info", self.base);
        loop {
            let info = self
                .agent
                .get(&url)
                .call()
                .ok()
                .and_then(|response| response.into_string().ok())
                .and_then(|body| serde_json::from_str::<Value>(&body).ok());
            // Started is not yet ready: a query can still find no node to run on.
            if info.is_some_and(|info| info.get("starting") == Some(&Value::Bool(false)))
                && self
                    .execute(super::ADMIN, &[], "SELECT count(*) FROM tpch.tiny.nation")
                    .is_ok_and(|(rows, error)| error.is_none() && !rows.is_empty())
            {
                return Ok(());
            }
            processes.ensure_running(name, log)?;
            ensure!(
                Instant::now() < deadline,
                "Trino did not start within {TRINO_START_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs a statement to the end: its rows, or the error Trino reported (with any rows seen before it).
    pub(super) fn execute(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<(Vec<Vec<Value>>, Option<QueryError>)> {
        let (rows, error, _) = self.execute_with_id(user, session, sql)?;
        Ok((rows, error))
    }

    /// [`Trino::execute`], also returning Trino's query id (for `GET /v1/query/{id}`).
    pub(super) fn execute_with_id(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<(Vec<Vec<Value>>, Option<QueryError>, String)> {
        let answer = self.answer(user, session, sql)?;
        Ok((answer.rows, answer.error, answer.id))
    }

    /// Runs a statement to the end: everything Trino said about it.
    pub(super) fn answer(&self, user: &str, session: &[(&str, &str)], sql: &str) -> Result<Answer> {
        let deadline = Instant::now() + QUERY_DEADLINE;
        let mut request = self
            .agent
            .post(&format!("{}/v1/statement", self.base))
            .set("X-Trino-User", user);
        // `session` holds session properties, and extra credentials named `credential:NAME`.
        let (credentials, properties): (Vec<_>, Vec<_>) = session
            .iter()
            .partition(|(name, _)| name.starts_with(CREDENTIAL));
        let header = |entries: Vec<&(&str, &str)>| -> String {
            entries
                .iter()
                .map(|(name, value)| {
                    let name = name.strip_prefix(CREDENTIAL).unwrap_or(name);
                    format!("{name}={}", percent_encode(value))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        if !properties.is_empty() {
            request = request.set("X-Trino-Session", &header(properties));
        }
        if !credentials.is_empty() {
            request = request.set("X-Trino-Extra-Credential", &header(credentials));
        }
        let mut page = read_json(request.send_string(sql))?;
        let query_id = page
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut rows = Vec::new();
        let mut columns = Vec::new();
        loop {
            if columns.is_empty()
                && let Some(described) = page.get("columns").and_then(Value::as_array)
            {
                columns = described
                    .iter()
                    .map(|column| {
                        column
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect();
            }
            if let Some(data) = page.get("data").and_then(Value::as_array) {
                for row in data {
                    rows.push(row.as_array().cloned().unwrap_or_default());
                }
            }
            if let Some(error) = page.get("error") {
                let text = |key: &str| {
                    error
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                return Ok(Answer {
                    id: query_id,
                    columns,
                    rows,
                    error: Some(QueryError {
                        name: text("errorName"),
                        message: text("message"),
                    }),
                });
            }
            let Some(next) = page.get("nextUri").and_then(Value::as_str) else {
                return Ok(Answer {
                    id: query_id,
                    columns,
                    rows,
                    error: None,
                });
            };
            ensure!(
                Instant::now() < deadline,
                "`{sql}` did not finish within {QUERY_DEADLINE:?}"
            );
            page = self.next_page(user, next, deadline)?;
        }
    }

    fn next_page(&self, user: &str, uri: &str, deadline: Instant) -> Result<Value> {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.agent.get(uri).set("X-Trino-User", user).call() {
                // 503: the coordinator is busy; the protocol says to retry the same URI.
                Err(ureq::Error::Status(503, _)) if Instant::now() < deadline => {
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                response => return read_json(response),
            }
        }
    }

    /// The rows of a statement that must succeed.
    pub(super) fn rows(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<Vec<Vec<Value>>> {
        match self.execute(user, session, sql)? {
            (rows, None) => Ok(rows),
            (_, Some(error)) => bail!("{user}: `{sql}` failed: {error}"),
        }
    }

    /// The error of a statement that must fail without returning a single row.
    pub(super) fn fails(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
    ) -> Result<QueryError> {
        match self.execute(user, session, sql)? {
            (rows, _) if !rows.is_empty() => {
                bail!(
                    "{user}: `{sql}` returned {} rows, expected an error",
                    rows.len()
                )
            }
            (_, Some(error)) => Ok(error),
            (_, None) => bail!("{user}: `{sql}` succeeded with no rows, expected an error"),
        }
    }

    /// Runs a statement that must return rows and reads what Trino spent on it from the query's
    /// own statistics (`GET /v1/query/{id}`).
    pub(super) fn timed(&self, user: &str, sql: &str) -> Result<QueryTimes> {
        let (rows, error, query_id) = self.execute_with_id(user, &[], sql)?;
        if let Some(error) = error {
            bail!("{user}: `{sql}` failed: {error}");
        }
        ensure!(!rows.is_empty(), "{user}: `{sql}` returned no rows");
        let info = read_json(
            self.agent
                .get(&format!("{}/v1/query/{query_id}", self.base))
                .set("X-Trino-User", user)
                .call(),
        )?;
        let stats = info
            .get("queryStats")
            .ok_or_else(|| anyhow!("query {query_id} has no queryStats"))?;
        let field = |name: &str| -> Result<Duration> {
            let text = stats
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("query {query_id} has no queryStats.{name}"))?;
            parse_duration(text)
        };
        Ok(QueryTimes {
            queued: field("queuedTime")?,
            analysis: field("analysisTime")?,
            planning: field("planningTime")?,
            execution: field("executionTime")?,
            elapsed: field("elapsedTime")?,
        })
    }

    pub(super) fn count(&self, user: &str, sql: &str) -> Result<i64> {
        let rows = self.rows(user, &[], sql)?;
        rows.first()
            .and_then(|row| row.first())
            .and_then(Value::as_i64)
            .ok_or_else(|| anyhow!("`{sql}` did not return a count: {rows:?}"))
    }

    /// The user's rows equal the admin's, row for row; returns how many. The admin's query must
    /// return rows, or the comparison would prove nothing.
    pub(super) fn same_rows(
        &self,
        user: &str,
        session: &[(&str, &str)],
        user_sql: &str,
        admin_sql: &str,
    ) -> Result<usize> {
        let expected = self.rows(ADMIN, &[], admin_sql)?;
        ensure!(
            !expected.is_empty(),
            "the admin's `{admin_sql}` returned no rows"
        );
        let actual = self.rows(user, session, user_sql)?;
        if actual != expected {
            let first_difference = actual
                .iter()
                .zip(&expected)
                .position(|(left, right)| left != right)
                .unwrap_or(actual.len().min(expected.len()));
            bail!(
                "{user}: `{user_sql}` returned {} rows, the admin's `{admin_sql}` {}; first difference at row {}: \
                 got {:?}, expected {:?}",
                actual.len(),
                expected.len(),
                first_difference,
                actual.get(first_difference),
                expected.get(first_difference)
            );
        }
        Ok(actual.len())
    }

    /// The user's rows are exactly `expected`.
    pub(super) fn expect_rows(
        &self,
        user: &str,
        session: &[(&str, &str)],
        sql: &str,
        expected: &[Vec<Value>],
    ) -> Result<()> {
        let rows = self.rows(user, session, sql)?;
        if rows != expected {
            let json = |rows: &[Vec<Value>]| {
                Value::Array(rows.iter().cloned().map(Value::Array).collect())
            };
            bail!(
                "{user}: `{sql}`\n      expected {}\n      got      {}",
                json(expected),
                json(&rows)
            );
        }
        Ok(())
    }

    /// The user's rows differ from the admin's somewhere: a masked column must not come back
    /// as its backing value, or the mask check proves nothing.
    pub(super) fn differs(
        &self,
        user: &str,
        session: &[(&str, &str)],
        user_sql: &str,
        admin_sql: &str,
    ) -> Result<()> {
        let masked = self.rows(user, session, user_sql)?;
        let raw = self.rows(ADMIN, &[], admin_sql)?;
        ensure!(
            masked != raw,
            "{user}: `{user_sql}` comes back unmasked, as the admin's `{admin_sql}`"
        );
        Ok(())
    }
}

/// A statement's query id, result columns, rows, and error if it failed.
pub(super) struct Answer {
    pub(super) id: String,
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<Value>>,
    pub(super) error: Option<QueryError>,
}

/// Where Trino's time went for one query, as its `queryStats` report it.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueryTimes {
    pub(super) queued: Duration,
    pub(super) analysis: Duration,
    pub(super) planning: Duration,
    pub(super) execution: Duration,
    pub(super) elapsed: Duration,
}

/// Parses an airlift `Duration` as Trino prints it: a decimal number and a unit (`12.34ms`).
fn parse_duration(text: &str) -> Result<Duration> {
    let split = text
        .find(|character: char| character.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("`{text}` has no unit"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a duration"))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => bail!("`{text}` has an unknown unit"),
    };
    Ok(Duration::from_secs_f64(value * seconds_per_unit))
}

fn read_json(response: Result<ureq::Response, ureq::Error>) -> Result<Value> {
    let response = match response {
        Ok(response) => response,
        Err(ureq::Error::Status(status, response)) => {
            let body = response.into_string().unwrap_or_default();
            bail!("Trino answered HTTP {status}: {body}")
        }
        Err(error) => return Err(error).context("talking to Trino"),
    };
    let body = response.into_string().context("reading Trino's answer")?;
    serde_json::from_str(&body).with_context(|| format!("Trino's answer is not JSON: {body}"))
}

/// Percent-encoding for `X-Trino-Session` values, which the protocol URL-decodes.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
