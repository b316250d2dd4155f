//! The estate's users, shared between policy versions: persistent maps (imbl), so that a new
//! version with one user changed copies only the path to that user, not every user.

use std::sync::Arc;

use imbl::OrdMap;

use crate::{EditError, EntityKind, Estate, LoadErrors, UserSpec};

/// Users by name, in the order the bundle lists them: a changed user keeps its place, a new one
/// goes last, as [`crate::Bundle::put`] does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Users {
    /// Name → the user and its place in `ordered`: one lookup on every decision that is not
    /// cached, with ahash as the estate's other maps on the decision path.
    by_name: imbl::GenericHashMap<
        String,
        (u64, Arc<UserSpec>),
        ahash::RandomState,
        imbl::shared_ptr::DefaultSharedPtr,
    >,
    /// The same users by place, for the bundle's order.
    ordered: OrdMap<u64, Arc<UserSpec>>,
    next: u64,
}

impl Users {
    /// Users as validated: names are unique.
    pub(crate) fn new(users: Vec<UserSpec>) -> Users {
        let mut all = Users::default();
        for user in users {
            all.put(user);
        }
        all
    }

    pub(crate) fn get(&self, name: &str) -> Option<&UserSpec> {
        self.by_name.get(name).map(|(_, user)| user.as_ref())
    }

    /// Adds a user last, or replaces the one of that name in its place.
    pub(crate) fn put(&mut self, mut user: UserSpec) {
        // Held for as long as the estate: without what parsing left spare.
        user.groups.shrink_to_fit();
        user.attributes.shrink_to_fit();
        let place = match self.by_name.get(&user.name) {
            Some(&(place, _)) => place,
            None => {
                self.next += 1;
                self.next - 1
            }
        };
        let user = Arc::new(user);
        self.ordered.insert(place, Arc::clone(&user));
        self.by_name.insert(user.name.clone(), (place, user));
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if let Some((place, _)) = self.by_name.remove(name) {
            self.ordered.remove(&place);
        }
    }

    /// In the bundle's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &UserSpec> {
        self.ordered.values().map(Arc::as_ref)
    }
}

/// One change to the users, as `PutEntity` and `DeleteEntity` make it.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEdit {
    /// Adds the user, or replaces the one of that name in its place.
    Put(UserSpec),
    Remove(String),
}

/// Why users could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum UserEditError {
    #[error("{0}")]
    Edit(#[from] EditError),
    #[error("invalid bundle:\n{0}")]
    Invalid(#[from] LoadErrors),
}

impl Estate {
    /// The estate with `edits` applied in order: exactly what [`Estate::new`] gives for the
    /// bundle edited so, in time that grows with the edits rather than the estate. Users shape no
    /// index but their own, so the new version shares everything else with this one. Edits that
    /// could make the bundle invalid (an empty name; removing a user whom a project or a policy
    /// names) are checked by validating the whole edited bundle instead, for the exact errors.
    pub fn edit_users(&self, edits: &[UserEdit]) -> Result<Estate, UserEditError> {
        let mut users = self.users.clone();
        for edit in edits {
            let safe = match edit {
                UserEdit::Put(user) => !user.name.is_empty(),
                UserEdit::Remove(name) => {
                    if users.get(name).is_none() {
                        return Err(EditError::NotFound {
                            kind: EntityKind::User.name(),
                            name: name.clone(),
                        }
                        .into());
                    }
                    !self.referenced_users.contains(name)
                }
            };
            if !safe {
                return self.edit_users_in_bundle(edits);
            }
            match edit {
                UserEdit::Put(user) => users.put(user.clone()),
                UserEdit::Remove(name) => users.remove(name),
            }
        }
        Ok(self.with_users(users))
    }

    /// [`Estate::edit_users`] the slow way: edit the bundle, validate it whole.
    fn edit_users_in_bundle(&self, edits: &[UserEdit]) -> Result<Estate, UserEditError> {
        let mut file = self.to_file();
        for edit in edits {
            match edit {
                UserEdit::Put(user) => {
                    match file.users.iter_mut().find(|old| old.name == user.name) {
                        Some(old) => *old = user.clone(),
                        None => file.users.push(user.clone()),
                    }
                }
                UserEdit::Remove(name) => file.remove(EntityKind::User, name)?,
            }
        }
        Ok(Estate::new(file, None)?)
    }
}
