//! Who may change what. Every validated change is checked here, inside the one write path,
//! against the bundle before and after it, so no role can widen what anyone sees beyond its
//! authority. A refusal names the rule and, where one is involved, the policy.

use veil_policy::{
    Bundle, DataSource, DataSourceSpec, EntityChange, EntityKind, Estate, Rule, diff, glob_matches,
    match_depth, targets_data_source,
};

use crate::auth::{Caller, Role};

/// Checks every entity the change from `old_file` (the bundle of `old`) to `new` touches
/// against the caller's role. Runs before validation, so that a refused change costs little and
/// reads as refused rather than as whatever the edit would also have broken. An admin may change
/// everything, so nothing is compared for one.
pub fn check(caller: &Caller, old: &Estate, old_file: &Bundle, new: &Bundle) -> Result<(), String> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    for change in &diff(old_file, new) {
        if !caller.may_write(change.kind, &change.name) {
            return Err(format!(
                "`{}` may not change {} `{}`: {}",
                caller.name,
                change.kind.name(),
                change.name,
                caller.role.writes()
            ));
        }
        if let Role::Owner { tables, .. } = &caller.role {
            check_owner(&caller.name, tables, old, new, change)?;
        }
    }
    Ok(())
}

fn data_source<'e>(estate: &'e Estate, name: &str) -> Option<&'e DataSource> {
    let (schema, table) = name.split_once('.')?;
    estate
        .data_source_id(schema, table)
        .map(|id| &*estate.data_sources[id])
}

