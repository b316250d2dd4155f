//! PATCH (RFC 7644 §3.5.2): `add`, `remove` and `replace` operations applied to a resource as
//! JSON, with or without `path`, value-filter paths (`members[value eq "…"]`) included. The
//! patched resource is then read like a PUT body, so both share every check.
//!
//! What identity providers send beyond the letter of the RFC is taken too: `op` in any case
//! (Entra's `"Replace"`), a no-path value whose keys are paths (`"name.givenName"`, an extension
//! attribute by its full URN), `remove` with a `value` listing the members to drop, and a
//! `replace` through an equality filter that matches nothing, which adds the value.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::{self, AttributePath, Filter, Operator, Path};
use super::schema::{self, Attribute, Mutability};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<Path>,
    pub value: Option<Value>,
}

fn syntax(detail: String) -> ScimError {
    ScimError::bad(ScimType::InvalidSyntax, detail)
}

/// Reads a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|schemas| schemas.iter().any(|urn| urn == PATCH_SCHEMA)) {
        return Err(syntax(format!(
            "a PATCH body has `schemas: [\"{PATCH_SCHEMA}\"]`"
        )));
    }
    let operations = filter::get(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH body has an `Operations` array".into()))?;
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            let op = filter::get(operation, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| syntax(format!("`Operations[{index}]` has no `op`")))?;
            let op = match op.to_ascii_lowercase().as_str() {
                "add" => Op::Add,
                "remove" => Op::Remove,
                "replace" => Op::Replace,
                other => {
                    return Err(syntax(format!(
                        "`Operations[{index}].op` is `{other}`: add, remove or replace"
                    )));
                }
            };
            let path = match filter::get(operation, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) if text.is_empty() => None,
                Some(Value::String(text)) => Some(filter::parse_path(text).map_err(|error| {
                    ScimError::bad(
                        ScimType::InvalidPath,
                        format!("`Operations[{index}].path`: {error}"),
                    )
                })?),
                Some(_) => {
                    return Err(syntax(format!(
                        "`Operations[{index}].path` is not a string"
                    )));
                }
            };
            let value = filter::get(operation, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(syntax(format!(
                    "`Operations[{index}]` ({op:?}) has no `value`"
                )));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies every operation in order; the first that cannot apply refuses the whole PATCH.
pub fn apply(resource: &mut Value, core: &str, operations: &[Operation]) -> Result<(), ScimError> {
    for operation in operations {
        match &operation.path {
            Some(path) => apply_at(resource, core, operation.op, path, operation.value.as_ref())?,
            None => {
                if operation.op == Op::Remove {
                    return Err(ScimError::bad(
                        ScimType::NoTarget,
                        "`remove` needs a `path`",
                    ));
                }
                let Some(Value::Object(members)) = &operation.value else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        "without a `path`, the `value` is an object of attributes",
                    ));
                };
                for (key, value) in members {
                    if key.eq_ignore_ascii_case(schema::ENTERPRISE)
                        && let Value::Object(extension) = value
                    {
                        for (name, inner) in extension {
                            let path =
                                filter::parse_path(&format!("{key}:{name}")).map_err(|error| {
                                    ScimError::bad(ScimType::InvalidPath, error.to_string())
                                })?;
                            apply_at(resource, core, operation.op, &path, Some(inner))?;
                        }
                        continue;
                    }
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let path = filter::parse_path(key).map_err(|error| {
                        ScimError::bad(ScimType::InvalidPath, error.to_string())
                    })?;
                    apply_at(resource, core, operation.op, &path, Some(value))?;
                }
            }
        }
    }
    Ok(())
}

