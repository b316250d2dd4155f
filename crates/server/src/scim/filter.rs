//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): parsed into [`Filter`] and
//! [`Path`], and evaluated against a resource as JSON. Attribute names are matched without
//! regard to case, as are string values except the case-exact `id` and `externalId`.
//!
//! Written here rather than taken from a crate: the crates on offer either filter whole
//! serialized collections without exposing the tree PATCH paths need, or bring their own
//! resource models; this grammar is small.

use serde_json::Value;

mod parse;

pub use parse::{parse, parse_path};

/// `[urn:…:]attribute[.subAttribute]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributePath {
    /// The schema URN prefix, when written (`urn:ietf:params:scim:schemas:extension:…:User`).
    pub schema: Option<String>,
    pub attribute: String,
    pub sub_attribute: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Contains,
    StartsWith,
    EndsWith,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttributePath,
        operator: Operator,
        value: Value,
    },
    Present(AttributePath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some value of the attribute matches the inner filter.
    ValuePath {
        attribute: AttributePath,
        filter: Box<Filter>,
    },
}

/// A PATCH target: `attribute`, `attribute.sub`, `attribute[filter]` or `attribute[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Without a sub-attribute when `filter` is given (the sub-attribute follows the `]`).
    pub attribute: AttributePath,
    pub filter: Option<Filter>,
    pub sub_attribute: Option<String>,
}

/// A filter or path that does not parse: what, and at which character (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {position} of `{text}`")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
    pub text: String,
}

/// A key of `object` without regard to case.
pub fn get<'v>(object: &'v Value, key: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

/// The object an attribute path's schema names: the resource itself for its core schema (or
/// none written), the extension's object otherwise.
pub fn schema_object<'v>(resource: &'v Value, schema: Option<&str>) -> Option<&'v Value> {
    match schema {
        Some(urn) if !urn.to_ascii_lowercase().contains(":core:") => get(resource, urn),
        _ => Some(resource),
    }
}

/// Every value a path reaches, multi-valued attributes flattened.
fn resolve<'v>(resource: &'v Value, path: &AttributePath) -> Vec<&'v Value> {
    let Some(value) = schema_object(resource, path.schema.as_deref())
        .and_then(|object| get(object, &path.attribute))
    else {
        return Vec::new();
    };
    let values: Vec<&Value> = match value {
        Value::Array(values) => values.iter().collect(),
        value => vec![value],
    };
    match &path.sub_attribute {
        None => values,
        Some(sub) => values
            .into_iter()
            .filter_map(|value| get(value, sub))
            .flat_map(|value| match value {
                Value::Array(values) => values.iter().collect(),
                value => vec![value],
            })
            .collect(),
    }
}

fn case_exact(path: &AttributePath) -> bool {
    path.sub_attribute.is_none()
        && (path.attribute.eq_ignore_ascii_case("id")
            || path.attribute.eq_ignore_ascii_case("externalId"))
}

fn compare(held: &Value, operator: Operator, wanted: &Value, exact: bool) -> bool {
    // A complex value compares by its `value` sub-attribute (`emails eq "a@b"`).
    let held = match held {
        Value::Object(_) => match get(held, "value") {
            Some(value) => value,
            None => return false,
        },
        held => held,
    };
    match (held, wanted) {
        (Value::String(held), Value::String(wanted)) => {
            let (held, wanted) = if exact {
                (held.clone(), wanted.clone())
            } else {
                (held.to_lowercase(), wanted.to_lowercase())
            };
            match operator {
                Operator::Equal => held == wanted,
                Operator::NotEqual => held != wanted,
                Operator::Contains => held.contains(&wanted),
                Operator::StartsWith => held.starts_with(&wanted),
                Operator::EndsWith => held.ends_with(&wanted),
                Operator::Greater => held > wanted,
                Operator::GreaterOrEqual => held >= wanted,
                Operator::Less => held < wanted,
                Operator::LessOrEqual => held <= wanted,
            }
        }
        (Value::Number(held), Value::Number(wanted)) => {
            let (Some(held), Some(wanted)) = (held.as_f64(), wanted.as_f64()) else {
                return false;
            };
            match operator {
                Operator::Equal => held == wanted,
                Operator::NotEqual => held != wanted,
                Operator::Greater => held > wanted,
                Operator::GreaterOrEqual => held >= wanted,
                Operator::Less => held < wanted,
                Operator::LessOrEqual => held <= wanted,
                _ => false,
            }
        }
        (Value::Bool(held), Value::Bool(wanted)) => match operator {
            Operator::Equal => held == wanted,
            Operator::NotEqual => held != wanted,
            _ => false,
        },
        // A boolean held as text, as some clients send `"active": "False"`.
        (Value::String(held), Value::Bool(wanted)) => {
            let held = held.eq_ignore_ascii_case("true");
            match operator {
                Operator::Equal => held == *wanted,
                Operator::NotEqual => held != *wanted,
                _ => false,
            }
        }
        _ => false,
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(values) => !values.is_empty(),
        Value::Object(members) => !members.is_empty(),
        _ => true,
    }
}

