//! Conditions decided over every subject an estate allows: whether a condition holds for nobody,
//! for everybody, or for some. Decided exactly, with the decision path's own
//! [`Condition::holds`] on real [`Subject`](crate::Subject)s, so the analysis cannot drift from
//! what the PDP does.
//!
//! The subjects are every stored user, acting under no project or under each project they are a
//! member of, and one user unknown to the bundle (no groups, no attributes, no project). Groups
//! Trino sends are free: any subject may hold any group a condition names (as with
//! `--trust-trino-groups`), which makes "never" and "always" claims true with or without trust.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::condition::Condition;
use crate::decision::Identity;
use crate::estate::Estate;

/// Beyond this many free groups in one condition the analysis gives up rather than enumerate.
const MAX_FREE_GROUPS: usize = 12;

/// How a condition fares over every subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Never,
    Always,
    Sometimes,
    /// Too many free groups to decide; no claim is made.
    Unknown,
}

/// The subjects of an estate, grouped by what a condition can tell apart.
pub(crate) struct Subjects<'e> {
    estate: &'e Estate,
    /// Each stored user with each project they may act under (`None`: no project), then the
    /// unknown user.
    classes: Vec<(&'e str, Option<&'e str>)>,
}

/// The atoms a condition mentions, so subjects that agree on all of them are decided once.
#[derive(Default)]
struct Mentions<'c> {
    users: HashSet<&'c str>,
    groups: BTreeSet<&'c str>,
    attributes: BTreeMap<&'c str, HashSet<&'c str>>,
    purposes: HashSet<&'c str>,
}

