//! The write path: every change — a whole bundle, one entity, a file reload, another replica's
//! commit — is validated exactly like a policy file, committed to the store in one
//! version-guarded transaction, then published as a new snapshot and announced.

use veil_compiler::Compiler;
use veil_policy::{
    Affected, Bundle, ChangeAction, EntityChange, EntityKind, Estate, LoadErrors, UserEdit,
    UserEditError, UserSpec, affected, diff,
};
use veil_store::{ChangeRecord, CommitListener, StoreError};

use crate::auth::Caller;
use crate::authority;
use crate::convert;
use crate::snapshot::Snapshot;
use crate::state::{State, next_version};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("invalid bundle:\n{0}")]
    Invalid(#[from] LoadErrors),
    #[error("{0}")]
    Edit(#[from] veil_policy::EditError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Denied(String),
}

/// What a change did or, for a dry run, would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub applied: bool,
    pub version: u64,
    pub changes: Vec<EntityChange>,
    pub affected: Affected,
}

impl State {
    /// Applies `edit` to the current bundle. Nothing changes unless the result validates and
    /// commits; a dry run reports and changes nothing.
    pub async fn change(
        &self,
        caller: &Caller,
        dry_run: bool,
        edit: impl FnOnce(&mut Bundle) -> Result<(), ChangeError>,
    ) -> Result<Outcome, ChangeError> {
        let _turn = self.writer.lock().await;
        self.catch_up().await?;
        let snapshot = self.current();
        let old_file = snapshot.compiler.estate().to_file();
        let mut new_file = old_file.clone();
        edit(&mut new_file)?;
        authority::check(caller, snapshot.compiler.estate(), &old_file, &new_file)
            .map_err(ChangeError::Denied)?;
        let compiler = Compiler::new(Estate::new(new_file, None)?, &self.functions_catalog)?;
        // Read back from what was validated: no second copy, and types in canonical spelling,
        // as every other row of the store has them.
        let new_file = compiler.estate().to_file();
        self.commit_prepared(caller, &snapshot, old_file, new_file, compiler, dry_run)
            .await
    }

    /// Applies edits of single users — what `PutEntity`, `DeleteEntity` and SCIM send most —
    /// in time that grows with the edits, not the estate: the estate is edited in place of
    /// being rebuilt ([`Compiler::edit_users`]) and only the touched users' rows are written.
    /// The result is what [`State::change`] gives for the same edits.
    pub async fn edit_users(
        &self,
        caller: &Caller,
        dry_run: bool,
        edits: &[UserEdit],
    ) -> Result<Outcome, ChangeError> {
        self.edit_users_with(caller, dry_run, |_| Ok::<_, ChangeError>(edits.to_vec()))
            .await
    }

    /// [`State::edit_users`] with the edits planned from the current estate, under the writer's
    /// lock (so that what `plan` read, say a version a client named, is what the edits change).
    pub async fn edit_users_with<E: From<ChangeError>>(
        &self,
        caller: &Caller,
        dry_run: bool,
        plan: impl FnOnce(&Estate) -> Result<Vec<UserEdit>, E>,
    ) -> Result<Outcome, E> {
        let _turn = self.writer.lock().await;
        self.catch_up().await?;
        let snapshot = self.current();
        let edits = plan(snapshot.compiler.estate())?;
        let mut touched: Vec<&str> = Vec::new();
        for edit in &edits {
            let name = match edit {
                UserEdit::Put(user) => user.name.as_str(),
                UserEdit::Remove(name) => name.as_str(),
            };
            if !caller.may_write(EntityKind::User, name) {
                return Err(ChangeError::Denied(format!(
                    "`{}` may not change {} `{name}`: {}",
                    caller.name,
                    EntityKind::User.name(),
                    caller.role.writes()
                ))
                .into());
            }
            if !touched.contains(&name) {
                touched.push(name);
            }
        }
        let compiler = snapshot
            .compiler
            .edit_users(&edits)
            .map_err(|error| match error {
                UserEditError::Edit(error) => ChangeError::Edit(error),
                UserEditError::Invalid(errors) => ChangeError::Invalid(errors),
            })?;
        let (old, new) = (snapshot.compiler.estate(), compiler.estate());
        let users: Vec<(String, Option<UserSpec>, Option<UserSpec>)> = touched
            .iter()
            .map(|&name| {
                (
                    name.to_owned(),
                    old.user(name).cloned(),
                    new.user(name).cloned(),
                )
            })
            .filter(|(_, before, after)| before != after)
            .collect();
        let changes: Vec<EntityChange> = users
            .iter()
            .map(|(name, before, after)| EntityChange {
                kind: EntityKind::User,
                name: name.clone(),
                action: match (before, after) {
                    (None, _) => ChangeAction::Added,
                    (_, None) => ChangeAction::Removed,
                    _ => ChangeAction::Changed,
                },
            })
            .collect();
        let affected = affected(old, new, &changes);
        if dry_run || changes.is_empty() {
            return Ok(Outcome {
                applied: false,
                version: snapshot.version,
                changes,
                affected,
            });
        }
        let version = next_version(snapshot.version);
        let record = change_record(version, &affected);
        if let Some(store) = &self.store {
            let started = std::time::Instant::now();
            let committed = store
                .commit_users(snapshot.version, version, &users, &record, &caller.name)
                .await;
            self.metrics.committed(started.elapsed());
            committed.map_err(ChangeError::from)?;
        }
        self.announce(compiler, &record, caller, changes.len());
        Ok(Outcome {
            applied: true,
            version,
            changes,
            affected,
        })
    }