impl Filter {
    /// Whether the resource (or, inside a value path, one value) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::Compare {
                path,
                operator,
                value,
            } => {
                let held = resolve(resource, path);
                match (operator, value) {
                    // `ne` holds when no value equals, an absent attribute included.
                    (Operator::NotEqual, _) => !held
                        .iter()
                        .any(|held| compare(held, Operator::Equal, value, case_exact(path))),
                    (Operator::Equal, Value::Null) => !held.iter().any(|held| present(held)),
                    _ => held
                        .iter()
                        .any(|held| compare(held, *operator, value, case_exact(path))),
                }
            }
            Filter::Present(path) => resolve(resource, path).into_iter().any(present),
            Filter::And(left, right) => left.matches(resource) && right.matches(resource),
            Filter::Or(left, right) => left.matches(resource) || right.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
            Filter::ValuePath { attribute, filter } => resolve(resource, attribute)
                .into_iter()
                .any(|value| filter.matches(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223-7f76",
            "externalId": "Okta-17",
            "userName": "Bjensen@example.com",
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090"}
            },
            "meta": {"lastModified": "2026-05-13T04:42:34Z"}
        })
    }

    fn holds(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|error| panic!("{error}"))
            .matches(&user())
    }

    #[test]
    fn operators_match_as_rfc_7644_says() {
        for filter in [
            r#"userName eq "bjensen@example.com""#,
            r#"USERNAME Eq "BJENSEN@example.com""#,
            r#"userName sw "bjen""#,
            r#"userName ew "example.com""#,
            r#"displayName co "s J""#,
            r#"emails.value eq "babs@jensen.org""#,
            r#"emails co "jensen.org""#,
            r#"emails[type eq "work" and value co "@example.com"]"#,
            r#"id eq "2819c223-7f76""#,
            r#"externalId eq "Okta-17""#,
            "active eq true",
            "externalId pr",
            "emails pr",
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
            r#"title ne "Boss""#,
            r#"not (title pr)"#,
            r#"userName eq "nobody" or displayName sw "Babs""#,
            r#"(userName eq "nobody" or active eq true) and not (emails[type eq "other"])"#,
            "title eq null",
        ] {
            assert!(holds(filter), "{filter}");
        }
        for filter in [
            r#"userName eq "bjensen""#,
            r#"id eq "2819C223-7F76""#,
            r#"externalId eq "okta-17""#,
            "active eq false",
            "title pr",
            r#"emails[type eq "home" and primary eq true]"#,
            r#"userName eq "bjensen@example.com" and active eq false"#,
            r#"not (userName pr)"#,
            r#"userName gt "c""#,
        ] {
            assert!(!holds(filter), "{filter}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // Read as `a or (b and c)`: true by `a`.
        assert!(holds(
            r#"active eq true or userName eq "x" and active eq false"#
        ));
        assert!(!holds(
            r#"(active eq true or userName eq "x") and active eq false"#
        ));
    }
}
