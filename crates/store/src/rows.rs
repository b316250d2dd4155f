//! The entity rows a commit writes: only what changed, and for each changed entity its
//! history row, computed by comparing two bundles as values.

use std::collections::HashMap;

use serde::Serialize;
use veil_policy::{Bundle, ChangeAction, EntityKind, Named, SettingsSpec};

/// An entity's key in the store: its kind and name.
pub(crate) type EntityKey = (&'static str, String);
/// An entity's position in its section and its JSON spec.
pub(crate) type EntityRow = (usize, String);

/// The entity rows a commit rewrites.
pub(crate) struct Rows {
    /// Rows to delete: gone, changed or moved.
    pub(crate) stale: Vec<EntityKey>,
    /// Rows to insert: new, changed or moved.
    pub(crate) fresh: Vec<(EntityKey, EntityRow)>,
    /// Entities added, changed or removed (not merely moved), with their JSON before and after.
    pub(crate) history: Vec<HistoryRow>,
}

pub(crate) struct HistoryRow {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) action: ChangeAction,
    /// Empty when added.
    pub(crate) before: String,
    /// Empty when removed.
    pub(crate) after: String,
}

/// Compares the two files entity by entity, as values; only what is written is serialized, so
/// editing one entity of a large estate costs little more than the comparison.
///
/// The rows of a kind in `renumber` are all rewritten, at their places in `new`: their stored
/// positions are no longer `0..n` (single edits leave gaps and append past them), so an
/// unchanged row could otherwise sort out of place among rewritten ones.
pub(crate) fn changed_rows(old: &Bundle, new: &Bundle, renumber: &[&str]) -> Rows {
    let mut rows = Rows {
        stale: Vec::new(),
        fresh: Vec::new(),
        history: Vec::new(),
    };
    let renumbered = |kind: EntityKind| renumber.contains(&kind.name());
    compare(
        EntityKind::DataSource,
        renumbered(EntityKind::DataSource),
        &old.data_sources,
        &new.data_sources,
        &mut rows,
    );
    compare(
        EntityKind::User,
        renumbered(EntityKind::User),
        &old.users,
        &new.users,
        &mut rows,
    );
    compare(
        EntityKind::Group,
        renumbered(EntityKind::Group),
        &old.groups,
        &new.groups,
        &mut rows,
    );
    compare(
        EntityKind::Purpose,
        renumbered(EntityKind::Purpose),
        &old.purposes,
        &new.purposes,
        &mut rows,
    );
    compare(
        EntityKind::Project,
        renumbered(EntityKind::Project),
        &old.projects,
        &new.projects,
        &mut rows,
    );
    compare(
        EntityKind::Policy,
        renumbered(EntityKind::Policy),
        &old.policies,
        &new.policies,
        &mut rows,
    );
    let settings = EntityKind::Settings;
    compare(
        settings,
        renumbered(settings),
        settings_rows(old),
        settings_rows(new),
        &mut rows,
    );
    rows
}

/// The settings as a list of entity rows: none while every setting is at its default.
pub(crate) fn settings_rows(file: &Bundle) -> &[SettingsSpec] {
    if file.settings.is_default() {
        &[]
    } else {
        std::slice::from_ref(&file.settings)
    }
}

pub(crate) fn to_json<T: Serialize>(entity: &T) -> String {
    serde_json::to_string(entity).expect("a policy entity serializes")
}

/// Each entity by name, with its position in the file.
pub(crate) fn placed<T: Named>(entities: &[T]) -> HashMap<&str, (usize, &T)> {
    entities
        .iter()
        .enumerate()
        .map(|(position, entity)| (entity.entity_name(), (position, entity)))
        .collect()
}

pub(crate) fn compare<T: Named + PartialEq + Serialize>(
    kind: EntityKind,
    renumber: bool,
    old: &[T],
    new: &[T],
    rows: &mut Rows,
) {
    let (before, after) = (placed(old), placed(new));
    for (name, place @ (_, entity)) in &before {
        if renumber || after.get(name) != Some(place) {
            rows.stale.push((kind.name(), (*name).to_owned()));
        }
        if !after.contains_key(name) {
            rows.history.push(HistoryRow {
                kind: kind.name(),
                name: (*name).to_owned(),
                action: ChangeAction::Removed,
                before: to_json(entity),
                after: String::new(),
            });
        }
    }
    for (name, place @ (position, entity)) in &after {
        if renumber || before.get(name) != Some(place) {
            let spec = to_json(entity);
            let previous = before.get(name).map(|(_, previous)| *previous);
            if previous != Some(*entity) {
                rows.history.push(HistoryRow {
                    kind: kind.name(),
                    name: (*name).to_owned(),
                    action: match previous {
                        None => ChangeAction::Added,
                        Some(_) => ChangeAction::Changed,
                    },
                    before: previous.map(to_json).unwrap_or_default(),
                    after: spec.clone(),
                });
            }
            rows.fresh
                .push(((kind.name(), (*name).to_owned()), (*position, spec)));
        }
    }
}
