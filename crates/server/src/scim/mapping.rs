//! Which SCIM user attributes become which Veil user attributes (`--scim-mapping FILE`), read
//! from a resource on every write and written back into the resource Veil answers with. The
//! user's name is always `userName`, `active` is the user's `deactivated` and `externalId` its
//! SCIM record; everything else reaches Veil only through this mapping.

use std::collections::BTreeMap;
use std::path::Path as FilePath;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::filter::{self, Filter, Operator, Path};
use super::schema::{self, Mutability};

/// The defaults, as a mapping file would write them.
pub const DEFAULT: &str = "attributes:
  email: emails[primary].value
  display_name: displayName
  given_name: name.givenName
  family_name: name.familyName
  title: title
  department: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department
  cost_center: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter
  organization: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization
  division: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division
  employee_number: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber
  manager: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value
";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    attributes: BTreeMap<String, String>,
}

/// One Veil attribute and the SCIM path it is read from.
#[derive(Debug, Clone)]
struct Entry {
    veil: String,
    scim: Path,
}

/// The validated mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    entries: Vec<Entry>,
}

/// A mapping that cannot be used: which attribute, on which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{0}")]
    Syntax(String),
    #[error("line {line}: attribute `{veil}` ← `{path}`: {message}", line = line.map_or("?".into(), |line| line.to_string()))]
    Entry {
        veil: String,
        path: String,
        line: Option<usize>,
        message: String,
    },
}

impl Mapping {
    pub fn default_mapping() -> Mapping {
        Mapping::from_yaml(DEFAULT).expect("the default mapping is valid")
    }

    pub fn from_file(path: &FilePath) -> anyhow::Result<Mapping> {
        use anyhow::Context;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Mapping::from_yaml(&text).with_context(|| format!("in the SCIM mapping {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile = veil_policy::parse_yaml(text).map_err(|error| {
            MappingError::Syntax(match error.line {
                Some(line) => format!("line {line}: {}", error.message),
                None => error.message,
            })
        })?;
        let mut entries = Vec::new();
        for (veil, text_path) in file.attributes {
            let error = |message: String| MappingError::Entry {
                line: text
                    .lines()
                    .position(|line| line.trim_start().starts_with(&format!("{veil}:")))
                    .map(|index| index + 1),
                veil: veil.clone(),
                path: text_path.clone(),
                message,
            };
            if veil.is_empty() {
                return Err(error("a Veil attribute needs a name".into()));
            }
            let scim = parse_source(&text_path).map_err(error)?;
            entries.push(Entry { veil, scim });
        }
        Ok(Mapping { entries })
    }

    /// The Veil attributes this mapping owns: a SCIM write replaces these and keeps the others.
    pub fn owns(&self, key: &str) -> bool {
        self.entries.iter().any(|entry| entry.veil == key)
    }

    /// The Veil attributes a SCIM user resource carries.
    pub fn read(&self, resource: &Value) -> BTreeMap<String, Vec<String>> {
        let mut attributes = BTreeMap::new();
        for entry in &self.entries {
            let values = extract(resource, &entry.scim);
            if !values.is_empty() {
                attributes.insert(entry.veil.clone(), values);
            }
        }
        attributes
    }

    /// Writes the mapped Veil attributes into a resource being rendered.
    pub fn write(&self, attributes: &veil_policy::Attributes, resource: &mut Value) {
        for entry in &self.entries {
            if let Some(values) = attributes.get(&entry.veil) {
                place(resource, &entry.scim, values);
            }
        }
    }
}