/// The schema attribute a path names, checked writable.
fn target(core: &str, path: &AttributePath) -> Result<(&'static Attribute, bool), ScimError> {
    let name = &path.attribute;
    let written = match &path.schema {
        Some(urn) => format!("{urn}:{name}"),
        None => name.clone(),
    };
    if ["id", "meta", "schemas"]
        .iter()
        .any(|fixed| fixed.eq_ignore_ascii_case(name))
        && path.schema.is_none()
    {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("`{written}` is read-only"),
        ));
    }
    if name.eq_ignore_ascii_case("externalId") && path.schema.is_none() {
        static EXTERNAL_ID: Attribute = Attribute {
            name: "externalId",
            kind: schema::Type::String,
            multi_valued: false,
            mutability: Mutability::ReadWrite,
            sub_attributes: &[],
        };
        return Ok((&EXTERNAL_ID, false));
    }
    let (attributes, extension) = match path.schema.as_deref() {
        None => (schema::attributes_of(core).expect("a served schema"), false),
        Some(urn) if urn.eq_ignore_ascii_case(core) => {
            (schema::attributes_of(core).expect("a served schema"), false)
        }
        Some(urn) if core == schema::USER && urn.eq_ignore_ascii_case(schema::ENTERPRISE) => {
            (schema::ENTERPRISE_ATTRIBUTES, true)
        }
        Some(urn) => {
            return Err(ScimError::bad(
                ScimType::InvalidPath,
                format!("unknown schema `{urn}` in `{written}`"),
            ));
        }
    };
    let attribute = schema::find(attributes, name).ok_or_else(|| {
        ScimError::bad(
            ScimType::InvalidPath,
            format!("unknown attribute `{written}`"),
        )
    })?;
    if attribute.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("`{written}` is read-only"),
        ));
    }
    if let Some(sub) = &path.sub_attribute
        && schema::find(attribute.sub_attributes, sub).is_none()
    {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("unknown attribute `{written}.{sub}`"),
        ));
    }
    Ok((attribute, extension))
}

/// The object holding a path's attribute: the resource, or its extension object (created).
fn container(resource: &mut Value, extension: bool) -> &mut Map<String, Value> {
    let resource = resource.as_object_mut().expect("resources are objects");
    if !extension {
        return resource;
    }
    let key = resource
        .keys()
        .find(|key| key.eq_ignore_ascii_case(schema::ENTERPRISE))
        .cloned()
        .unwrap_or_else(|| schema::ENTERPRISE.to_owned());
    let object = resource
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    object.as_object_mut().expect("made an object")
}

/// Takes `name`'s value out of `object` whatever its case, so it goes back under the schema's.
fn take(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()?;
    object.remove(&key)
}

fn same_value(left: &Value, right: &Value) -> bool {
    match (filter::get(left, "value"), filter::get(right, "value")) {
        (Some(left), Some(right)) => left == right,
        _ => left == right,
    }
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(values) => values.clone(),
        value => vec![value.clone()],
    }
}

/// The `attribute eq value` terms of a pure conjunction; `None` if it is anything else.
fn equalities(filter: &Filter, into: &mut Map<String, Value>) -> Option<()> {
    match filter {
        Filter::Compare {
            path,
            operator: Operator::Equal,
            value,
        } if path.sub_attribute.is_none() && path.schema.is_none() => {
            into.insert(path.attribute.clone(), value.clone());
            Some(())
        }
        Filter::And(left, right) => {
            equalities(left, into)?;
            equalities(right, into)
        }
        _ => None,
    }
}

fn set_sub(element: &mut Value, sub: &str, value: Value) {
    if !element.is_object() {
        *element = Value::Object(Map::new());
    }
    let object = element.as_object_mut().expect("made an object");
    take(object, sub);
    object.insert(sub.to_owned(), value);
}

