//! Veil's metadata store: the policy bundle (one row per entity), a monotonic policy version,
//! the history of changes and the decision audit log — in an embedded SQLite file by default or
//! in PostgreSQL shared by several PDP replicas. Same SQL, same behaviour, on both.
//!
//! Every write is one transaction guarded by the version it started from, so a crash loses
//! nothing committed and never leaves half a bundle, and two writers cannot both win.

mod migrations;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use veil_policy::{EntityKind, Named, PolicyFile};

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

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

const KINDS: [EntityKind; 5] = EntityKind::ALL;

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
    pub async fn load(&self) -> Result<(u64, PolicyFile), StoreError> {
        let mut transaction = self.pool.begin().await?;
        let version = current_version(&mut transaction).await?;
        let rows =
            sqlx::query("SELECT kind, name, spec FROM veil_entities ORDER BY kind, position")
                .fetch_all(&mut *transaction)
                .await?;
        transaction.commit().await?;
        let mut documents: HashMap<&'static str, Vec<Value>> = HashMap::new();
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let name: String = row.try_get("name")?;
            let spec: String = row.try_get("spec")?;
            let kind = KINDS
                .into_iter()
                .find(|known| known.name() == kind)
                .ok_or_else(|| StoreError::Corrupt {
                    kind: kind.clone(),
                    name: name.clone(),
                    message: "unknown kind".into(),
                })?;
            let value = serde_json::from_str(&spec).map_err(|error| StoreError::Corrupt {
                kind: kind.name().to_owned(),
                name,
                message: error.to_string(),
            })?;
            documents.entry(section(kind)).or_default().push(value);
        }
        let bundle: serde_json::Map<String, Value> = documents
            .into_iter()
            .map(|(key, values)| (key.to_owned(), Value::Array(values)))
            .collect();
        let file: PolicyFile =
            serde_json::from_value(Value::Object(bundle)).map_err(|error| StoreError::Corrupt {
                kind: "bundle".into(),
                name: String::new(),
                message: error.to_string(),
            })?;
        Ok((version, file))
    }

    /// Replaces the stored bundle with `file` as version `new_version`, provided the store is
    /// still at `expected_version`. Only entities that differ are written.
    pub async fn commit(
        &self,
        expected_version: u64,
        new_version: u64,
        old: &PolicyFile,
        file: &PolicyFile,
        change: &ChangeRecord,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        let updated =
            sqlx::query("UPDATE veil_state SET version = $1 WHERE id = 1 AND version = $2")
                .bind(new_version as i64)
                .bind(expected_version as i64)
                .execute(&mut *transaction)
                .await?;
        if updated.rows_affected() != 1 {
            let found = current_version(&mut transaction).await?;
            return Err(StoreError::Conflict {
                expected: expected_version,
                found,
            });
        }
        // Rows that went away or changed are deleted; rows that are new or changed are inserted.
        let Rows { stale, fresh } = changed_rows(old, file);
        for key in &stale {
            sqlx::query("DELETE FROM veil_entities WHERE kind = $1 AND name = $2")
                .bind(key.0)
                .bind(key.1.as_str())
                .execute(&mut *transaction)
                .await?;
        }
        // Many rows per statement: a first load writes every entity of a large estate.
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
            query.execute(&mut *transaction).await?;
        }
        sqlx::query("INSERT INTO veil_changes (version, data_sources, users, everything) VALUES ($1, $2, $3, $4)")
            .bind(new_version as i64)
            .bind(serde_json::to_string(&change.data_sources).expect("strings serialize"))
            .bind(serde_json::to_string(&change.users).expect("strings serialize"))
            .bind(change.everything as i32)
            .execute(&mut *transaction)
            .await?;
        if self.backend == Backend::Postgres {
            // Delivered to every listening replica when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify('veil_changes', $1)")
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

    /// Appends decision records in one transaction.
    pub async fn record_decisions(&self, records: &[DecisionRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        for chunk in records.chunks(125) {
            let placeholders: Vec<String> = (0..chunk.len())
                .map(|row| self.row_placeholders(row, 8))
                .collect();
            let sql = format!(
                "INSERT INTO veil_decisions (at_millis, user_name, project, data_source, allowed, policies, version, latency_micros) VALUES {}",
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
                    .bind(record.latency_micros as i64);
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
        let rows = sqlx::query(
            "SELECT at_millis, user_name, project, data_source, allowed, policies, version, latency_micros \
             FROM veil_decisions WHERE ($1 = '' OR user_name = $1) ORDER BY at_millis DESC LIMIT $2",
        )
        .bind(user.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
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
                })
            })
            .collect()
    }
}

async fn current_version(connection: &mut sqlx::AnyConnection) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT version FROM veil_state WHERE id = 1")
        .fetch_one(connection)
        .await?;
    Ok(row.try_get::<i64, _>("version")? as u64)
}

fn section(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::DataSource => "data_sources",
        EntityKind::User => "users",
        EntityKind::Purpose => "purposes",
        EntityKind::Project => "projects",
        EntityKind::Policy => "policies",
    }
}

/// An entity's key in the store: its kind and name.
type EntityKey = (&'static str, String);
/// An entity's position in its section and its JSON spec.
type EntityRow = (usize, String);

/// The entity rows a commit rewrites.
struct Rows {
    /// Rows to delete: gone, changed or moved.
    stale: Vec<EntityKey>,
    /// Rows to insert: new, changed or moved.
    fresh: Vec<(EntityKey, EntityRow)>,
}

/// Compares the two files entity by entity, as values; only what is written is serialized, so
/// editing one entity of a large estate costs little more than the comparison.
fn changed_rows(old: &PolicyFile, new: &PolicyFile) -> Rows {
    let mut rows = Rows {
        stale: Vec::new(),
        fresh: Vec::new(),
    };
    compare(
        EntityKind::DataSource,
        &old.data_sources,
        &new.data_sources,
        &mut rows,
    );
    compare(EntityKind::User, &old.users, &new.users, &mut rows);
    compare(EntityKind::Purpose, &old.purposes, &new.purposes, &mut rows);
    compare(EntityKind::Project, &old.projects, &new.projects, &mut rows);
    compare(EntityKind::Policy, &old.policies, &new.policies, &mut rows);
    rows
}

/// Each entity by name, with its position in the file.
fn placed<T: Named>(entities: &[T]) -> HashMap<&str, (usize, &T)> {
    entities
        .iter()
        .enumerate()
        .map(|(position, entity)| (entity.entity_name(), (position, entity)))
        .collect()
}

fn compare<T: Named + PartialEq + Serialize>(
    kind: EntityKind,
    old: &[T],
    new: &[T],
    rows: &mut Rows,
) {
    let (before, after) = (placed(old), placed(new));
    for (name, place) in &before {
        if after.get(name) != Some(place) {
            rows.stale.push((kind.name(), (*name).to_owned()));
        }
    }
    for (name, place @ (position, entity)) in &after {
        if before.get(name) != Some(place) {
            let spec = serde_json::to_string(entity).expect("a policy entity serializes");
            rows.fresh
                .push(((kind.name(), (*name).to_owned()), (*position, spec)));
        }
    }
}
