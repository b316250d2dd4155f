//! Veil's metadata store: the policy bundle (one row per entity), a monotonic policy version,
//! the history of changes and the decision audit log — in an embedded SQLite file by default or
//! in PostgreSQL shared by several PDP replicas. Same SQL, same behaviour, on both.
//!
//! Every write is one transaction guarded by the version it started from, so a crash loses
//! nothing committed and never leaves half a bundle, and two writers cannot both win.

mod decisions; // the decision audit: `DecisionRecord`s written in batches, read newest first
mod history; // who changed what: `HistoryEntry`s, and `Store::bundle_at` a past version
mod migrations; // the versioned schema, the same SQL on SQLite and PostgreSQL
mod queries; // the query audit: `QueryRecord`s from the plugin's event listener; audit retention
mod reveals; // the reveal audit: authorizations asked and values revealed, per query and column
mod rows; // the entity rows a commit writes, and their history rows

pub use decisions::{DecisionRecord, PolicyNames};
pub use history::{HistoryEntry, HistoryFilter};
pub use queries::{AuditFilter, PRUNE_BATCH, QueryColumn, QueryRecord, QueryTable};
pub use reveals::{RevealEvent, RevealSummary};

use futures_util::TryStreamExt;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use veil_policy::{Bundle, ChangeAction, EntityKind, UserSpec};

use crate::rows::{EntityKey, EntityRow, HistoryRow, Rows, changed_rows, to_json};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: stored {kind} `{name}` cannot be read: {message}")]
    Corrupt {
        kind: String,
        name: String,
        message: String,
    },
    #[error(
        "store: the policy version moved from {expected} to {found} while this change was prepared"
    )]
    Conflict { expected: u64, found: u64 },
    #[error("store: unsupported URL `{0}` (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    #[error("store: version {requested} is after the current version {current}")]
    FutureVersion { requested: u64, current: u64 },
    #[error(
        "store: the bundle as of version {requested} cannot be rebuilt: version {unrecorded} was committed before the store kept entity history"
    )]
    HistoryMissing { requested: u64, unrecorded: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One committed change: the version it produced and what it may affect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub version: u64,
    pub data_sources: Vec<String>,
    pub users: Vec<String>,
    pub everything: bool,
}

impl ChangeRecord {
    /// Consecutive changes as one ending at `version`: the union of what each may affect.
    pub fn merge(version: u64, records: impl IntoIterator<Item = ChangeRecord>) -> ChangeRecord {
        let mut merged = ChangeRecord {
            version,
            data_sources: Vec::new(),
            users: Vec::new(),
            everything: false,
        };
        for record in records {
            merged.data_sources.extend(record.data_sources);
            merged.users.extend(record.users);
            merged.everything |= record.everything;
        }
        for names in [&mut merged.data_sources, &mut merged.users] {
            names.sort();
            names.dedup();
        }
        merged
    }
}

/// The PostgreSQL channel every commit notifies, inside its transaction.
const CHANGES_CHANNEL: &str = "veil_changes";

/// Notifications of the commits of every replica sharing a PostgreSQL store (LISTEN/NOTIFY,
/// not polling). A notification says only that something was committed: read what from
/// [`Store::load`] and [`Store::changes_since`].
pub struct CommitListener(sqlx::postgres::PgListener);

impl CommitListener {
    pub async fn connect(url: &str) -> Result<CommitListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(CommitListener(listener))
    }

    /// Waits for the next commit; an error means the connection was lost.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

const KINDS: [EntityKind; 7] = EntityKind::ALL;