fn apply_at(
    resource: &mut Value,
    core: &str,
    op: Op,
    path: &Path,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let (attribute, extension) = target(core, &path.attribute)?;
    let object = container(resource, extension);
    let name = attribute.name;
    let sub = path
        .attribute
        .sub_attribute
        .as_deref()
        .or(path.sub_attribute.as_deref());
    let current = take(object, name);
    let result = match (&path.filter, op) {
        (Some(filter), _) => {
            let mut list = current.as_ref().map(as_list).unwrap_or_default();
            let mut matched = false;
            let mut index = 0;
            while index < list.len() {
                if !filter.matches(&list[index]) {
                    index += 1;
                    continue;
                }
                matched = true;
                match (op, sub, value) {
                    (Op::Remove, None, _) => {
                        list.remove(index);
                        continue;
                    }
                    (Op::Remove, Some(sub), _) => {
                        if let Some(element) = list[index].as_object_mut() {
                            take(element, sub);
                        }
                    }
                    (_, Some(sub), Some(value)) => set_sub(&mut list[index], sub, value.clone()),
                    (Op::Replace, None, Some(value)) => list[index] = value.clone(),
                    (_, None, Some(Value::Object(members))) => {
                        for (key, inner) in members {
                            set_sub(&mut list[index], key, inner.clone());
                        }
                    }
                    _ => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            format!("a value for `{name}` is an object"),
                        ));
                    }
                }
                index += 1;
            }
            if !matched && op != Op::Remove {
                let mut element = Map::new();
                if equalities(filter, &mut element).is_none() {
                    return Err(ScimError::bad(
                        ScimType::NoTarget,
                        format!("no value of `{name}` matches the filter"),
                    ));
                }
                let mut element = Value::Object(element);
                match (sub, value) {
                    (Some(sub), Some(value)) => set_sub(&mut element, sub, value.clone()),
                    (None, Some(Value::Object(members))) => {
                        for (key, inner) in members {
                            set_sub(&mut element, key, inner.clone());
                        }
                    }
                    _ => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            format!("a value for `{name}` is an object"),
                        ));
                    }
                }
                list.push(element);
            }
            (!list.is_empty()).then_some(Value::Array(list))
        }
        (None, Op::Remove) => match (sub, value, current) {
            (_, _, None) => None,
            (None, Some(value), Some(current)) if attribute.multi_valued => {
                let removed = as_list(value);
                let list: Vec<Value> = as_list(&current)
                    .into_iter()
                    .filter(|element| !removed.iter().any(|gone| same_value(element, gone)))
                    .collect();
                (!list.is_empty()).then_some(Value::Array(list))
            }
            (None, _, Some(_)) => None,
            (Some(sub), _, Some(mut current)) => {
                match &mut current {
                    Value::Array(list) => list
                        .iter_mut()
                        .filter_map(Value::as_object_mut)
                        .for_each(|element| {
                            take(element, sub);
                        }),
                    Value::Object(element) => {
                        take(element, sub);
                    }
                    _ => {}
                }
                Some(current)
            }
        },
        (None, op) => {
            let value = value
                .expect("parse requires a value for add and replace")
                .clone();
            match sub {
                Some(sub) => {
                    let mut current = current.unwrap_or_else(|| {
                        if attribute.multi_valued {
                            Value::Array(Vec::new())
                        } else {
                            Value::Object(Map::new())
                        }
                    });
                    match &mut current {
                        Value::Array(list) => list
                            .iter_mut()
                            .for_each(|element| set_sub(element, sub, value.clone())),
                        element => set_sub(element, sub, value),
                    }
                    Some(current)
                }
                None if attribute.multi_valued && op == Op::Add => {
                    let mut list = current.as_ref().map(as_list).unwrap_or_default();
                    for element in as_list(&value) {
                        if !list.iter().any(|held| same_value(held, &element)) {
                            list.push(element);
                        }
                    }
                    Some(Value::Array(list))
                }
                None if attribute.multi_valued => Some(Value::Array(as_list(&value))),
                // A complex single value takes the sub-attributes given and keeps the others.
                None => match (current, value) {
                    (Some(Value::Object(mut held)), Value::Object(given)) => {
                        for (key, inner) in given {
                            take(&mut held, &key);
                            held.insert(key, inner);
                        }
                        Some(Value::Object(held))
                    }
                    (_, value) => Some(value),
                },
            }
        }
    };
    if let Some(result) = result {
        object.insert(name.to_owned(), result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(resource: Value, core: &str, operations: Value) -> Result<Value, ScimError> {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
        let mut resource = resource;
        apply(&mut resource, core, &parse(&body)?)?;
        Ok(resource)
    }

    fn group() -> Value {
        json!({"displayName": "analysts", "members": [{"value": "u-1"}, {"value": "u-2"}]})
    }

    #[test]
    fn members_are_added_and_removed() {
        let added = patched(
            group(),
            schema::GROUP,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "u-3"}, {"value": "u-1"}]}
            ]),
        )
        .unwrap();
        assert_eq!(
            added["members"],
            json!([{"value": "u-1"}, {"value": "u-2"}, {"value": "u-3"}])
        );
        // Okta: a value filter path.
        let removed = patched(
            group(),
            schema::GROUP,
            json!([
                {"op": "remove", "path": "members[value eq \"u-1\"]"}
            ]),
        )
        .unwrap();
        assert_eq!(removed["members"], json!([{"value": "u-2"}]));
        // Entra: the members to remove as the value, `op` capitalized.
        let removed = patched(
            group(),
            schema::GROUP,
            json!([
                {"op": "Remove", "path": "members", "value": [{"value": "u-2"}]}
            ]),
        )
        .unwrap();
        assert_eq!(removed["members"], json!([{"value": "u-1"}]));
        let emptied = patched(
            group(),
            schema::GROUP,
            json!([{"op": "remove", "path": "members"}]),
        )
        .unwrap();
        assert!(emptied.get("members").is_none());
        let replaced = patched(
            group(),
            schema::GROUP,
            json!([
                {"op": "replace", "path": "members", "value": [{"value": "u-9"}]},
                {"op": "replace", "value": {"displayName": "analysts-eu"}}
            ]),
        )
        .unwrap();
        assert_eq!(
            replaced,
            json!({"displayName": "analysts-eu", "members": [{"value": "u-9"}]})
        );
    }

    #[test]
    fn user_attributes_change_as_entra_and_okta_send_them() {
        let user = json!({"userName": "b", "active": true, "name": {"givenName": "B", "familyName": "J"},
            "emails": [{"value": "w@x", "type": "work", "primary": true}]});
        let patched_user = patched(user.clone(), schema::USER, json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"},
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "h@x"},
            {"op": "replace", "value": {"name.givenName": "Barbara",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"}},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "m-1"}},
            {"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "7"}}},
            {"op": "remove", "path": "name.familyName"},
        ])).unwrap();
        assert_eq!(
            patched_user,
            json!({
                "userName": "b", "active": "False", "name": {"givenName": "Barbara"},
                "emails": [{"value": "new@x", "type": "work", "primary": true}, {"type": "home", "value": "h@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": "Sales", "manager": {"value": "m-1"}, "costCenter": "7"
                }
            })
        );
        // Replacing a complex value keeps the sub-attributes not given.
        let renamed = patched(
            user,
            schema::USER,
            json!([{"op": "replace", "path": "name", "value": {"givenName": "C"}}]),
        )
        .unwrap();
        assert_eq!(
            renamed["name"],
            json!({"givenName": "C", "familyName": "J"})
        );
    }

    #[test]
    fn bad_operations_say_what_and_where() {
        for (operations, scim_type, message) in [
            (
                json!([{"op": "move", "path": "displayName", "value": "x"}]),
                ScimType::InvalidSyntax,
                "`Operations[0].op` is `move`",
            ),
            (
                json!([{"op": "add", "path": "shoeSize", "value": 9}]),
                ScimType::InvalidPath,
                "unknown attribute `shoeSize`",
            ),
            (
                json!([{"op": "add", "path": "name.nick", "value": 9}]),
                ScimType::InvalidPath,
                "unknown attribute `name.nick`",
            ),
            (
                json!([{"op": "add", "path": "members[value eq]", "value": 9}]),
                ScimType::InvalidPath,
                "`Operations[0].path`",
            ),
            (
                json!([{"op": "remove"}]),
                ScimType::NoTarget,
                "`remove` needs a `path`",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                ScimType::Mutability,
                "`id` is read-only",
            ),
            (
                json!([{"op": "add", "path": "displayName"}]),
                ScimType::InvalidSyntax,
                "has no `value`",
            ),
            (
                json!([{"op": "replace", "path": "members[value sw \"u\" or value eq \"x\"].display", "value": "x"}]),
                ScimType::NoTarget,
                "no value of `members` matches",
            ),
        ] {
            let (resource, core) = if operations.to_string().contains("members") {
                (json!({"displayName": "g"}), schema::GROUP)
            } else {
                (json!({"userName": "b"}), schema::USER)
            };
            let error = patched(resource, core, operations.clone()).unwrap_err();
            assert_eq!(error.scim_type, Some(scim_type), "{operations}: {error}");
            assert!(error.detail.contains(message), "{operations}: {error}");
        }
        let error = parse(&json!({"Operations": []})).unwrap_err();
        assert!(error.detail.contains(PATCH_SCHEMA), "{error}");
    }
}