    /// Diffs, commits and publishes a validated change; the caller holds the writer lock.
    async fn commit_prepared(
        &self,
        caller: &Caller,
        snapshot: &Snapshot,
        old_file: Bundle,
        new_file: Bundle,
        compiler: Compiler,
        dry_run: bool,
    ) -> Result<Outcome, ChangeError> {
        let changes = diff(&old_file, &new_file);
        let affected = affected(snapshot.compiler.estate(), compiler.estate(), &changes);
        if dry_run || changes.is_empty() {
            return Ok(Outcome {
                applied: false,
                version: snapshot.version,
                changes,
                affected,
            });
        }
        let version = next_version(snapshot.version);
        let record = change_record(version, &affected);
        if let Some(store) = &self.store {
            let started = std::time::Instant::now();
            let committed = store
                .commit(
                    snapshot.version,
                    version,
                    &old_file,
                    &new_file,
                    &record,
                    &caller.name,
                )
                .await;
            self.metrics.committed(started.elapsed());
            committed?;
        }
        self.announce(compiler, &record, caller, changes.len());
        Ok(Outcome {
            applied: true,
            version,
            changes,
            affected,
        })
    }

    /// Publishes a committed change and tells the change stream and the webhooks.
    fn announce(&self, compiler: Compiler, record: &ChangeRecord, caller: &Caller, changes: usize) {
        let event = convert::change_event(record);
        self.publish(compiler, event.clone());
        self.webhooks.send(event);
        tracing::info!(
            version = record.version,
            changes,
            caller = caller.name,
            "policy change applied"
        );
    }

    /// Replaces the whole bundle with one already validated (a policy file loaded with
    /// [`Compiler::from_yaml`]), without validating it a second time.
    pub async fn replace(
        &self,
        caller: &Caller,
        compiler: Compiler,
        dry_run: bool,
    ) -> Result<Outcome, ChangeError> {
        let _turn = self.writer.lock().await;
        self.catch_up().await?;
        let snapshot = self.current();
        let old_file = snapshot.compiler.estate().to_file();
        let new_file = compiler.estate().to_file();
        authority::check(caller, snapshot.compiler.estate(), &old_file, &new_file)
            .map_err(ChangeError::Denied)?;
        self.commit_prepared(caller, &snapshot, old_file, new_file, compiler, dry_run)
            .await
    }

    /// Catches up with changes another replica committed to the shared store.
    pub async fn refresh_from_store(&self) -> Result<(), ChangeError> {
        let _turn = self.writer.lock().await;
        self.catch_up().await
    }

    /// [`State::refresh_from_store`] for a caller that holds the writer lock. Every write
    /// catches up first, so that a change made on one replica and then another on a second
    /// applies to what the first committed instead of failing as a conflict.
    async fn catch_up(&self) -> Result<(), ChangeError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let snapshot = self.current();
        let current = snapshot.version;
        let version = store.version().await?;
        if version <= current {
            return Ok(());
        }
        // Single user edits are followed as they were made: from their history rows, edited
        // into this replica's estate. Anything else reloads the bundle.
        let edits = store
            .user_edits_between(current, version)
            .await?
            .map(|users| {
                users
                    .into_iter()
                    .map(|(name, spec)| match spec {
                        Some(user) => UserEdit::Put(user),
                        None => UserEdit::Remove(name),
                    })
                    .collect::<Vec<_>>()
            });
        let followed = edits.and_then(|edits| snapshot.compiler.edit_users(&edits).ok());
        let (version, compiler, how) = match followed {
            Some(compiler) => (
                version,
                compiler,
                "followed user edits from another replica",
            ),
            None => {
                let (loaded, file) = store.load().await?;
                if loaded <= current {
                    return Ok(());
                }
                let compiler = Compiler::new(Estate::new(file, None)?, &self.functions_catalog)?;
                (
                    loaded,
                    compiler,
                    "caught up with a change from another replica",
                )
            }
        };
        let merged = ChangeRecord::merge(version, store.changes_since(current).await?);
        self.publish(compiler, convert::change_event(&merged));
        tracing::info!(version, "{how}");
        Ok(())
    }
}

/// Follows the commits of every replica on the same PostgreSQL store; whatever happened while
/// not listening is read from the store first.
pub async fn follow_postgres(state: std::sync::Arc<State>, url: String) {
    loop {
        match CommitListener::connect(&url).await {
            Ok(mut listener) => loop {
                if let Err(error) = state.refresh_from_store().await {
                    tracing::error!(%error, "catching up from the store failed");
                }
                if let Err(error) = listener.next().await {
                    tracing::warn!(%error, "lost the PostgreSQL notification connection");
                    break;
                }
            },
            Err(error) => tracing::warn!(%error, "listening for PostgreSQL notifications failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// What a committed change may affect, as the store and the change stream record it.
fn change_record(version: u64, affected: &Affected) -> ChangeRecord {
    ChangeRecord {
        version,
        data_sources: affected.data_sources.iter().cloned().collect(),
        users: affected.users.iter().cloned().collect(),
        everything: affected.everything,
    }
}