/// A mapping's SCIM path: a filter path, where `[primary]` is short for `[primary eq true]`;
/// the attribute must be one of the User schema or its enterprise extension, writable.
fn parse_source(text: &str) -> Result<Path, String> {
    let expanded = text.replace("[primary]", "[primary eq true]");
    let path = filter::parse_path(&expanded).map_err(|error| error.to_string())?;
    let (attributes, urn) = match path.attribute.schema.as_deref() {
        None => (schema::USER_ATTRIBUTES, schema::USER),
        Some(urn) => (
            schema::attributes_of(urn)
                .filter(|_| !urn.eq_ignore_ascii_case(schema::GROUP))
                .ok_or_else(|| format!("`{urn}` is not a user schema Veil serves"))?,
            urn,
        ),
    };
    let name = &path.attribute.attribute;
    let attribute = schema::find(attributes, name)
        .ok_or_else(|| format!("`{name}` is not an attribute of `{urn}`"))?;
    if matches!(
        attribute.name,
        "userName" | "active" | "groups" | "password"
    ) || attribute.mutability != Mutability::ReadWrite
    {
        return Err(format!(
            "`{name}` cannot be mapped (`userName` is the user's name, `active` its deactivation, `groups` its groups; `password` is never kept)"
        ));
    }
    let sub = path
        .attribute
        .sub_attribute
        .as_ref()
        .or(path.sub_attribute.as_ref());
    match sub {
        Some(sub) if schema::find(attribute.sub_attributes, sub).is_none() => Err(format!(
            "`{sub}` is not a sub-attribute of `{}`",
            attribute.name
        )),
        None if !attribute.sub_attributes.is_empty() => Err(format!(
            "`{}` is complex: name a sub-attribute, such as `{}.{}`",
            attribute.name, attribute.name, attribute.sub_attributes[0].name
        )),
        _ if path.filter.is_some() && !attribute.multi_valued => Err(format!(
            "`{}` is single-valued: a value filter does not apply",
            attribute.name
        )),
        _ => Ok(path),
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Object(_) => filter::get(value, "value").and_then(text_of),
        _ => None,
    }
}

/// The texts a path reaches in a resource. `[primary eq true]` falls back to the first value
/// when none is marked primary.
fn extract(resource: &Value, path: &Path) -> Vec<String> {
    let Some(value) = filter::schema_object(resource, path.attribute.schema.as_deref())
        .and_then(|object| filter::get(object, &path.attribute.attribute))
    else {
        return Vec::new();
    };
    let mut values: Vec<&Value> = match value {
        Value::Array(values) => values.iter().collect(),
        value => vec![value],
    };
    if let Some(filter) = &path.filter {
        let matching: Vec<&Value> = values
            .iter()
            .copied()
            .filter(|value| filter.matches(value))
            .collect();
        values = if matching.is_empty() && is_primary(filter) {
            values.into_iter().take(1).collect()
        } else {
            matching
        };
    }
    let sub = path
        .attribute
        .sub_attribute
        .as_ref()
        .or(path.sub_attribute.as_ref());
    values
        .into_iter()
        .filter_map(|value| match sub {
            Some(sub) => filter::get(value, sub),
            None => Some(value),
        })
        .filter_map(text_of)
        .collect()
}

fn is_primary(filter: &Filter) -> bool {
    matches!(filter, Filter::Compare { path, operator: Operator::Equal, value: Value::Bool(true) } if path.attribute.eq_ignore_ascii_case("primary"))
}

/// The `attribute eq value` terms of a filter's conjunction: what a new value must carry to
/// match it.
fn equalities(filter: &Filter, into: &mut Map<String, Value>) {
    match filter {
        Filter::Compare {
            path,
            operator: Operator::Equal,
            value,
        } if path.sub_attribute.is_none() => {
            into.insert(path.attribute.clone(), value.clone());
        }
        Filter::And(left, right) => {
            equalities(left, into);
            equalities(right, into);
        }
        _ => {}
    }
}

fn object_at<'v>(parent: &'v mut Value, key: &str) -> &'v mut Value {
    let members = parent.as_object_mut().expect("resources are objects");
    members
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()))
}

