//! The change history: who changed which entity, when, with its JSON before and after, and
//! the bundle of a past version rebuilt by undoing later entries.

use sqlx::Row;
use veil_policy::{Bundle, ChangeAction, EntityKind};

use crate::{Store, StoreError};

/// One entity as one accepted change left it: who made the change, when, and the entity's
/// JSON before and after (empty when it did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub version: u64,
    pub at_millis: i64,
    pub caller: String,
    pub kind: EntityKind,
    pub name: String,
    pub action: ChangeAction,
    pub before: String,
    pub after: String,
}

/// Which history entries to read; empty strings and zeros match everything.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub kind: Option<EntityKind>,
    pub name: String,
    pub caller: String,
    pub since_millis: i64,
    pub until_millis: i64,
    pub limit: u32,
}

impl Store {
    /// Entity history, newest first.
    pub async fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>, StoreError> {
        let until = if filter.until_millis == 0 {
            i64::MAX
        } else {
            filter.until_millis
        };
        let rows = sqlx::query(
            "SELECT h.version, c.at_millis, c.caller, h.kind, h.name, h.action, h.before_spec, h.after_spec \
             FROM veil_entity_history h JOIN veil_changes c ON c.version = h.version \
             WHERE ($1 = '' OR h.kind = $1) AND ($2 = '' OR h.name = $2) AND ($3 = '' OR c.caller = $3) \
             AND c.at_millis >= $4 AND c.at_millis <= $5 \
             ORDER BY h.version DESC, h.kind, h.name LIMIT $6",
        )
        .bind(filter.kind.map_or("", EntityKind::name))
        .bind(filter.name.as_str())
        .bind(filter.caller.as_str())
        .bind(filter.since_millis)
        .bind(until)
        .bind(match filter.limit {
            0 => 100,
            limit => i64::from(limit),
        })
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let action: String = row.try_get("action")?;
                let corrupt = |what: &str| StoreError::Corrupt {
                    kind: "history".into(),
                    name: what.to_owned(),
                    message: "unknown value".into(),
                };
                Ok(HistoryEntry {
                    version: row.try_get::<i64, _>("version")? as u64,
                    at_millis: row.try_get("at_millis")?,
                    caller: row.try_get("caller")?,
                    kind: EntityKind::parse(&kind).ok_or_else(|| corrupt(&kind))?,
                    name: row.try_get("name")?,
                    action: [
                        ChangeAction::Added,
                        ChangeAction::Changed,
                        ChangeAction::Removed,
                    ]
                    .into_iter()
                    .find(|known| known.name() == action)
                    .ok_or_else(|| corrupt(&action))?,
                    before: row.try_get("before_spec")?,
                    after: row.try_get("after_spec")?,
                })
            })
            .collect()
    }

    /// The bundle as it stood at `version`: the current one with every later change undone.
    pub async fn bundle_at(&self, version: u64) -> Result<Bundle, StoreError> {
        let (current, mut file) = self.load().await?;
        if version > current {
            return Err(StoreError::FutureVersion {
                requested: version,
                current,
            });
        }
        let unrecorded = sqlx::query(
            "SELECT MAX(version) AS version FROM veil_changes WHERE version > $1 AND recorded = 0",
        )
        .bind(version as i64)
        .fetch_one(&self.pool)
        .await?
        .try_get::<Option<i64>, _>("version")?;
        if let Some(unrecorded) = unrecorded {
            return Err(StoreError::HistoryMissing {
                requested: version,
                unrecorded: unrecorded as u64,
            });
        }
        let rows = sqlx::query(
            "SELECT kind, name, before_spec FROM veil_entity_history WHERE version > $1 ORDER BY version DESC",
        )
        .bind(version as i64)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let name: String = row.try_get("name")?;
            let before: String = row.try_get("before_spec")?;
            let corrupt = |message: String| StoreError::Corrupt {
                kind: kind.clone(),
                name: name.clone(),
                message,
            };
            let entity_kind =
                EntityKind::parse(&kind).ok_or_else(|| corrupt("unknown kind".into()))?;
            // JSON is YAML: the stored spec is put back exactly as an edit would put it.
            let undone = if before.is_empty() {
                file.remove(entity_kind, &name)
            } else {
                file.put(entity_kind, &before).map(|_| ())
            };
            undone.map_err(|error| corrupt(error.to_string()))?;
        }
        Ok(file)
    }
}