/// An owner edits data sources only; `may_write` has checked the governed name already.
fn check_owner(
    owner: &str,
    tables: &[String],
    old: &Estate,
    new: &Bundle,
    change: &EntityChange,
) -> Result<(), String> {
    debug_assert_eq!(change.kind, EntityKind::DataSource);
    let name = &change.name;
    let before = data_source(old, name);
    let after = new.data_sources.iter().find(|spec| spec.name == *name);
    if let Some(after) = after
        && before.is_none_or(|before| before.backing.join(".") != after.table)
    {
        // Trino names tables without regard to case, so neither may the scope or the check.
        let table = &after.table;
        let lowercase = table.to_lowercase();
        if !tables
            .iter()
            .any(|glob| glob_matches(&glob.to_lowercase(), &lowercase))
        {
            return Err(format!(
                "`{owner}` may not point data source `{name}` at `{table}`: the table is outside its `tables` ({})",
                list(tables)
            ));
        }
        if let Some(other) = new
            .data_sources
            .iter()
            .find(|other| other.name != *name && other.table.to_lowercase() == lowercase)
        {
            return Err(format!(
                "`{owner}` may not point data source `{name}` at `{table}`: data source `{}` already governs it, and a second one would not carry its policies (an admin's change)",
                other.name
            ));
        }
    }
    match (before, after) {
        (Some(before), None) => {
            let id = old
                .data_source_id(&before.schema, &before.table)
                .expect("found by name");
            let bindings = &old.bindings[id];
            let restricting = bindings
                .masks
                .iter()
                .flatten()
                .map(|candidate| candidate.policy)
                .chain(bindings.row_filters.iter().copied())
                .next()
                .or((bindings.subscriptions.len() > 1).then(|| bindings.subscriptions[1]));
            if let Some(policy) = restricting {
                return Err(format!(
                    "`{owner}` may not delete data source `{name}`: policy `{}` restricts it, and deleting and recreating it would lift that (a governor's or admin's change)",
                    old.policies[policy].name
                ));
            }
        }
        (Some(before), Some(after)) => {
            if let Some((tag, place, policy)) = lifted(old, before, after) {
                return Err(format!(
                    "`{owner}` may not remove tag `{tag}` from {place}data source `{name}`: policy `{policy}` targets it (a governor's or admin's change)"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The first tag the edit removes that a policy targets: from the data source (a mask's or row
/// filter's `tags`, or a subscription's while another still admits someone) or from a column
/// that stays (a mask's `column_tags`).
fn lifted(
    old: &Estate,
    before: &DataSource,
    after: &DataSourceSpec,
) -> Option<(String, String, String)> {
    let targets = |policy_tags: &[String], tag: &str| {
        policy_tags
            .iter()
            .any(|policy_tag| match_depth(policy_tag, tag).is_some())
    };
    let mut remaining = before.clone();
    remaining.tags = after.tags.clone();
    let still_subscribed = old.policies.iter().any(|policy| {
        matches!(policy.rule, Rule::Subscription { .. })
            && targets_data_source(&policy.target, &remaining)
    });
    for tag in before.tags.iter().filter(|tag| !after.tags.contains(tag)) {
        let policy = old.policies.iter().find(|policy| {
            let restricts = match policy.rule {
                Rule::Subscription { .. } => still_subscribed,
                Rule::Mask(_) | Rule::RowFilter(_) => true,
            };
            restricts && targets(&policy.target.tags, tag)
        });
        if let Some(policy) = policy {
            return Some((tag.clone(), String::new(), policy.name.clone()));
        }
    }
    for column in &before.columns {
        // Trino resolves column names without regard to case: `Phone` is still `phone`.
        let Some(kept) = after
            .columns
            .iter()
            .find(|kept| kept.name.eq_ignore_ascii_case(&column.name))
        else {
            continue;
        };
        for tag in column.tags.iter().filter(|tag| !kept.tags.contains(tag)) {
            let policy = old.policies.iter().find(|policy| {
                matches!(policy.rule, Rule::Mask(_)) && targets(&policy.target.column_tags, tag)
            });
            if let Some(policy) = policy {
                return Some((
                    tag.clone(),
                    format!("column `{}` of ", column.name),
                    policy.name.clone(),
                ));
            }
        }
    }
    None
}

fn list(globs: &[String]) -> String {
    if globs.is_empty() {
        return "none granted".to_owned();
    }
    globs
        .iter()
        .map(|glob| format!("`{glob}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use veil_policy::{Bundle, Estate, GroupSpec, UserSpec};

    use super::check;
    use crate::auth::{Caller, Role};

    const FILE: &str = "
data_sources:
  - {name: s.t, table: c.s.t, columns: [{name: a, type: integer}]}
users:
  - {name: alice, groups: [analysts]}
policies:
  - {name: analysts-see, kind: subscription, on: {data_sources: [s.t]}, allow: {groups: [analysts]}}
";

    fn scim() -> Caller {
        Caller {
            name: "okta".into(),
            role: Role::Scim,
        }
    }

    /// Checks `edit` of the example as a scim caller.
    fn check_edit(edit: impl FnOnce(&mut Bundle)) -> Result<(), String> {
        let old = Estate::from_yaml(FILE).unwrap();
        let old_file = old.to_file();
        let mut new = old_file.clone();
        edit(&mut new);
        check(&scim(), &old, &old_file, &new)
    }

    #[test]
    fn scim_changes_users_and_groups() {
        check_edit(|file| {
            file.users.push(UserSpec {
                name: "bob".into(),
                groups: vec!["analysts".into()],
                ..Default::default()
            });
            file.users[0].deactivated = true;
            file.groups.push(GroupSpec {
                name: "analysts".into(),
                ..Default::default()
            });
        })
        .unwrap();
        check_edit(|file| file.users.clear()).unwrap();
    }

    #[test]
    fn scim_changes_nothing_else() {
        let refusals = [
            check_edit(|file| file.policies.clear()),
            check_edit(|file| file.data_sources[0].tags.push("Open".into())),
            check_edit(|file| file.settings.mask_key = Some("other".into())),
            check_edit(|file| file.purposes.push(Default::default())),
            // Users and a policy in one change: the whole change is refused.
            check_edit(|file| {
                file.users.clear();
                file.policies[0].allow = Some(veil_policy::Condition::Everyone);
            }),
        ];
        for refusal in refusals {
            let message = refusal.unwrap_err();
            assert!(message.starts_with("`okta` may not change "), "{message}");
            assert!(
                message.ends_with("scim tokens change users and groups only"),
                "{message}"
            );
        }
    }
}
