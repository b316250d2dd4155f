//! The query audit in the store: one row per completed Trino query that read governed data, as
//! the plugin's event listener reported it, with an index row per data source it read; and the
//! retention that prunes both audits.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::decisions::{DECISION_COLUMNS, decision_from_row};
use crate::{DecisionRecord, Store, StoreError};

/// One completed query. Stored as JSON beside the columns it is filtered by.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryRecord {
    pub query_id: String,
    pub user: String,
    pub groups: Vec<String>,
    pub project: String,
    pub create_millis: i64,
    pub execution_start_millis: i64,
    pub end_millis: i64,
    /// `FINISHED` or `FAILED`.
    pub state: String,
    pub error_code: String,
    pub error_message: String,
    pub tables: Vec<QueryTable>,
    pub output_rows: u64,
    pub output_bytes: u64,
    pub read_rows: u64,
    pub read_bytes: u64,
    pub query: String,
    /// The data sources it read, by governed name.
    pub data_sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryTable {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub governed_view: bool,
    pub directly_referenced: bool,
    pub row_filters: Vec<String>,
    pub columns: Vec<QueryColumn>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryColumn {
    pub name: String,
    /// Empty: not masked.
    pub mask: String,
}

/// What `Store::queries` and `Store::reveals` return; every field that is set narrows it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub data_source: Option<String>,
    pub query_id: Option<String>,
    /// At or after (a query's end; a reveal's report).
    pub since_millis: Option<i64>,
    /// Before.
    pub until_millis: Option<i64>,
    pub limit: u32,
}

/// The most rows one pruning statement deletes, so that it holds the store's write lock briefly.
pub const PRUNE_BATCH: i64 = 5_000;

/// The audit tables retention prunes, each with its time column.
const AUDIT_TABLES: [(&str, &str); 4] = [
    ("veil_decisions", "at_millis"),
    ("veil_queries", "end_millis"),
    ("veil_query_data_sources", "end_millis"),
    ("veil_reveals", "at_millis"),
];

impl Store {
    /// Stores completed queries; a query id already stored (a batch sent again after a lost
    /// answer) is kept as first stored.
    pub async fn record_queries(&self, records: &[QueryRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        for record in records {
            let json = serde_json::to_string(record).expect("a query record serializes");
            let inserted = sqlx::query(
                "INSERT INTO veil_queries (query_id, end_millis, user_name, record) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (query_id) DO NOTHING",
            )
            .bind(record.query_id.as_str())
            .bind(record.end_millis)
            .bind(record.user.as_str())
            .bind(json)
            .execute(&mut *transaction)
            .await?;
            if inserted.rows_affected() == 0 {
                continue;
            }
            for data_source in &record.data_sources {
                sqlx::query(
                    "INSERT INTO veil_query_data_sources (query_id, data_source, end_millis) VALUES ($1, $2, $3)",
                )
                .bind(record.query_id.as_str())
                .bind(data_source.as_str())
                .bind(record.end_millis)
                .execute(&mut *transaction)
                .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Stored queries, newest first.
    pub async fn queries(&self, filter: &AuditFilter) -> Result<Vec<QueryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM veil_queries q \
             WHERE ($1 = '' OR q.user_name = $1) \
               AND ($2 = '' OR q.query_id = $2) \
               AND q.end_millis >= $3 AND q.end_millis < $4 \
               AND ($5 = '' OR EXISTS (SELECT 1 FROM veil_query_data_sources s \
                                       WHERE s.query_id = q.query_id AND s.data_source = $5)) \
             ORDER BY q.end_millis DESC, q.query_id DESC LIMIT $6",
        )
        .bind(filter.user.as_deref().unwrap_or(""))
        .bind(filter.query_id.as_deref().unwrap_or(""))
        .bind(filter.since_millis.unwrap_or(i64::MIN))
        .bind(filter.until_millis.unwrap_or(i64::MAX))
        .bind(filter.data_source.as_deref().unwrap_or(""))
        .bind(filter.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let json: String = row.try_get("record")?;
                serde_json::from_str(&json).map_err(|error| StoreError::Corrupt {
                    kind: "query record".into(),
                    name: String::new(),
                    message: error.to_string(),
                })
            })
            .collect()
    }

    /// The decision records of one query: answered while it ran (from a second before it was
    /// created to its end), which the time index finds without an index on the query id.
    pub async fn decisions_of_query(
        &self,
        query: &QueryRecord,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DECISION_COLUMNS} FROM veil_decisions \
             WHERE query_id = $1 AND at_millis >= $2 AND at_millis <= $3 ORDER BY at_millis"
        ))
        .bind(query.query_id.as_str())
        .bind(query.create_millis.saturating_sub(1_000))
        .bind(query.end_millis.saturating_add(1_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    /// Deletes at most [`PRUNE_BATCH`] rows older than `before_millis` from one audit table
    /// and returns how many it deleted, with the table's name. Call it until it returns 0 for
    /// every table.
    pub async fn prune_audit_batch(
        &self,
        before_millis: i64,
    ) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut pruned = Vec::new();
        for (table, time) in AUDIT_TABLES {
            // The time below which the oldest `PRUNE_BATCH` rows lie: one statement deletes
            // about that many (rows sharing the boundary's millisecond wait for the next).
            let boundary: Option<i64> = sqlx::query(&format!(
                "SELECT {time} FROM {table} WHERE {time} < $1 ORDER BY {time} LIMIT 1 OFFSET $2"
            ))
            .bind(before_millis)
            .bind(PRUNE_BATCH)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
            let below = boundary.unwrap_or(before_millis);
            let mut deleted = sqlx::query(&format!("DELETE FROM {table} WHERE {time} < $1"))
                .bind(below)
                .execute(&self.pool)
                .await?
                .rows_affected();
            if deleted == 0 && boundary.is_some() {
                // The oldest rows all share the boundary's millisecond.
                deleted = sqlx::query(&format!("DELETE FROM {table} WHERE {time} <= $1"))
                    .bind(below)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
            }
            pruned.push((table, deleted));
        }
        Ok(pruned)
    }
}