impl Store {
    /// Opens (and creates, for SQLite) the store at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            (
                Backend::Sqlite,
                format!(
                    "sqlite://{path}{}",
                    if path.contains('?') { "" } else { "?mode=rwc" }
                ),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let mut options =
            AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 1 } else { 8 });
        if backend == Backend::Sqlite {
            options = options.after_connect(|connection, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        let store = Store { pool, backend };
        migrations::run(&store.pool, backend == Backend::Postgres).await?;
        Ok(store)
    }

    /// `(?, ?, ...)` on SQLite, `($9, $10, ...)` on PostgreSQL, for row `row` of a multi-row
    /// insert of `columns` columns. SQLite finds a named or numbered parameter by walking a list,
    /// which makes large statements quadratic; anonymous `?` parameters are bound by position.
    fn row_placeholders(&self, row: usize, columns: usize) -> String {
        let parameters: Vec<String> = (1..=columns)
            .map(|column| match self.backend {
                Backend::Sqlite => "?".to_owned(),
                Backend::Postgres => format!("${}", row * columns + column),
            })
            .collect();
        format!("({})", parameters.join(", "))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The current version and bundle.
    pub async fn load(&self) -> Result<(u64, Bundle), StoreError> {
        // Each row is read into its typed entity as it arrives: no row text or JSON tree of the
        // whole bundle is held at once, which at 100,000 users was most of a load's peak.
        let mut transaction = self.pool.begin().await?;
        let version = current_version(&mut transaction).await?;
        let mut file = Bundle::default();
        {
            let mut rows =
                sqlx::query("SELECT kind, name, spec FROM veil_entities ORDER BY kind, position")
                    .fetch(&mut *transaction);
            while let Some(row) = rows.try_next().await? {
                let kind: String = row.try_get("kind")?;
                let name: String = row.try_get("name")?;
                let spec: String = row.try_get("spec")?;
                let corrupt = |kind: &str, message: String| StoreError::Corrupt {
                    kind: kind.to_owned(),
                    name: name.clone(),
                    message,
                };
                let kind = KINDS
                    .into_iter()
                    .find(|known| known.name() == kind)
                    .ok_or_else(|| corrupt(&kind, "unknown kind".into()))?;
                push_entity(&mut file, kind, &spec)
                    .map_err(|error| corrupt(kind.name(), error.to_string()))?;
            }
        }
        transaction.commit().await?;
        Ok((version, file))
    }

    /// Replaces the stored bundle with `file` as version `new_version`, provided the store is
    /// still at `expected_version`. Only entities that differ are written; each one's before and
    /// after is kept in the history with `caller` and the time.
    pub async fn commit(
        &self,
        expected_version: u64,
        new_version: u64,
        old: &Bundle,
        file: &Bundle,
        change: &ChangeRecord,
        caller: &str,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        claim_version(&mut transaction, expected_version, new_version).await?;
        // Kinds whose positions single edits left other than `0..n` are written out afresh.
        let mut renumber = Vec::new();
        for row in sqlx::query(
            "SELECT kind, COUNT(*) AS rows, MAX(position) AS last FROM veil_entities GROUP BY kind",
        )
        .fetch_all(&mut *transaction)
        .await?
        {
            let (kind, rows, last): (String, i64, i64) = (
                row.try_get("kind")?,
                row.try_get("rows")?,
                row.try_get("last")?,
            );
            if last + 1 != rows {
                renumber.push(kind);
            }
        }
        let renumber: Vec<&str> = renumber.iter().map(String::as_str).collect();
        // Rows that went away or changed are deleted; rows that are new or changed are inserted.
        let Rows {
            stale,
            fresh,
            history,
        } = changed_rows(old, file, &renumber);
        for key in &stale {
            sqlx::query("DELETE FROM veil_entities WHERE kind = $1 AND name = $2")
                .bind(key.0)
                .bind(key.1.as_str())
                .execute(&mut *transaction)
                .await?;
        }
        self.insert_rows(&mut transaction, &fresh).await?;
        self.finish_commit(transaction, new_version, change, caller, &history, false)
            .await
    }

    /// Commits a change of single users: [`Store::commit_entities`] of their rows.
    pub async fn commit_users(
        &self,
        expected_version: u64,
        new_version: u64,
        users: &[(String, Option<UserSpec>, Option<UserSpec>)],
        change: &ChangeRecord,
        caller: &str,
    ) -> Result<(), StoreError> {
        let rows: Vec<RowEdit> = users
            .iter()
            .map(|(name, before, after)| RowEdit {
                kind: EntityKind::User,
                name: name.clone(),
                before: before.as_ref().map(to_json),
                after: after.as_ref().map(to_json),
            })
            .collect();
        self.commit_entities(expected_version, new_version, &rows, change, caller)
            .await
    }

    /// Commits a change of single entities (users, policies, data sources, …) as version
    /// `new_version`, provided the store is still at `expected_version`, writing only their
    /// rows: a changed entity keeps its position, a new one goes after the last of its kind, a
    /// removed one leaves a gap (the next whole commit renumbers). The commit is marked so that
    /// replicas can follow it from its history rows ([`Store::entity_edits_between`]).
    pub async fn commit_entities(
        &self,
        expected_version: u64,
        new_version: u64,
        rows: &[RowEdit],
        change: &ChangeRecord,
        caller: &str,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        claim_version(&mut transaction, expected_version, new_version).await?;
        let mut next: Vec<(&str, i64)> = Vec::new();
        let mut fresh = Vec::new();
        let mut history = Vec::new();
        for RowEdit {
            kind,
            name,
            before,
            after,
        } in rows
        {
            if before == after {
                continue;
            }
            let kind = kind.name();
            match (before, after) {
                (Some(_), Some(spec)) => {
                    sqlx::query("UPDATE veil_entities SET spec = $1 WHERE kind = $2 AND name = $3")
                        .bind(spec.as_str())
                        .bind(kind)
                        .bind(name.as_str())
                        .execute(&mut *transaction)
                        .await?;
                }
                (None, Some(spec)) => {
                    let position = match next.iter_mut().find(|(known, _)| *known == kind) {
                        Some((_, position)) => position,
                        None => {
                            let last: Option<i64> = sqlx::query(
                                "SELECT MAX(position) AS last FROM veil_entities WHERE kind = $1",
                            )
                            .bind(kind)
                            .fetch_one(&mut *transaction)
                            .await?
                            .try_get("last")?;
                            next.push((kind, last.map_or(0, |last| last + 1)));
                            &mut next.last_mut().expect("just pushed").1
                        }
                    };
                    fresh.push(((kind, name.clone()), (*position as usize, spec.clone())));
                    *position += 1;
                }
                (Some(_), None) => {
                    sqlx::query("DELETE FROM veil_entities WHERE kind = $1 AND name = $2")
                        .bind(kind)
                        .bind(name.as_str())
                        .execute(&mut *transaction)
                        .await?;
                }
                (None, None) => continue,
            }
            history.push(HistoryRow {
                kind,
                name: name.clone(),
                action: match (before, after) {
                    (None, _) => ChangeAction::Added,
                    (_, None) => ChangeAction::Removed,
                    _ => ChangeAction::Changed,
                },
                before: before.clone().unwrap_or_default(),
                after: after.clone().unwrap_or_default(),
            });
        }
        self.insert_rows(&mut transaction, &fresh).await?;
        self.finish_commit(transaction, new_version, change, caller, &history, true)
            .await
    }

    /// Inserts entity rows, many per statement: a first load writes every entity of a large
    /// estate.
    async fn insert_rows(
        &self,
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
        fresh: &[(EntityKey, EntityRow)],
    ) -> Result<(), StoreError> {
        for chunk in fresh.chunks(250) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|row| self.row_placeholders(row, 4))
                .collect();
            let sql = format!(
                "INSERT INTO veil_entities (kind, name, position, spec) VALUES {}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for ((kind, name), (position, spec)) in chunk {
                query = query
                    .bind(*kind)
                    .bind(name.as_str())
                    .bind(*position as i64)
                    .bind(spec.as_str());
            }
            query.execute(&mut **transaction).await?;
        }
        Ok(())
    }

    /// The change record, the history rows and the notification; then the commit.
    async fn finish_commit(
        &self,
        mut transaction: sqlx::Transaction<'_, sqlx::Any>,
        new_version: u64,
        change: &ChangeRecord,
        caller: &str,
        history: &[HistoryRow],
        entity_edits: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO veil_changes (version, data_sources, users, everything, at_millis, caller, recorded, users_only) VALUES ($1, $2, $3, $4, $5, $6, 1, $7)")
            .bind(new_version as i64)
            .bind(serde_json::to_string(&change.data_sources).expect("strings serialize"))
            .bind(serde_json::to_string(&change.users).expect("strings serialize"))
            .bind(change.everything as i32)
            .bind(now_millis())
            .bind(caller)
            // `users_only` is named for the first kind single edits were committed for; it marks
            // any single-entity commit. A replica that follows users only sees another kind in
            // the commit's history rows, and reloads.
            .bind(entity_edits as i32)
            .execute(&mut *transaction)
            .await?;
        for chunk in history.chunks(150) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|row| self.row_placeholders(row, 6))
                .collect();
            let sql = format!(
                "INSERT INTO veil_entity_history (version, kind, name, action, before_spec, after_spec) VALUES {}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                query = query
                    .bind(new_version as i64)
                    .bind(entry.kind)
                    .bind(entry.name.as_str())
                    .bind(entry.action.name())
                    .bind(entry.before.as_str())
                    .bind(entry.after.as_str());
            }
            query.execute(&mut *transaction).await?;
        }
        if self.backend == Backend::Postgres {
            // Delivered to every listening replica when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(new_version.to_string())
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Changes committed after `version`, oldest first.
    pub async fn changes_since(&self, version: u64) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows = sqlx::query("SELECT version, data_sources, users, everything FROM veil_changes WHERE version > $1 ORDER BY version")
            .bind(version as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let list = |column: &str| -> Result<Vec<String>, StoreError> {
                    let text: String = row.try_get(column)?;
                    serde_json::from_str(&text).map_err(|error| StoreError::Corrupt {
                        kind: "change".into(),
                        name: column.into(),
                        message: error.to_string(),
                    })
                };
                Ok(ChangeRecord {
                    version: row.try_get::<i64, _>("version")? as u64,
                    data_sources: list("data_sources")?,
                    users: list("users")?,
                    everything: row.try_get::<i32, _>("everything")? != 0,
                })
            })
            .collect()
    }
}

