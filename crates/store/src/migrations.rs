//! Versioned schema migrations, applied in order, each in its own transaction. The SQL is
//! written to mean the same on SQLite and PostgreSQL.

use sqlx::{AnyPool, Executor, Row};

/// Migration N is `MIGRATIONS[N - 1]`; never edit one that has shipped, append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the bundle, its version and its change history, and the decision audit.
    "CREATE TABLE veil_state (id INTEGER PRIMARY KEY, version BIGINT NOT NULL);
     INSERT INTO veil_state (id, version) VALUES (1, 0);
     CREATE TABLE veil_entities (
         kind TEXT NOT NULL,
         name TEXT NOT NULL,
         position BIGINT NOT NULL,
         spec TEXT NOT NULL,
         PRIMARY KEY (kind, name)
     );
     CREATE TABLE veil_changes (
         version BIGINT PRIMARY KEY,
         data_sources TEXT NOT NULL,
         users TEXT NOT NULL,
         everything INTEGER NOT NULL
     );
     CREATE TABLE veil_decisions (
         at_millis BIGINT NOT NULL,
         user_name TEXT NOT NULL,
         project TEXT NOT NULL,
         data_source TEXT NOT NULL,
         allowed INTEGER NOT NULL,
         policies TEXT NOT NULL,
         version BIGINT NOT NULL,
         latency_micros BIGINT NOT NULL
     );
     CREATE INDEX veil_decisions_at ON veil_decisions (at_millis);",
    // 2: who made each change and when, and the before/after of every entity it changed.
    // Changes committed before this migration have `recorded = 0`: their entities are unknown.
    "ALTER TABLE veil_changes ADD COLUMN at_millis BIGINT NOT NULL DEFAULT 0;
     ALTER TABLE veil_changes ADD COLUMN caller TEXT NOT NULL DEFAULT '';
     ALTER TABLE veil_changes ADD COLUMN recorded INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE veil_entity_history (
         version BIGINT NOT NULL,
         kind TEXT NOT NULL,
         name TEXT NOT NULL,
         action TEXT NOT NULL,
         before_spec TEXT NOT NULL,
         after_spec TEXT NOT NULL
     );
     CREATE INDEX veil_entity_history_entity ON veil_entity_history (kind, name);
     CREATE INDEX veil_entity_history_version ON veil_entity_history (version);",
    // 3: the query audit, and the query each decision was asked for.
    "ALTER TABLE veil_decisions ADD COLUMN query_id TEXT NOT NULL DEFAULT '';
     CREATE TABLE veil_queries (
         query_id TEXT PRIMARY KEY,
         end_millis BIGINT NOT NULL,
         user_name TEXT NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX veil_queries_end ON veil_queries (end_millis);
     CREATE INDEX veil_queries_user ON veil_queries (user_name, end_millis);
     CREATE TABLE veil_query_data_sources (
         query_id TEXT NOT NULL,
         data_source TEXT NOT NULL,
         end_millis BIGINT NOT NULL
     );
     CREATE INDEX veil_query_data_sources_query ON veil_query_data_sources (query_id);
     CREATE INDEX veil_query_data_sources_end ON veil_query_data_sources (end_millis);",
    // 4: the reveal audit: each authorization asked (`node` empty, `revealed` 0) and each
    // node's count of values revealed.
    "CREATE TABLE veil_reveals (
         at_millis BIGINT NOT NULL,
         query_id TEXT NOT NULL,
         user_name TEXT NOT NULL,
         project TEXT NOT NULL,
         data_source TEXT NOT NULL,
         column_name TEXT NOT NULL,
         policy TEXT NOT NULL,
         allowed INTEGER NOT NULL,
         reason TEXT NOT NULL,
         node TEXT NOT NULL,
         revealed BIGINT NOT NULL
     );
     CREATE INDEX veil_reveals_at ON veil_reveals (at_millis);
     CREATE INDEX veil_reveals_query ON veil_reveals (query_id);",
    // 5: the last position of a kind, found without reading every row (single user edits
    // append after it).
    "CREATE INDEX veil_entities_position ON veil_entities (kind, position);",
    // 6: commits of single users, which other replicas follow from their history rows alone.
    "ALTER TABLE veil_changes ADD COLUMN users_only INTEGER NOT NULL DEFAULT 0;",
];

/// Applies what is missing. On PostgreSQL an advisory lock makes replicas that start together
/// take turns.
pub async fn run(pool: &AnyPool, postgres: bool) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    if postgres {
        transaction
            .execute("SELECT pg_advisory_xact_lock(7465696)")
            .await?;
    }
    transaction
        .execute("CREATE TABLE IF NOT EXISTS veil_migrations (version INTEGER PRIMARY KEY)")
        .await?;
    transaction.commit().await?;
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = index as i32 + 1;
        let mut transaction = pool.begin().await?;
        if postgres {
            transaction
                .execute("SELECT pg_advisory_xact_lock(7465696)")
                .await?;
        }
        let applied = sqlx::query("SELECT version FROM veil_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *transaction)
            .await?
            .map(|row| row.try_get::<i32, _>("version"))
            .transpose()?
            .is_some();
        if !applied {
            for statement in migration
                .split(';')
                .map(str::trim)
                .filter(|statement| !statement.is_empty())
            {
                transaction.execute(statement).await?;
            }
            sqlx::query("INSERT INTO veil_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
    }
    Ok(())
}
