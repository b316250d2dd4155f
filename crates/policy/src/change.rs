//! Changes to a bundle: entities by kind and name, editing one entity, the diff between two
//! bundles, and which data sources and users a change can affect.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Bundle, Estate};

/// The kinds of things a bundle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    DataSource,
    User,
    /// A declared [`crate::GroupSpec`]; membership lives on users.
    Group,
    Purpose,
    Project,
    Policy,
    /// The bundle's one [`crate::SettingsSpec`], named [`SETTINGS`].
    Settings,
}

/// The name of the one settings entity.
pub const SETTINGS: &str = "settings";

impl EntityKind {
    pub const ALL: [EntityKind; 7] = [
        EntityKind::DataSource,
        EntityKind::User,
        EntityKind::Group,
        EntityKind::Purpose,
        EntityKind::Project,
        EntityKind::Policy,
        EntityKind::Settings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EntityKind::DataSource => "data_source",
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Purpose => "purpose",
            EntityKind::Project => "project",
            EntityKind::Policy => "policy",
            EntityKind::Settings => "settings",
        }
    }

    /// The kind in prose, as errors name it: `data source`, `user`, ….
    pub fn noun(self) -> &'static str {
        match self {
            EntityKind::DataSource => "data source",
            kind => kind.name(),
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.name() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    Added,
    Changed,
    Removed,
}

