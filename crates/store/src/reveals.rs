//! The reveal audit: every authorization the plugin asked for before revealing a reversible
//! mask's tokens (allowed or not), and every node's count of values it revealed. Read back per
//! query, user, data source, column and policy, with the counts summed over the nodes.

use sqlx::Row;

use crate::{AuditFilter, Store, StoreError};

/// One row of the reveal audit as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealEvent {
    pub at_millis: i64,
    pub query_id: String,
    pub user: String,
    pub project: String,
    pub data_source: String,
    pub column: String,
    /// The reversible mask policy whose tokens were opened (empty when refused before one
    /// was found).
    pub policy: String,
    pub allowed: bool,
    /// Why it was refused.
    pub reason: String,
    /// The node that revealed values; empty for an authorization.
    pub node: String,
    /// Values revealed; 0 for an authorization.
    pub revealed: u64,
}

/// The reveals of one query, user, data source, column and policy, allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealSummary {
    pub query_id: String,
    pub user: String,
    pub project: String,
    pub data_source: String,
    pub column: String,
    pub policy: String,
    pub allowed: bool,
    pub reason: String,
    pub revealed: u64,
    /// Nodes that reported revealing values.
    pub nodes: u32,
    pub first_millis: i64,
    pub last_millis: i64,
}

impl Store {
    /// Stores reveal events in one transaction.
    pub async fn record_reveals(&self, events: &[RevealEvent]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        for event in events {
            sqlx::query(
                "INSERT INTO veil_reveals (at_millis, query_id, user_name, project, data_source, \
                 column_name, policy, allowed, reason, node, revealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(event.at_millis)
            .bind(event.query_id.as_str())
            .bind(event.user.as_str())
            .bind(event.project.as_str())
            .bind(event.data_source.as_str())
            .bind(event.column.as_str())
            .bind(event.policy.as_str())
            .bind(event.allowed as i32)
            .bind(event.reason.as_str())
            .bind(event.node.as_str())
            .bind(i64::try_from(event.revealed).unwrap_or(i64::MAX))
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Reveals grouped by query, user, data source, column, policy and verdict, the most
    /// recent first.
    pub async fn reveals(&self, filter: &AuditFilter) -> Result<Vec<RevealSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT query_id, user_name, data_source, column_name, policy, allowed, \
                    MAX(project) AS project, MAX(reason) AS reason, \
                    CAST(SUM(revealed) AS BIGINT) AS revealed, \
                    CAST(COUNT(DISTINCT CASE WHEN node <> '' THEN node END) AS BIGINT) AS nodes, \
                    MIN(at_millis) AS first_millis, MAX(at_millis) AS last_millis \
             FROM veil_reveals \
             WHERE ($1 = '' OR user_name = $1) \
               AND ($2 = '' OR query_id = $2) \
               AND ($3 = '' OR data_source = $3) \
               AND at_millis >= $4 AND at_millis < $5 \
             GROUP BY query_id, user_name, data_source, column_name, policy, allowed \
             ORDER BY last_millis DESC, query_id DESC, column_name LIMIT $6",
        )
        .bind(filter.user.as_deref().unwrap_or(""))
        .bind(filter.query_id.as_deref().unwrap_or(""))
        .bind(filter.data_source.as_deref().unwrap_or(""))
        .bind(filter.since_millis.unwrap_or(i64::MIN))
        .bind(filter.until_millis.unwrap_or(i64::MAX))
        .bind(filter.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RevealSummary {
                    query_id: row.try_get("query_id")?,
                    user: row.try_get("user_name")?,
                    project: row.try_get("project")?,
                    data_source: row.try_get("data_source")?,
                    column: row.try_get("column_name")?,
                    policy: row.try_get("policy")?,
                    allowed: row.try_get::<i32, _>("allowed")? != 0,
                    reason: row.try_get("reason")?,
                    revealed: row.try_get::<i64, _>("revealed")?.max(0) as u64,
                    nodes: row.try_get::<i64, _>("nodes")?.max(0) as u32,
                    first_millis: row.try_get("first_millis")?,
                    last_millis: row.try_get("last_millis")?,
                })
            })
            .collect()
    }
}
