//! The decision audit in the store: one row per `GetViewDefinition` or native answer, written
//! in batches and read newest first.

use std::sync::Arc;

use sqlx::Row;

use crate::{Store, StoreError};

/// One `GetViewDefinition` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub at_millis: i64,
    pub user: String,
    pub project: String,
    pub data_source: String,
    pub allowed: bool,
    /// Names of the policies that shaped the answer.
    pub policies: PolicyNames,
    pub version: u64,
    pub latency_micros: u64,
    /// The Trino query it was asked for (empty: not said).
    pub query_id: String,
}

/// The names of the policies that shaped an answer, with the JSON text they are stored as: made
/// once per compiled view and shared (cheaply cloned) by every answer it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyNames(Arc<(Vec<String>, String)>);

impl PolicyNames {
    pub fn new(names: Vec<String>) -> PolicyNames {
        let json = serde_json::to_string(&names).expect("strings serialize");
        PolicyNames(Arc::new((names, json)))
    }

    /// No policies (a refused answer).
    pub fn none() -> PolicyNames {
        static NONE: std::sync::LazyLock<PolicyNames> =
            std::sync::LazyLock::new(|| PolicyNames::new(Vec::new()));
        NONE.clone()
    }

    pub fn names(&self) -> &[String] {
        &self.0.0
    }

    fn json(&self) -> &str {
        &self.0.1
    }

    fn from_json(json: String) -> PolicyNames {
        let names = serde_json::from_str(&json).unwrap_or_default();
        PolicyNames(Arc::new((names, json)))
    }
}

impl Store {
    /// Appends decision records in one transaction.
    pub async fn record_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        for chunk in records.chunks(125) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|row| self.row_placeholders(row, 9))
                .collect();
            let sql = format!(
                "INSERT INTO veil_decisions ({DECISION_COLUMNS}) VALUES {}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for record in chunk {
                query = query
                    .bind(record.at_millis)
                    .bind(record.user.as_str())
                    .bind(record.project.as_str())
                    .bind(record.data_source.as_str())
                    .bind(record.allowed as i32)
                    .bind(record.policies.json())
                    .bind(record.version as i64)
                    .bind(record.latency_micros as i64)
                    .bind(record.query_id.as_str());
            }
            query.execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The newest decision records, newest first, optionally for one user.
    pub async fn decisions(
        &self,
        limit: u32,
        user: Option<&str>,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM veil_decisions \
             WHERE ($1 = '' OR user_name = $1) ORDER BY at_millis DESC LIMIT $2"
        ))
        .bind(user.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }
}

/// The columns of `veil_decisions`, in the order they are written and read.
pub(crate) const DECISION_COLUMNS: &str = "at_millis, user_name, project, data_source, allowed, policies, version, latency_micros, query_id";

pub(crate) fn decision_from_row(row: &sqlx::any::AnyRow) -> Result<DecisionRecord, StoreError> {
    let policies: String = row.try_get("policies")?;
    Ok(DecisionRecord {
        at_millis: row.try_get("at_millis")?,
        user: row.try_get("user_name")?,
        project: row.try_get("project")?,
        data_source: row.try_get("data_source")?,
        allowed: row.try_get::<i32, _>("allowed")? != 0,
        policies: PolicyNames::from_json(policies),
        version: row.try_get::<i64, _>("version")? as u64,
        latency_micros: row.try_get::<i64, _>("latency_micros")? as u64,
        query_id: row.try_get("query_id")?,
    })
}
