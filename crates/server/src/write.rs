//! The write path: every change — a whole bundle, one entity, a file reload, another replica's
//! commit — is validated exactly like a policy file, committed to the store in one
//! version-guarded transaction, then published as a new snapshot and announced.

use veil_compiler::Compiler;
use veil_policy::{
    Affected, Bundle, ChangeAction, Edit, EntityChange, EntityEditError, EntityKind, Estate,
    LoadErrors, UserEdit, affected, diff,
};
use veil_store::{ChangeRecord, CommitListener, RowEdit, StoreError, spec_json};

use crate::auth::{Caller, Role};
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
        self.change_locked(caller, dry_run, edit).await
    }

    /// [`State::change`] for a caller that holds the writer lock and has caught up.
    async fn change_locked(
        &self,
        caller: &Caller,
        dry_run: bool,
        edit: impl FnOnce(&mut Bundle) -> Result<(), ChangeError>,
    ) -> Result<Outcome, ChangeError> {
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

    /// Applies edits of single users ([`State::edit_entities`]).
    pub async fn edit_users(
        &self,
        caller: &Caller,
        dry_run: bool,
        edits: &[UserEdit],
    ) -> Result<Outcome, ChangeError> {
        let edits: Vec<Edit> = edits.iter().cloned().map(Edit::User).collect();
        self.edit_entities(caller, dry_run, &edits).await
    }

    /// [`State::edit_users`] with the edits planned from the current estate, under the writer's
    /// lock (so that what `plan` read, say a version a client named, is what the edits change).
    pub async fn edit_users_with<E: From<ChangeError>>(
        &self,
        caller: &Caller,
        dry_run: bool,
        plan: impl FnOnce(&Estate) -> Result<Vec<UserEdit>, E>,
    ) -> Result<Outcome, E> {
        self.edit_entities_with(caller, dry_run, |estate| {
            Ok(plan(estate)?.into_iter().map(Edit::User).collect())
        })
        .await
    }

    /// Applies edits of single entities — users, policies, data sources: what `PutEntity`,
    /// `DeleteEntity` and SCIM send most — in time that grows with the edits, not the estate:
    /// the estate is edited in place of being rebuilt ([`Compiler::edit_all`]) and only the
    /// touched rows are written. The result is what [`State::change`] gives for the same edits.
    pub async fn edit_entities(
        &self,
        caller: &Caller,
        dry_run: bool,
        edits: &[Edit],
    ) -> Result<Outcome, ChangeError> {
        self.edit_entities_with(caller, dry_run, |_| Ok::<_, ChangeError>(edits.to_vec()))
            .await
    }

    /// [`State::edit_entities`] with the edits planned from the current estate, under the
    /// writer's lock.
    pub async fn edit_entities_with<E: From<ChangeError>>(
        &self,
        caller: &Caller,
        dry_run: bool,
        plan: impl FnOnce(&Estate) -> Result<Vec<Edit>, E>,
    ) -> Result<Outcome, E> {
        let _turn = self.writer.lock().await;
        self.catch_up().await?;
        let snapshot = self.current();
        let old = snapshot.compiler.estate();
        let edits = plan(old)?;
        let mut touched: Vec<(EntityKind, &str)> = Vec::new();
        for edit in &edits {
            let (kind, name) = edit.entity();
            // As the whole path checks: a missing entity first, then the caller's authority.
            let removal = matches!(
                edit,
                Edit::User(UserEdit::Remove(_))
                    | Edit::RemovePolicy(_)
                    | Edit::RemoveDataSource(_)
                    | Edit::RemoveGroup(_)
            );
            if removal && entity_json(old, kind, name).is_none() && !touched.contains(&(kind, name))
            {
                return Err(ChangeError::Edit(veil_policy::EditError::NotFound {
                    kind: kind.name(),
                    name: name.to_owned(),
                })
                .into());
            }
            if !caller.may_write(kind, name) {
                return Err(ChangeError::Denied(format!(
                    "`{}` may not change {} `{name}`: {}",
                    caller.name,
                    kind.name(),
                    caller.role.writes()
                ))
                .into());
            }
            if !touched.contains(&(kind, name)) {
                touched.push((kind, name));
            }
        }
        // An owner's edit of a data source is checked against what its policies restrict, which
        // the authority check reads from whole bundles: that takes the whole path.
        if matches!(caller.role, Role::Owner { .. })
            && edits
                .iter()
                .any(|edit| edit.entity().0 == EntityKind::DataSource)
        {
            return Ok(self
                .change_locked(caller, dry_run, |file| {
                    for edit in &edits {
                        edit.apply(file)?;
                    }
                    Ok(())
                })
                .await?);
        }
        let compiler = snapshot
            .compiler
            .edit_all(&edits)
            .map_err(|error| match error {
                EntityEditError::Edit(error) => ChangeError::Edit(error),
                EntityEditError::Invalid(errors) => ChangeError::Invalid(errors),
            })?;
        let new = compiler.estate();
        let rows: Vec<RowEdit> = touched
            .iter()
            .map(|&(kind, name)| RowEdit {
                kind,
                name: name.to_owned(),
                before: entity_json(old, kind, name),
                after: entity_json(new, kind, name),
            })
            .filter(|row| row.before != row.after)
            .collect();
        let changes: Vec<EntityChange> = rows
            .iter()
            .map(|row| EntityChange {
                kind: row.kind,
                name: row.name.clone(),
                action: match (&row.before, &row.after) {
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
                .commit_entities(snapshot.version, version, &rows, &record, &caller.name)
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
        // Single entity edits are followed as they were made: from their history rows, edited
        // into this replica's estate. Anything else reloads the bundle.
        let edits = store
            .entity_edits_between(current, version)
            .await?
            .and_then(|edits| {
                edits
                    .into_iter()
                    .map(followed_edit)
                    .collect::<Option<Vec<_>>>()
            });
        let followed = edits.and_then(|edits| snapshot.compiler.edit_all(&edits).ok());
        let (version, compiler, how) = match followed {
            Some(compiler) => (
                version,
                compiler,
                "followed single edits from another replica",
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

/// An entity of `estate` as the store keeps it (JSON); `None` when absent (or of a kind single
/// edits do not reach).
fn entity_json(estate: &Estate, kind: EntityKind, name: &str) -> Option<String> {
    match kind {
        EntityKind::User => estate.user(name).map(spec_json),
        EntityKind::Policy => estate.policy_spec(name).map(spec_json),
        EntityKind::DataSource => estate.data_source_spec(name).as_ref().map(spec_json),
        EntityKind::Group => estate
            .groups()
            .iter()
            .find(|group| group.name == name)
            .map(spec_json),
        _ => None,
    }
}

/// The edit a history row of a single-entity commit records; `None` for what cannot be
/// followed so (another kind, or a spec that does not read).
fn followed_edit((kind, name, spec): (EntityKind, String, Option<String>)) -> Option<Edit> {
    let edit = match (kind, spec) {
        (EntityKind::User, Some(spec)) => {
            Edit::User(UserEdit::Put(serde_json::from_str(&spec).ok()?))
        }
        (EntityKind::User, None) => Edit::User(UserEdit::Remove(name)),
        (EntityKind::Policy, Some(spec)) => {
            Edit::PutPolicy(Box::new(serde_json::from_str(&spec).ok()?))
        }
        (EntityKind::Policy, None) => Edit::RemovePolicy(name),
        (EntityKind::DataSource, Some(spec)) => {
            Edit::PutDataSource(serde_json::from_str(&spec).ok()?)
        }
        (EntityKind::DataSource, None) => Edit::RemoveDataSource(name),
        (EntityKind::Group, Some(spec)) => Edit::PutGroup(serde_json::from_str(&spec).ok()?),
        (EntityKind::Group, None) => Edit::RemoveGroup(name),
        _ => return None,
    };
    Some(edit)
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
