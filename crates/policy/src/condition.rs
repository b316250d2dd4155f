//! Conditions: who a policy is about, evaluated against a [`Subject`].

use std::collections::BTreeMap;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Subject;

/// `everyone`, `{users: [..]}`, `{groups: [..]}`, `{attributes: {key: [values]}}`,
/// `{purposes: [..]}`, `{all: [..]}`, `{any: [..]}` or `{not: condition}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Everyone,
    Users(Vec<String>),
    /// Member of any of the groups.
    Groups(Vec<String>),
    /// For every key listed, the subject has at least one of its values.
    Attributes(BTreeMap<String, Vec<String>>),
    /// Acting under a project that carries any of the purposes.
    Purposes(Vec<String>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

impl Condition {
    pub fn holds(&self, subject: &Subject<'_>) -> bool {
        match self {
            Condition::Everyone => true,
            Condition::Users(users) => users.iter().any(|user| user == subject.name),
            Condition::Groups(groups) => groups.iter().any(|group| subject.in_group(group)),
            Condition::Attributes(wanted) => wanted.iter().all(|(key, values)| {
                let held = subject.attribute(key);
                values.iter().any(|value| held.contains(value))
            }),
            Condition::Purposes(purposes) => {
                purposes.iter().any(|purpose| subject.has_purpose(purpose))
            }
            Condition::All(conditions) => conditions.iter().all(|inner| inner.holds(subject)),
            Condition::Any(conditions) => conditions.iter().any(|inner| inner.holds(subject)),
            Condition::Not(inner) => !inner.holds(subject),
        }
    }

    /// Every user, purpose and condition nested in this one, for validation.
    pub(crate) fn visit<'c>(&'c self, visitor: &mut impl FnMut(&'c Condition)) {
        visitor(self);
        match self {
            Condition::All(conditions) | Condition::Any(conditions) => {
                conditions.iter().for_each(|inner| inner.visit(visitor))
            }
            Condition::Not(inner) => inner.visit(visitor),
            _ => {}
        }
    }
}

const CONDITION_KEYS: &[&str] = &[
    "users",
    "groups",
    "attributes",
    "purposes",
    "all",
    "any",
    "not",
];

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Condition::Everyone = self {
            return serializer.serialize_str("everyone");
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Condition::Everyone => unreachable!("handled above"),
            Condition::Users(users) => map.serialize_entry("users", users)?,
            Condition::Groups(groups) => map.serialize_entry("groups", groups)?,
            Condition::Attributes(attributes) => map.serialize_entry("attributes", attributes)?,
            Condition::Purposes(purposes) => map.serialize_entry("purposes", purposes)?,
            Condition::All(conditions) => map.serialize_entry("all", conditions)?,
            Condition::Any(conditions) => map.serialize_entry("any", conditions)?,
            Condition::Not(inner) => map.serialize_entry("not", inner)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Condition, D::Error> {
        deserializer.deserialize_any(ConditionVisitor)
    }
}

struct ConditionVisitor;

impl<'de> Visitor<'de> for ConditionVisitor {
    type Value = Condition;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(
            "a condition: `everyone` or a map with one of users, groups, attributes, purposes, all, any, not",
        )
    }

    fn visit_str<E: de::Error>(self, word: &str) -> Result<Condition, E> {
        match word {
            "everyone" => Ok(Condition::Everyone),
            other => Err(E::custom(format!(
                "unknown condition `{other}` (the only word condition is `everyone`)"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Condition, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom("an empty condition map"));
        };
        let condition = match key.as_str() {
            "users" => Condition::Users(map.next_value()?),
            "groups" => Condition::Groups(map.next_value()?),
            "attributes" => Condition::Attributes(map.next_value()?),
            "purposes" => Condition::Purposes(map.next_value()?),
            "all" => Condition::All(map.next_value()?),
            "any" => Condition::Any(map.next_value()?),
            "not" => Condition::Not(Box::new(map.next_value()?)),
            other => return Err(de::Error::unknown_field(other, CONDITION_KEYS)),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a condition has one key; combine `{key}` and `{extra}` with `all` or `any`"
            )));
        }
        Ok(condition)
    }
}