impl<'e> Subjects<'e> {
    /// `named`: every user some condition names; other users with the same groups, attributes
    /// and projects' purposes are told apart by no condition, so one of them stands for all.
    pub(crate) fn new(
        estate: &'e Estate,
        unknown_user: &'e str,
        named: &HashSet<&str>,
    ) -> Subjects<'e> {
        let mut projects: Vec<_> = estate.projects().collect();
        projects.sort_by(|a, b| a.name.cmp(&b.name));
        let mut profiles = HashSet::new();
        let mut classes = Vec::new();
        for user in estate.users() {
            let mut groups: Vec<&str> = user.groups.iter().map(String::as_str).collect();
            groups.sort_unstable();
            groups.dedup();
            let mut attributes: Vec<(&str, Vec<&str>)> = user
                .attributes
                .iter()
                .map(|(key, values)| {
                    let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
                    values.sort_unstable();
                    values.dedup();
                    (key.as_str(), values)
                })
                .collect();
            attributes.retain(|(_, values)| !values.is_empty());
            let member_of: Vec<&str> = projects
                .iter()
                .filter(|project| project.members.contains(&user.name))
                .map(|project| project.name.as_str())
                .collect();
            let mut purposes: Vec<Vec<&str>> = member_of
                .iter()
                .filter_map(|&project| estate.project(project))
                .map(|project| {
                    let mut purposes: Vec<&str> =
                        project.purposes.iter().map(String::as_str).collect();
                    purposes.sort_unstable();
                    purposes
                })
                .collect();
            purposes.sort_unstable();
            let is_named = named.contains(user.name.as_str());
            let profile = (groups, attributes, purposes);
            if !is_named && !profiles.insert(profile) {
                continue;
            }
            classes.push((user.name.as_str(), None));
            classes.extend(
                member_of
                    .into_iter()
                    .map(|project| (user.name.as_str(), Some(project))),
            );
        }
        classes.push((unknown_user, None));
        Subjects { estate, classes }
    }

    /// A name no stored user has.
    pub(crate) fn unknown_user_name(estate: &Estate) -> String {
        let mut name = "unknown-user".to_owned();
        while estate.user(&name).is_some() {
            name.push('_');
        }
        name
    }

    pub(crate) fn verdict(&self, condition: &Condition) -> Verdict {
        let mut mentions = Mentions::default();
        condition.visit(&mut |inner| match inner {
            Condition::Users(users) => mentions.users.extend(users.iter().map(String::as_str)),
            Condition::Groups(groups) => mentions.groups.extend(groups.iter().map(String::as_str)),
            Condition::Attributes(wanted) => {
                for (key, values) in wanted {
                    mentions
                        .attributes
                        .entry(key.as_str())
                        .or_default()
                        .extend(values.iter().map(String::as_str));
                }
            }
            Condition::Purposes(purposes) => mentions
                .purposes
                .extend(purposes.iter().map(String::as_str)),
            _ => {}
        });
        let mut seen = HashSet::new();
        let (mut holds, mut fails) = (false, false);
        for &(name, project) in &self.classes {
            let stored = self.estate.user(name);
            let held_groups: Vec<&str> = mentions
                .groups
                .iter()
                .copied()
                .filter(|group| stored.is_some_and(|user| user.groups.iter().any(|g| g == group)))
                .collect();
            let held_attributes: Vec<Vec<&str>> = mentions
                .attributes
                .iter()
                .map(|(key, values)| {
                    let mut held: Vec<&str> = stored
                        .and_then(|user| user.attributes.get(key))
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .filter(|value| values.contains(value))
                        .collect();
                    held.sort_unstable();
                    held
                })
                .collect();
            let mut held_purposes: Vec<&str> = project
                .and_then(|project| self.estate.project(project))
                .into_iter()
                .flat_map(|project| &project.purposes)
                .map(String::as_str)
                .filter(|purpose| mentions.purposes.contains(purpose))
                .collect();
            held_purposes.sort_unstable();
            let named = mentions.users.contains(name).then_some(name);
            if !seen.insert((named, held_groups.clone(), held_attributes, held_purposes)) {
                continue;
            }
            let free: Vec<&str> = mentions
                .groups
                .iter()
                .copied()
                .filter(|group| !held_groups.contains(group))
                .collect();
            if free.len() > MAX_FREE_GROUPS {
                return Verdict::Unknown;
            }
            for chosen in 0..(1u32 << free.len()) {
                let extra: Vec<String> = free
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| chosen & (1 << index) != 0)
                    .map(|(_, group)| (*group).to_owned())
                    .collect();
                let identity = Identity {
                    user: name,
                    groups: &extra,
                    project,
                };
                let Ok(subject) = self.estate.subject(identity, true) else {
                    continue;
                };
                if condition.holds(&subject) {
                    holds = true;
                } else {
                    fails = true;
                }
                if holds && fails {
                    return Verdict::Sometimes;
                }
            }
        }
        match (holds, fails) {
            (true, false) => Verdict::Always,
            (false, true) => Verdict::Never,
            _ => Verdict::Sometimes,
        }
    }
}

/// A condition as a policy file writes it in flow style, for messages.
pub(crate) fn condition_text(condition: &Condition) -> String {
    let list = |items: &[String]| items.join(", ");
    let nested = |conditions: &[Condition]| {
        conditions
            .iter()
            .map(condition_text)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match condition {
        Condition::Everyone => "everyone".to_owned(),
        Condition::Users(users) => format!("{{users: [{}]}}", list(users)),
        Condition::Groups(groups) => format!("{{groups: [{}]}}", list(groups)),
        Condition::Attributes(wanted) => format!(
            "{{attributes: {{{}}}}}",
            wanted
                .iter()
                .map(|(key, values)| format!("{key}: [{}]", list(values)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Condition::Purposes(purposes) => format!("{{purposes: [{}]}}", list(purposes)),
        Condition::All(conditions) => format!("{{all: [{}]}}", nested(conditions)),
        Condition::Any(conditions) => format!("{{any: [{}]}}", nested(conditions)),
        Condition::Not(inner) => format!("{{not: {}}}", condition_text(inner)),
    }
}