/// Writes `values` at a mapping's path.
fn place(resource: &mut Value, path: &Path, values: &[String]) {
    let extension = path
        .attribute
        .schema
        .as_deref()
        .is_some_and(|urn| !urn.eq_ignore_ascii_case(schema::USER));
    let (parent, attributes) = if extension {
        (
            object_at(resource, schema::ENTERPRISE),
            schema::ENTERPRISE_ATTRIBUTES,
        )
    } else {
        (resource, schema::USER_ATTRIBUTES)
    };
    let name = &path.attribute.attribute;
    let sub = path
        .attribute
        .sub_attribute
        .as_ref()
        .or(path.sub_attribute.as_ref());
    let multi_valued =
        schema::find(attributes, name).is_some_and(|attribute| attribute.multi_valued);
    if !multi_valued {
        let value = Value::String(values[0].clone());
        match sub {
            Some(sub) => {
                object_at(parent, name)
                    .as_object_mut()
                    .expect("complex attributes are objects")
                    .insert(sub.clone(), value);
            }
            None => {
                parent
                    .as_object_mut()
                    .expect("resources are objects")
                    .insert(name.clone(), value);
            }
        }
        return;
    }
    let list = parent
        .as_object_mut()
        .expect("resources are objects")
        .entry(name.clone())
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = list else {
        return;
    };
    let primary = path.filter.as_ref().is_some_and(is_primary);
    for (index, text) in values.iter().enumerate() {
        let mut element = Map::new();
        if let Some(filter) = &path.filter
            && (!primary || index == 0)
        {
            equalities(filter, &mut element);
        }
        element.insert(
            sub.cloned().unwrap_or_else(|| "value".into()),
            Value::String(text.clone()),
        );
        list.push(Value::Object(element));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_read_and_write_back() {
        let mapping = Mapping::default_mapping();
        let resource = json!({
            "userName": "bjensen",
            "displayName": "Babs",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "home@x", "type": "home"}, {"value": "work@x", "primary": "True"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Sales", "employeeNumber": 42, "manager": {"value": "m-1"}
            }
        });
        let attributes = mapping.read(&resource);
        let expected: BTreeMap<String, Vec<String>> = [
            ("department", "Sales"),
            ("display_name", "Babs"),
            ("email", "work@x"),
            ("employee_number", "42"),
            ("given_name", "Barbara"),
            ("manager", "m-1"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), vec![value.to_owned()]))
        .collect();
        assert_eq!(attributes, expected);
        let mut written = json!({"userName": "bjensen"});
        mapping.write(&attributes.clone().into(), &mut written);
        assert_eq!(
            written["emails"],
            json!([{"primary": true, "value": "work@x"}])
        );
        assert_eq!(
            written[schema::ENTERPRISE]["manager"],
            json!({"value": "m-1"})
        );
        assert_eq!(mapping.read(&written), attributes);
    }

    #[test]
    fn primary_falls_back_to_the_first_email() {
        let mapping = Mapping::default_mapping();
        let attributes = mapping.read(&json!({"emails": [{"value": "a@x"}, {"value": "b@x"}]}));
        assert_eq!(attributes["email"], ["a@x"]);
    }

    #[test]
    fn bad_mappings_say_what_and_where() {
        for (text, message) in [
            (
                "attributes:\n  email: emails[primary.value\n",
                "line 2: attribute `email` ← `emails[primary.value`: expected `]`",
            ),
            (
                "attributes:\n  x: nickname.first\n",
                "`first` is not a sub-attribute of `nickName`",
            ),
            (
                "attributes:\n  x: shoeSize\n",
                "`shoeSize` is not an attribute of `urn:ietf:params:scim:schemas:core:2.0:User`",
            ),
            (
                "attributes:\n  x: userName\n",
                "`userName` cannot be mapped",
            ),
            (
                "attributes:\n  x: name\n",
                "`name` is complex: name a sub-attribute, such as `name.formatted`",
            ),
            (
                "attributes:\n  x: urn:example:custom:User:x\n",
                "`urn:example:custom:User` is not a user schema Veil serves",
            ),
            (
                "attributes:\n  x: displayName[type eq \"work\"]\n",
                "`displayName` is single-valued",
            ),
            ("atributes: {}\n", "unknown field `atributes`"),
        ] {
            let error = Mapping::from_yaml(text).unwrap_err().to_string();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
