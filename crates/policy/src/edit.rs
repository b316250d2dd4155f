//! Editing one policy or one data source of an estate in time that grows with what the edit
//! reaches, not with the estate: the new version shares every data source, binding and policy
//! it leaves alone, and only the checks that could read the edited entity are run again. When
//! one of them finds a problem (or an edit is of a kind this cannot judge cheaply), the whole
//! edited bundle is validated instead, so that every error is exactly the full load's.

use std::sync::Arc;

use crate::binding::{Bindings, Contribution, bind, contribution};
use crate::bundle::{DataSourceSpec, GroupSpec, PolicySpec};
use crate::estate::referenced_users;
use crate::model::{DataSource, DataSourceId, MaskMethod, PolicyId, RowPredicate, Rule};
use crate::tag::match_depth;
use crate::trino_type::TypeFamily;
use crate::validate::{check_data_source, count_tags};
use crate::validate_policy::{Known, check_policy, has_tag};
use crate::{
    Bundle, EditError, EntityKind, Estate, LoadErrors, Policy, UserEdit, UserEditError,
    targets_data_source,
};

/// What a data-source edit rebuilds: the data sources, their bindings, the indexes, the tag
/// counts.
type DataSourceParts = (
    Vec<Arc<DataSource>>,
    Vec<Arc<Bindings>>,
    crate::estate::Indexes,
    crate::estate::TagCounts,
);

/// One change to one entity, as `PutEntity` and `DeleteEntity` make it.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    User(UserEdit),
    /// Adds the policy last, or replaces the one of that name in its place.
    PutPolicy(Box<PolicySpec>),
    RemovePolicy(String),
    /// Adds the data source last, or replaces the one of that name in its place.
    PutDataSource(DataSourceSpec),
    RemoveDataSource(String),
    /// Adds the declared group last, or replaces the one of that name in its place.
    PutGroup(GroupSpec),
    RemoveGroup(String),
}

impl Edit {
    /// The kind and name of the entity edited.
    pub fn entity(&self) -> (EntityKind, &str) {
        match self {
            Edit::User(UserEdit::Put(user)) => (EntityKind::User, &user.name),
            Edit::User(UserEdit::Remove(name)) => (EntityKind::User, name),
            Edit::PutPolicy(policy) => (EntityKind::Policy, &policy.name),
            Edit::RemovePolicy(name) => (EntityKind::Policy, name),
            Edit::PutDataSource(data_source) => (EntityKind::DataSource, &data_source.name),
            Edit::RemoveDataSource(name) => (EntityKind::DataSource, name),
            Edit::PutGroup(group) => (EntityKind::Group, &group.name),
            Edit::RemoveGroup(name) => (EntityKind::Group, name),
        }
    }

    /// The edit applied to a bundle, as [`Bundle::put`] and [`Bundle::remove`] apply it.
    pub fn apply(&self, file: &mut Bundle) -> Result<(), EditError> {
        fn put<T: crate::Named + Clone>(list: &mut Vec<T>, entity: &T) {
            match list
                .iter_mut()
                .find(|old| old.entity_name() == entity.entity_name())
            {
                Some(old) => *old = entity.clone(),
                None => list.push(entity.clone()),
            }
        }
        match self {
            Edit::User(UserEdit::Put(user)) => put(&mut file.users, user),
            Edit::PutPolicy(policy) => put(&mut file.policies, policy.as_ref()),
            Edit::PutDataSource(data_source) => put(&mut file.data_sources, data_source),
            Edit::PutGroup(group) => put(&mut file.groups, group),
            Edit::User(UserEdit::Remove(name))
            | Edit::RemovePolicy(name)
            | Edit::RemoveDataSource(name)
            | Edit::RemoveGroup(name) => file.remove(self.entity().0, name)?,
        }
        Ok(())
    }
}