impl ChangeAction {
    pub fn name(self) -> &'static str {
        match self {
            ChangeAction::Added => "added",
            ChangeAction::Changed => "changed",
            ChangeAction::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityChange {
    pub kind: EntityKind,
    pub name: String,
    pub action: ChangeAction,
}

/// Why editing one entity failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("invalid {kind}: {message}")]
    Invalid { kind: &'static str, message: String },
    #[error("no {kind} `{name}`")]
    NotFound { kind: &'static str, name: String },
}

macro_rules! each_kind {
    ($file:expr, $kind:expr, |$list:ident| $body:expr) => {
        match $kind {
            EntityKind::DataSource => {
                let $list = &mut $file.data_sources;
                $body
            }
            EntityKind::User => {
                let $list = &mut $file.users;
                $body
            }
            EntityKind::Group => {
                let $list = &mut $file.groups;
                $body
            }
            EntityKind::Purpose => {
                let $list = &mut $file.purposes;
                $body
            }
            EntityKind::Project => {
                let $list = &mut $file.projects;
                $body
            }
            EntityKind::Policy => {
                let $list = &mut $file.policies;
                $body
            }
            EntityKind::Settings => unreachable!("settings are one entity, not a list"),
        }
    };
}

/// An entity of a policy file, known by its name within its kind.
pub trait Named {
    fn entity_name(&self) -> &str;
}

macro_rules! named {
    ($($spec:ty),*) => {
        $(impl Named for $spec {
            fn entity_name(&self) -> &str {
                &self.name
            }
        })*
    };
}

impl Named for crate::SettingsSpec {
    fn entity_name(&self) -> &str {
        SETTINGS
    }
}

named!(
    crate::DataSourceSpec,
    crate::UserSpec,
    crate::GroupSpec,
    crate::PurposeSpec,
    crate::ProjectSpec,
    crate::PolicySpec
);

fn put_in<T: Named + DeserializeOwned>(
    list: &mut Vec<T>,
    kind: EntityKind,
    yaml: &str,
) -> Result<(String, ChangeAction), EditError> {
    let entity: T = crate::bundle::parse_yaml(yaml).map_err(|error| EditError::Invalid {
        kind: kind.name(),
        message: error.to_string(),
    })?;
    let name = entity.entity_name().to_owned();
    match list
        .iter_mut()
        .find(|existing| existing.entity_name() == name)
    {
        Some(existing) => {
            *existing = entity;
            Ok((name, ChangeAction::Changed))
        }
        None => {
            list.push(entity);
            Ok((name, ChangeAction::Added))
        }
    }
}

fn get_in<T: Named + Serialize>(list: &[T], name: &str) -> Option<String> {
    list.iter()
        .find(|entity| entity.entity_name() == name)
        .map(|entity| serde_norway::to_string(entity).expect("specs serialize"))
}

fn names_in<T: Named>(list: &[T]) -> Vec<String> {
    list.iter()
        .map(|entity| entity.entity_name().to_owned())
        .collect()
}

impl Bundle {
    /// Creates or replaces one entity given as YAML; returns its name and what happened.
    pub fn put(
        &mut self,
        kind: EntityKind,
        yaml: &str,
    ) -> Result<(String, ChangeAction), EditError> {
        if kind == EntityKind::Settings {
            let settings: crate::SettingsSpec =
                crate::bundle::parse_yaml(yaml).map_err(|error| EditError::Invalid {
                    kind: kind.name(),
                    message: error.to_string(),
                })?;
            self.settings = settings;
            return Ok((SETTINGS.to_owned(), ChangeAction::Changed));
        }
        each_kind!(self, kind, |list| put_in(list, kind, yaml))
    }

    /// Removes one entity.
    pub fn remove(&mut self, kind: EntityKind, name: &str) -> Result<(), EditError> {
        if kind == EntityKind::Settings {
            // Removing the settings brings back every default.
            if name != SETTINGS {
                return Err(EditError::NotFound {
                    kind: kind.name(),
                    name: name.to_owned(),
                });
            }
            self.settings = crate::SettingsSpec::default();
            return Ok(());
        }
        each_kind!(self, kind, |list| {
            let before = list.len();
            list.retain(|entity| entity.entity_name() != name);
            if list.len() == before {
                return Err(EditError::NotFound {
                    kind: kind.name(),
                    name: name.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// One entity as YAML.
    pub fn get(&self, kind: EntityKind, name: &str) -> Option<String> {
        match kind {
            EntityKind::DataSource => get_in(&self.data_sources, name),
            EntityKind::User => get_in(&self.users, name),
            EntityKind::Group => get_in(&self.groups, name),
            EntityKind::Purpose => get_in(&self.purposes, name),
            EntityKind::Project => get_in(&self.projects, name),
            EntityKind::Policy => get_in(&self.policies, name),
            EntityKind::Settings => (name == SETTINGS)
                .then(|| serde_norway::to_string(&self.settings).expect("settings serialize")),
        }
    }

    pub fn names(&self, kind: EntityKind) -> Vec<String> {
        match kind {
            EntityKind::DataSource => names_in(&self.data_sources),
            EntityKind::User => names_in(&self.users),
            EntityKind::Group => names_in(&self.groups),
            EntityKind::Purpose => names_in(&self.purposes),
            EntityKind::Project => names_in(&self.projects),
            EntityKind::Policy => names_in(&self.policies),
            EntityKind::Settings => vec![SETTINGS.to_owned()],
        }
    }
}

fn diff_list<T: Named + PartialEq>(
    kind: EntityKind,
    old: &[T],
    new: &[T],
    changes: &mut Vec<EntityChange>,
) {
    let before: HashMap<&str, &T> = old
        .iter()
        .map(|entity| (entity.entity_name(), entity))
        .collect();
    let after: HashMap<&str, &T> = new
        .iter()
        .map(|entity| (entity.entity_name(), entity))
        .collect();
    for entity in new {
        let name = entity.entity_name();
        let action = match before.get(name) {
            None => Some(ChangeAction::Added),
            Some(previous) if *previous != entity => Some(ChangeAction::Changed),
            Some(_) => None,
        };
        if let Some(action) = action {
            changes.push(EntityChange {
                kind,
                name: name.to_owned(),
                action,
            });
        }
    }
    for entity in old {
        if !after.contains_key(entity.entity_name()) {
            changes.push(EntityChange {
                kind,
                name: entity.entity_name().to_owned(),
                action: ChangeAction::Removed,
            });
        }
    }
}

/// What differs between two bundles, entity by entity.
pub fn diff(old: &Bundle, new: &Bundle) -> Vec<EntityChange> {
    let mut changes = Vec::new();
    diff_list(
        EntityKind::DataSource,
        &old.data_sources,
        &new.data_sources,
        &mut changes,
    );
    diff_list(EntityKind::User, &old.users, &new.users, &mut changes);
    diff_list(EntityKind::Group, &old.groups, &new.groups, &mut changes);
    diff_list(
        EntityKind::Purpose,
        &old.purposes,
        &new.purposes,
        &mut changes,
    );
    diff_list(
        EntityKind::Project,
        &old.projects,
        &new.projects,
        &mut changes,
    );
    diff_list(
        EntityKind::Policy,
        &old.policies,
        &new.policies,
        &mut changes,
    );
    if old.settings != new.settings {
        changes.push(EntityChange {
            kind: EntityKind::Settings,
            name: SETTINGS.to_owned(),
            action: ChangeAction::Changed,
        });
    }
    changes
}

/// The data sources and users whose views a change may alter; `everything` when a change can
/// reach users Veil does not know by name (a policy whose conditions are not user lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affected {
    pub data_sources: BTreeSet<String>,
    pub users: BTreeSet<String>,
    pub everything: bool,
}

/// For each of `names` (policies of `estate`), the data sources whose bindings name it (as a
/// subscription, a row filter or a mask candidate of some column).
fn reach(estate: &Estate, names: &[&str]) -> HashMap<String, Vec<crate::DataSourceId>> {
    if names.len() <= TARGETED_REACH {
        reach_by_target(estate, names)
    } else {
        reach_by_bindings(estate, names)
    }
}

/// [`reach`] for a few policies (a single edit): only the data sources a policy's target
/// reaches can bind it, and a target is quicker to check than every binding.
fn reach_by_target(estate: &Estate, names: &[&str]) -> HashMap<String, Vec<crate::DataSourceId>> {
    names
        .iter()
        .map(|&name| {
            let id = estate
                .policies
                .iter()
                .position(|policy| policy.name == name);
            let reached = id.map_or_else(Vec::new, |id| {
                let target = &estate.policies[id].target;
                (0..estate.data_sources.len())
                    .filter(|&source| {
                        crate::targets_data_source(target, &estate.data_sources[source])
                            && estate.bindings[source].names(id)
                    })
                    .collect()
            });
            (name.to_owned(), reached)
        })
        .collect()
}

/// [`reach`] for many policies: one pass over every binding.
fn reach_by_bindings(estate: &Estate, names: &[&str]) -> HashMap<String, Vec<crate::DataSourceId>> {
    let mut slots = vec![None; estate.policies.len()];
    for (slot, name) in names.iter().enumerate() {
        if let Some(id) = estate
            .policies
            .iter()
            .position(|policy| policy.name == *name)
        {
            slots[id] = Some(slot);
        }
    }
    let mut reach = vec![Vec::new(); names.len()];
    for (id, bindings) in estate.bindings.iter().enumerate() {
        let policies = bindings
            .subscriptions
            .iter()
            .chain(&bindings.row_filters)
            .chain(
                bindings
                    .masks
                    .iter()
                    .flatten()
                    .map(|candidate| &candidate.policy),
            );
        for &policy in policies {
            if let Some(slot) = slots[policy]
                && reach[slot].last() != Some(&id)
            {
                reach[slot].push(id);
            }
        }
    }
    names
        .iter()
        .map(|name| name.to_string())
        .zip(reach)
        .collect()
}

/// Up to this many changed policies, [`reach`] checks each one's target against every data
/// source rather than scanning every binding (about 3 ms a pass at 10,000 data sources).
const TARGETED_REACH: usize = 8;

/// Which data sources and users `changes` (from `old` to `new`) can affect.
pub fn affected(old: &Estate, new: &Estate, changes: &[EntityChange]) -> Affected {
    let mut result = Affected::default();
    // Which data sources each changed policy reaches, in each estate: one pass over the
    // bindings, and only when a policy changed.
    let policies: Vec<&str> = changes
        .iter()
        .filter(|change| change.kind == EntityKind::Policy)
        .map(|change| change.name.as_str())
        .collect();
    let reaches = (!policies.is_empty()).then(|| [reach(old, &policies), reach(new, &policies)]);
    for change in changes {
        match change.kind {
            EntityKind::DataSource => {
                result.data_sources.insert(change.name.clone());
            }
            EntityKind::User => {
                result.users.insert(change.name.clone());
            }
            EntityKind::Policy => {
                // Every data source the policy reached before or reaches now, for every user.
                let reaches = reaches.as_ref().expect("computed when a policy changed");
                for (estate, reach) in [old, new].into_iter().zip(reaches) {
                    for &id in &reach[&change.name] {
                        result
                            .data_sources
                            .insert(estate.data_sources[id].name.clone());
                    }
                }
            }
            // A declaration alone changes no view: membership is on the users, who are
            // changed entities of their own when it moves.
            EntityKind::Group => {}
            // Settings shape every view.
            EntityKind::Settings => result.everything = true,
            EntityKind::Project | EntityKind::Purpose => {
                // Members of the projects involved: the only users whose purposes change.
                for estate in [old, new] {
                    for project in estate.projects() {
                        let involved = match change.kind {
                            EntityKind::Project => project.name == change.name,
                            _ => project.purposes.contains(&change.name),
                        };
                        if involved {
                            result.users.extend(project.members.iter().cloned());
                        }
                    }
                }
            }
        }
    }
    if result.everything || result.data_sources.len() + result.users.len() > 10_000 {
        result = Affected {
            everything: true,
            ..Affected::default()
        };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_by_target_is_reach_by_bindings() {
        let estate = Estate::from_yaml(
            r#"
data_sources:
  - {name: s.a, table: c.s.a, tags: [Finance], columns: [{name: id, type: bigint}, {name: mail, type: varchar, tags: [PII.Email]}]}
  - {name: s.b, table: c.s.b, columns: [{name: id, type: bigint}, {name: phone, type: varchar, tags: [PII]}]}
  - {name: t.c, table: c.t.c, tags: [Finance.Ledger], columns: [{name: total, type: double}]}
users: [{name: ana, groups: [g]}]
policies:
  - {name: by-tag, kind: subscription, on: {tags: [Finance]}, allow: {groups: [g]}}
  - {name: by-glob, kind: subscription, on: {data_sources: ['s.*']}, allow: everyone}
  - {name: pii, kind: mask, on: {column_tags: [PII]}, method: nullify}
  - {name: mail-only, kind: mask, on: {data_sources: ['s.*'], column_tags: [PII.Email]}, method: hash}
  - {name: phones, kind: mask, on: {data_sources: ['*'], columns: [phone]}, method: nullify}
  - {name: named, kind: mask, on: {data_sources: [s.b], columns: [phone]}, method: nullify}
  - {name: rows, kind: row_filter, on: {data_sources: [s.a, t.c]}, where: "id > 0"}
"#,
        )
        .unwrap_or_else(|errors| panic!("{errors}"));
        let names: Vec<&str> = estate
            .policies
            .iter()
            .map(|policy| policy.name.as_str())
            .collect();
        let scanned = reach_by_bindings(&estate, &names);
        for name in &names {
            assert_eq!(
                reach_by_target(&estate, &[name]),
                HashMap::from([(name.to_string(), scanned[*name].clone())]),
                "{name}"
            );
        }
        // Both see what the bindings hold: a mask reaches the tables of the columns it masks,
        // not every table its target names.
        assert_eq!(scanned["pii"], [0, 1]);
        assert_eq!(scanned["phones"], [1]);
        assert_eq!(scanned["by-tag"], [0, 2]);
    }
}

#[cfg(test)]
mod entity_reads {
    use crate::{EntityKind, Estate};

    #[test]
    fn an_estate_reads_one_entity_as_its_exported_bundle_does() {
        let estate = Estate::from_yaml(
            r#"
data_sources:
  - {name: s.a, table: C.S.A, tags: [Finance], columns: [{name: id, type: BIGINT}, {name: mail, type: varchar(20), tags: [PII]}]}
  - {name: s.b, table: c.s.b, columns: [{name: id, type: bigint}]}
users:
  - {name: ana, groups: [g], attributes: {region: [EU]}}
  - {name: "o'brien"}
groups: [{name: g, description: declared}]
purposes: [{name: audit}]
projects: [{name: p, purposes: [audit], members: [ana]}]
policies:
  - {name: sub, kind: subscription, on: {tags: [Finance]}, allow: {groups: [g]}}
settings: {mask_key: next}
"#,
        )
        .unwrap_or_else(|errors| panic!("{errors}"));
        let file = estate.to_file();
        for kind in EntityKind::ALL {
            assert_eq!(estate.names(kind), file.names(kind), "{kind:?}");
            for name in file
                .names(kind)
                .iter()
                .map(String::as_str)
                .chain(["nobody", ""])
            {
                assert_eq!(
                    estate.get(kind, name),
                    file.get(kind, name),
                    "{kind:?} {name}"
                );
            }
        }
        assert!(
            estate
                .get(EntityKind::DataSource, "s.a")
                .unwrap()
                .contains("bigint")
        );
    }
}