impl Store {
    /// The stored policy version.
    pub async fn version(&self) -> Result<u64, StoreError> {
        let mut connection = self.pool.acquire().await?;
        current_version(&mut connection).await
    }

    /// The users the commits after `after` up to `through` left, oldest first (a user's spec,
    /// or `None` where it was removed), when those commits are all single-entity commits of
    /// users only; `None` otherwise.
    pub async fn user_edits_between(
        &self,
        after: u64,
        through: u64,
    ) -> Result<Option<Vec<(String, Option<UserSpec>)>>, StoreError> {
        let Some(edits) = self.entity_edits_between(after, through).await? else {
            return Ok(None);
        };
        let mut users = Vec::with_capacity(edits.len());
        for (kind, name, spec) in edits {
            if kind != EntityKind::User {
                return Ok(None);
            }
            let spec = spec
                .map(|spec| {
                    serde_json::from_str(&spec).map_err(|error| StoreError::Corrupt {
                        kind: kind.name().to_owned(),
                        name: name.clone(),
                        message: error.to_string(),
                    })
                })
                .transpose()?;
            users.push((name, spec));
        }
        Ok(Some(users))
    }

    /// The entities the commits after `after` up to `through` left, oldest first: each one's
    /// kind, name and spec as JSON (`None` where it was removed), when every one of those
    /// commits was made by [`Store::commit_entities`] (a whole commit may also move rows, which
    /// no history row says); `None` otherwise. What a replica needs to follow single edits
    /// without reloading everything.
    pub async fn entity_edits_between(
        &self,
        after: u64,
        through: u64,
    ) -> Result<Option<Vec<(EntityKind, String, Option<String>)>>, StoreError> {
        let commits =
            sqlx::query("SELECT users_only FROM veil_changes WHERE version > $1 AND version <= $2")
                .bind(after as i64)
                .bind(through as i64)
                .fetch_all(&self.pool)
                .await?;
        if commits.is_empty() {
            return Ok(None);
        }
        for commit in &commits {
            if commit.try_get::<i32, _>("users_only")? == 0 {
                return Ok(None);
            }
        }
        let rows = sqlx::query(
            "SELECT kind, name, action, after_spec FROM veil_entity_history \
             WHERE version > $1 AND version <= $2 ORDER BY version",
        )
        .bind(after as i64)
        .bind(through as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut edits = Vec::with_capacity(rows.len());
        for row in rows {
            let (kind, name): (String, String) = (row.try_get("kind")?, row.try_get("name")?);
            let kind = EntityKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                kind: kind.clone(),
                name: name.clone(),
                message: "unknown kind".into(),
            })?;
            let spec = if row.try_get::<String, _>("action")? == ChangeAction::Removed.name() {
                None
            } else {
                Some(row.try_get("after_spec")?)
            };
            edits.push((kind, name, spec));
        }
        Ok(Some(edits))
    }
}