/// Why an entity could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EntityEditError {
    #[error("{0}")]
    Edit(#[from] EditError),
    #[error("invalid bundle:\n{0}")]
    Invalid(#[from] LoadErrors),
}

impl From<UserEditError> for EntityEditError {
    fn from(error: UserEditError) -> EntityEditError {
        match error {
            UserEditError::Edit(error) => EntityEditError::Edit(error),
            UserEditError::Invalid(errors) => EntityEditError::Invalid(errors),
        }
    }
}

/// An edited estate and what the edit touched, for the compiler to follow it.
#[derive(Debug)]
pub struct Edited {
    pub estate: Estate,
    pub touched: Touched,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// Validated as a whole bundle: anything may differ.
    Everything,
    /// Users or declared groups only: no policy and no data source differs.
    Users,
    /// Policy `id` was put (in its place, or last); `bound`: the data sources whose bindings
    /// name it now.
    PolicyPut {
        id: PolicyId,
        bound: Vec<DataSourceId>,
    },
    /// Policy `id` was removed; every later one moved up by one.
    PolicyRemoved { id: PolicyId },
    /// Data source `id` was put (in its place, or last).
    DataSourcePut { id: DataSourceId },
    /// Data source `id` was removed; every later one moved up by one.
    DataSourceRemoved { id: DataSourceId },
}

impl Estate {
    /// The estate with `edit` applied: exactly what [`Estate::new`] gives for the bundle edited
    /// so ([`Edit::apply`]), in time that grows with what the edit reaches.
    pub fn edit(&self, edit: &Edit) -> Result<Edited, EntityEditError> {
        let edited = match edit {
            Edit::User(edit) => {
                let estate = self.edit_users(std::slice::from_ref(edit))?;
                let touched = if Arc::ptr_eq(&estate.policies, &self.policies) {
                    Touched::Users
                } else {
                    Touched::Everything
                };
                return Ok(Edited { estate, touched });
            }
            Edit::PutPolicy(spec) => self.put_policy(spec),
            Edit::RemovePolicy(name) => Some(self.remove_policy(name)?),
            Edit::PutDataSource(spec) => self.put_data_source(spec),
            Edit::RemoveDataSource(name) => self.remove_data_source(name)?,
            Edit::PutGroup(spec) => self.put_group(spec),
            Edit::RemoveGroup(name) => Some(self.remove_group(name)?),
        };
        match edited {
            Some(edited) => Ok(edited),
            None => self.edit_in_bundle(edit),
        }
    }

    /// Puts one declared group. Groups shape no index and no other entity's checks read them:
    /// only a group's own name can be wrong (empty: then `None`, for the full load's error; a
    /// name is put in place of the group of that name, so it cannot be taken twice).
    fn put_group(&self, spec: &GroupSpec) -> Option<Edited> {
        if spec.name.is_empty() {
            return None;
        }
        let place = self
            .file
            .groups
            .iter()
            .position(|group| group.name == spec.name);
        let mut file = Bundle::clone(&self.file);
        match place {
            Some(place) => file.groups[place] = spec.clone(),
            None => file.groups.push(spec.clone()),
        }
        Some(self.with_file(file))
    }

    fn remove_group(&self, name: &str) -> Result<Edited, EditError> {
        let mut file = Bundle::clone(&self.file);
        file.remove(EntityKind::Group, name)?;
        Ok(self.with_file(file))
    }

    /// This estate with another bundle of the parts no index holds (declared groups).
    fn with_file(&self, file: Bundle) -> Edited {
        Edited {
            estate: Estate {
                file: Arc::new(file),
                ..self.clone()
            },
            touched: Touched::Users,
        }
    }

    /// [`Estate::edit`] the slow way: edit the bundle, validate it whole.
    fn edit_in_bundle(&self, edit: &Edit) -> Result<Edited, EntityEditError> {
        let mut file = self.to_file();
        edit.apply(&mut file)?;
        Ok(Edited {
            estate: Estate::new(file, None)?,
            touched: Touched::Everything,
        })
    }

    /// Checks one policy against this estate's other entities, as [`crate::validate`] checks
    /// it against the bundle's.
    fn check_policy_alone(
        &self,
        spec: &PolicySpec,
        problems: &mut Vec<crate::LoadProblem>,
    ) -> Option<Rule> {
        let has_data_source = |name: &str| self.data_source_by_name(name).is_some();
        let is_user = |name: &str| self.users.get(name).is_some();
        let known = Known {
            data_sources: &self.data_sources,
            has_data_source: &has_data_source,
            is_user: &is_user,
            purposes: &self.purposes,
            tags: &self.tags,
        };
        check_policy(spec, &known, problems)
    }

    /// Puts one policy; `None` when it does not validate (the caller validates the whole bundle
    /// for the errors). Checked alone against this estate: a policy's checks read the other
    /// entities but no other policy, and no other entity's checks read a policy.
    fn put_policy(&self, spec: &PolicySpec) -> Option<Edited> {
        if spec.name.is_empty() {
            return None;
        }
        let mut problems = Vec::new();
        let rule = self
            .check_policy_alone(spec, &mut problems)
            .filter(|_| problems.is_empty())?;
        let policy = Policy {
            name: spec.name.clone(),
            target: spec.on.clone(),
            rule,
        };
        let old = self.policies.iter().position(|old| old.name == spec.name);
        let mut policies = Vec::clone(&self.policies);
        let mut file = Bundle::clone(&self.file);
        let id = match old {
            Some(id) => {
                policies[id] = policy;
                file.policies[id] = spec.clone();
                id
            }
            None => {
                policies.push(policy);
                file.policies.push(spec.clone());
                policies.len() - 1
            }
        };
        // Only data sources the old or the new policy targets can bind differently.
        let mut bindings = Vec::clone(&self.bindings);
        let mut bound = Vec::new();
        for (data_source_id, data_source) in self.data_sources.iter().enumerate() {
            let had = old.is_some_and(|id| {
                targets_data_source(&self.policies[id].target, data_source)
                    && self.bindings[data_source_id].names(id)
            });
            let contribution = contribution(data_source, id, &policies[id]);
            let has = !matches!(contribution, Contribution::None);
            if !had && !has {
                continue;
            }
            let mut edited = crate::Bindings::clone(&bindings[data_source_id]);
            if had {
                edited.without(id);
            }
            if has {
                edited.with(id, contribution, &policies);
                bound.push(data_source_id);
            }
            bindings[data_source_id] = Arc::new(edited);
        }
        Some(self.with_policies(file, policies, bindings, Touched::PolicyPut { id, bound }))
    }

    /// Removes one policy. Nothing refers to a policy, so the rest stays valid.
    fn remove_policy(&self, name: &str) -> Result<Edited, EntityEditError> {
        let Some(id) = self.policies.iter().position(|policy| policy.name == name) else {
            return Err(EditError::NotFound {
                kind: EntityKind::Policy.name(),
                name: name.to_owned(),
            }
            .into());
        };
        let mut policies = Vec::clone(&self.policies);
        policies.remove(id);
        let mut file = Bundle::clone(&self.file);
        file.policies.remove(id);
        // Every later policy moves up one: bindings naming any of them are renumbered.
        let bindings = self
            .bindings
            .iter()
            .map(|bindings| {
                if bindings.names_from(id) {
                    Arc::new(bindings.renumbered(id))
                } else {
                    Arc::clone(bindings)
                }
            })
            .collect();
        Ok(self.with_policies(file, policies, bindings, Touched::PolicyRemoved { id }))
    }

    /// This estate with other policies (and the bundle and bindings that go with them).
    fn with_policies(
        &self,
        file: Bundle,
        policies: Vec<Policy>,
        bindings: Vec<Arc<Bindings>>,
        touched: Touched,
    ) -> Edited {
        Edited {
            estate: Estate {
                file: Arc::new(file),
                referenced_users: Arc::new(referenced_users(&self.projects, &policies)),
                policies: Arc::new(policies),
                bindings: Arc::new(bindings),
                ..self.clone()
            },
            touched,
        }
    }

    fn data_source_by_name(&self, name: &str) -> Option<DataSourceId> {
        let (schema, table) = name.split_once('.')?;
        self.data_source_id(schema, table)
    }

    /// Puts one data source; `None` when it, or a policy that reads it, might not validate.
    fn put_data_source(&self, spec: &DataSourceSpec) -> Option<Edited> {
        let new = Arc::new(check_data_source(spec).ok()?);
        let old = self.data_source_by_name(&spec.name);
        let old_data_source = old.map(|id| &*self.data_sources[id]);
        let mut tags = crate::estate::TagCounts::clone(&self.tags);
        if let Some(old) = old_data_source {
            count_tags(&mut tags, old, -1);
        }
        count_tags(&mut tags, &new, 1);
        if !self.policies_still_valid(old, Some(&new), &tags) {
            return None;
        }
        let mut data_sources = Vec::clone(&self.data_sources);
        let mut bindings = Vec::clone(&self.bindings);
        let bound = Arc::new(bind(&new, &self.policies));
        let mut indexes = self.indexes.as_ref().clone();
        let id = match old {
            Some(id) => {
                indexes.remove(id, &data_sources[id]);
                data_sources[id] = Arc::clone(&new);
                bindings[id] = bound;
                id
            }
            None => {
                data_sources.push(Arc::clone(&new));
                bindings.push(bound);
                data_sources.len() - 1
            }
        };
        indexes.insert(id, &new);
        let parts = (data_sources, bindings, indexes, tags);
        Some(self.with_data_sources(parts, Touched::DataSourcePut { id }))
    }

    /// Removes one data source; `Ok(None)` when a policy might then not validate.
    fn remove_data_source(&self, name: &str) -> Result<Option<Edited>, EntityEditError> {
        let Some(id) = self.data_source_by_name(name) else {
            return Err(EditError::NotFound {
                kind: EntityKind::DataSource.name(),
                name: name.to_owned(),
            }
            .into());
        };
        let mut tags = crate::estate::TagCounts::clone(&self.tags);
        count_tags(&mut tags, &self.data_sources[id], -1);
        if !self.policies_still_valid(Some(id), None, &tags) {
            return Ok(None);
        }
        let mut data_sources = Vec::clone(&self.data_sources);
        let mut bindings = Vec::clone(&self.bindings);
        let removed = data_sources.remove(id);
        bindings.remove(id);
        let mut indexes = self.indexes.as_ref().clone();
        indexes.remove(id, &removed);
        indexes.close_gap(id);
        let parts = (data_sources, bindings, indexes, tags);
        Ok(Some(self.with_data_sources(
            parts,
            Touched::DataSourceRemoved { id },
        )))
    }

    /// This estate with other data sources, and the bindings, indexes and tag counts that go
    /// with them.
    fn with_data_sources(
        &self,
        (data_sources, bindings, indexes, tags): DataSourceParts,
        touched: Touched,
    ) -> Edited {
        Edited {
            estate: Estate {
                data_sources: Arc::new(data_sources),
                bindings: Arc::new(bindings),
                indexes: Arc::new(indexes),
                tags: Arc::new(tags),
                ..self.clone()
            },
            touched,
        }
    }

    /// Whether every policy still validates once data source `old` (an id of this estate) is
    /// replaced by `new` (either may be absent), `tags` being every tag carried afterwards.
    /// These are the checks of a policy that read data sources; `false` may be a false alarm
    /// (the whole bundle is then validated), `true` never is.
    fn policies_still_valid(
        &self,
        old: Option<DataSourceId>,
        new: Option<&DataSource>,
        tags: &crate::estate::TagCounts,
    ) -> bool {
        let old_data_source = old.map(|id| &*self.data_sources[id]);
        let vanished: Vec<&String> = self
            .tags
            .keys()
            .filter(|tag| !tags.contains_key(*tag))
            .collect();
        for policy in self.policies.iter() {
            let target = &policy.target;
            // A data source named (not by a glob) must exist.
            if new.is_none()
                && let Some(old) = old_data_source
                && target.data_sources.contains(&old.name)
            {
                return false;
            }
            // A tag must be carried by some data source or column.
            for policy_tag in target.tags.iter().chain(&target.column_tags) {
                let at_risk = vanished
                    .iter()
                    .any(|tag| match_depth(policy_tag, tag).is_some());
                if at_risk && !has_tag(tags, policy_tag) {
                    return false;
                }
            }
            let before = old_data_source.is_some_and(|old| targets_data_source(target, old));
            let after = new.is_some_and(|new| targets_data_source(target, new));
            if !before && !after {
                continue;
            }
            // A row predicate's column must be in every data source targeted.
            if after && let (Rule::RowFilter(filter), Some(new)) = (&policy.rule, new) {
                let (column, temporal) = match &filter.predicate {
                    RowPredicate::Where { .. } => (None, false),
                    RowPredicate::Match { column, .. } | RowPredicate::Sample { column, .. } => {
                        (Some(column), false)
                    }
                    RowPredicate::TimeWindow { column, .. } => (Some(column), true),
                };
                if let Some(column) = column {
                    match new.column(column) {
                        None => return false,
                        Some(found)
                            if temporal
                                && !matches!(
                                    found.data_type.family(),
                                    TypeFamily::Date | TypeFamily::Timestamp
                                ) =>
                        {
                            return false;
                        }
                        Some(_) => {}
                    }
                }
            }
            // A column named in `columns:` or as a quasi-identifier must be in some data source
            // targeted: at risk only where the old data source had it and the new lacks it.
            let quasi_identifiers = match &policy.rule {
                Rule::Mask(mask) => match &mask.method {
                    MaskMethod::KAnonymize {
                        quasi_identifiers, ..
                    } => quasi_identifiers.as_slice(),
                    _ => &[],
                },
                _ => &[],
            };
            for column in target.columns.iter().chain(quasi_identifiers) {
                let had = before && old_data_source.is_some_and(|old| old.column(column).is_some());
                let has = after && new.is_some_and(|new| new.column(column).is_some());
                if had && !has {
                    let elsewhere = self.data_sources.iter().enumerate().any(|(id, other)| {
                        Some(id) != old
                            && targets_data_source(target, other)
                            && other.column(column).is_some()
                    });
                    if !elsewhere {
                        return false;
                    }
                }
            }
        }
        true
    }
}