/// One entity as a single edit leaves it: its spec as JSON before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowEdit {
    pub kind: EntityKind,
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// An entity's spec as the store keeps it (JSON).
pub fn spec_json<T: serde::Serialize>(spec: &T) -> String {
    to_json(spec)
}

/// Milliseconds since the Unix epoch: the clock of every record the store keeps.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

async fn current_version(connection: &mut sqlx::AnyConnection) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT version FROM veil_state WHERE id = 1")
        .fetch_one(connection)
        .await?;
    Ok(row.try_get::<i64, _>("version")? as u64)
}

/// Adds one stored entity (its JSON) to `file`, after those read before it.
fn push_entity(file: &mut Bundle, kind: EntityKind, spec: &str) -> serde_json::Result<()> {
    match kind {
        EntityKind::DataSource => file.data_sources.push(serde_json::from_str(spec)?),
        EntityKind::User => file.users.push(serde_json::from_str(spec)?),
        EntityKind::Group => file.groups.push(serde_json::from_str(spec)?),
        EntityKind::Purpose => file.purposes.push(serde_json::from_str(spec)?),
        EntityKind::Project => file.projects.push(serde_json::from_str(spec)?),
        EntityKind::Policy => file.policies.push(serde_json::from_str(spec)?),
        EntityKind::Settings => file.settings = serde_json::from_str(spec)?,
    }
    Ok(())
}

/// Moves the stored version from `expected` to `new`, or fails with a conflict naming the
/// version found.
async fn claim_version(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    expected: u64,
    new: u64,
) -> Result<(), StoreError> {
    let updated = sqlx::query("UPDATE veil_state SET version = $1 WHERE id = 1 AND version = $2")
        .bind(new as i64)
        .bind(expected as i64)
        .execute(&mut **transaction)
        .await?;
    if updated.rows_affected() != 1 {
        let found = current_version(transaction).await?;
        return Err(StoreError::Conflict { expected, found });
    }
    Ok(())
}
