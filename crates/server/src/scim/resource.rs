//! Veil's users and declared groups as SCIM resources and back: rendering with `meta` and its
//! weak ETag, finding by SCIM id, reading a body into a `UserSpec` or `GroupSpec`, and moving
//! group membership, which lives on the users.
//!
//! A user or group with no SCIM record (written in a policy file) is known by its name as id
//! until SCIM first writes it; then it keeps that id, so a later rename keeps it too.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use veil_policy::{GroupSpec, ScimSpec, UserSpec};

use super::error::{ScimError, ScimType};
use super::mapping::Mapping;
use super::schema::{self, parse_bool};

pub fn user_id(user: &UserSpec) -> &str {
    user.scim.as_ref().map_or(&user.name, |record| &record.id)
}

pub fn group_id(group: &GroupSpec) -> &str {
    group
        .scim
        .as_deref()
        .map_or(&group.name, |record| &record.id)
}

/// The user a SCIM id names, with its place among `users`: the one whose SCIM record has that
/// id, else the one without a record whose name it is.
pub fn find_user<'u>(
    users: impl IntoIterator<Item = &'u UserSpec>,
    id: &str,
) -> Option<(usize, &'u UserSpec)> {
    let mut by_name = None;
    for (index, user) in users.into_iter().enumerate() {
        match &user.scim {
            Some(record) if record.id == id => return Some((index, user)),
            None if user.name == id && by_name.is_none() => by_name = Some((index, user)),
            _ => {}
        }
    }
    by_name
}

pub fn find_group(groups: &[GroupSpec], id: &str) -> Option<usize> {
    let by_record = groups
        .iter()
        .position(|group| group.scim.as_deref().is_some_and(|record| record.id == id));
    by_record.or_else(|| {
        groups
            .iter()
            .position(|group| group.scim.is_none() && group.name == id)
    })
}

/// The users by SCIM id, as [`find_user`] finds them (an id a record holds before a name), for
/// a group body that lists many members.
pub fn users_by_id<'u>(users: &[&'u UserSpec]) -> HashMap<&'u str, &'u UserSpec> {
    let mut by_id = HashMap::with_capacity(users.len());
    for &user in users {
        if let Some(record) = &user.scim {
            by_id.entry(record.id.as_str()).or_insert(user);
        }
    }
    for &user in users {
        if user.scim.is_none() {
            by_id.entry(user.name.as_str()).or_insert(user);
        }
    }
    by_id
}

/// A new SCIM id: 128 random bits, written as a UUID.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source works");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The weak ETag of a resource as rendered without its version.
fn etag(resource: &Value) -> String {
    let digest = Sha256::digest(resource.to_string().as_bytes());
    let hex: String = digest[..10]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("W/\"{hex}\"")
}

fn meta(resource: &mut Value, kind: &str, record: Option<&ScimSpec>, location: String) {
    let mut meta = json!({"resourceType": kind, "location": location});
    if let Some(record) = record {
        meta["created"] = record.created.clone().into();
        meta["lastModified"] = record.last_modified.clone().into();
    }
    resource["meta"] = meta;
    let version = etag(resource);
    resource["meta"]["version"] = version.into();
}

/// The ETag a rendered resource carries.
pub fn version_of(resource: &Value) -> &str {
    resource["meta"]["version"].as_str().unwrap_or_default()
}

pub fn render_user(groups: &[GroupSpec], user: &UserSpec, mapping: &Mapping, base: &str) -> Value {
    let id = user_id(user);
    let mut resource = json!({
        "schemas": [schema::USER],
        "id": id,
        "userName": user.name,
        "active": !user.deactivated,
    });
    if let Some(external) = user
        .scim
        .as_ref()
        .and_then(|record| record.external_id.as_ref())
    {
        resource["externalId"] = external.clone().into();
    }
    mapping.write(&user.attributes, &mut resource);
    if resource.get(schema::ENTERPRISE).is_some() {
        resource["schemas"] = json!([schema::USER, schema::ENTERPRISE]);
    }
    let groups: Vec<Value> = groups
        .iter()
        .filter(|group| user.groups.contains(&group.name))
        .map(|group| {
            json!({
                "value": group_id(group),
                "display": group.name,
                "$ref": format!("{base}/Groups/{}", group_id(group)),
                "type": "direct",
            })
        })
        .collect();
    if !groups.is_empty() {
        resource["groups"] = groups.into();
    }
    meta(
        &mut resource,
        "User",
        user.scim.as_deref(),
        format!("{base}/Users/{id}"),
    );
    resource
}

/// A group as a SCIM resource; its members are those of `users` that carry its name.
pub fn render_group<'u>(
    users: impl IntoIterator<Item = &'u UserSpec>,
    group: &GroupSpec,
    base: &str,
) -> Value {
    let id = group_id(group);
    let mut resource = json!({
        "schemas": [schema::GROUP],
        "id": id,
        "displayName": group.name,
    });
    if let Some(external) = group
        .scim
        .as_ref()
        .and_then(|record| record.external_id.as_ref())
    {
        resource["externalId"] = external.clone().into();
    }
    let members: Vec<Value> = users
        .into_iter()
        .filter(|user| user.groups.contains(&group.name))
        .map(|user| {
            json!({
                "value": user_id(user),
                "display": user.name,
                "$ref": format!("{base}/Users/{}", user_id(user)),
                "type": "User",
            })
        })
        .collect();
    resource["members"] = members.into();
    meta(
        &mut resource,
        "Group",
        group.scim.as_deref(),
        format!("{base}/Groups/{id}"),
    );
    resource
}

fn required_text<'v>(resource: &'v Value, name: &str) -> Result<&'v str, ScimError> {
    match super::filter::get(resource, name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        _ => Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("`{name}` is required and is a non-empty string"),
        )),
    }
}

fn external_id(resource: &Value) -> Option<String> {
    super::filter::get(resource, "externalId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The SCIM record of an entity being written: its id kept (or the name it was known by, or a
/// new one), `created` kept, `lastModified` now.
fn record(existing: Option<&ScimSpec>, known_as: Option<&str>, resource: &Value) -> ScimSpec {
    let now = now();
    ScimSpec {
        id: existing
            .map(|record| record.id.clone())
            .or(known_as.map(str::to_owned))
            .unwrap_or_else(new_id),
        external_id: external_id(resource),
        created: existing.map_or_else(|| now.clone(), |record| record.created.clone()),
        last_modified: now,
    }
}

/// A user body read into the user it makes: the Veil attributes the mapping owns are replaced,
/// the others and the user's groups kept.
pub fn user_from(
    resource: &Value,
    existing: Option<&UserSpec>,
    mapping: &Mapping,
) -> Result<UserSpec, ScimError> {
    schema::check(schema::USER, resource)?;
    let name = required_text(resource, "userName")?.to_owned();
    let active = match super::filter::get(resource, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(active)) => *active,
        Some(Value::String(text)) => parse_bool(text).expect("checked by the schema"),
        Some(_) => unreachable!("checked by the schema"),
    };
    let mut attributes = existing
        .map(|user| user.attributes.clone())
        .unwrap_or_default();
    attributes.retain(|key, _| !mapping.owns(key));
    attributes.extend(mapping.read(resource));
    Ok(UserSpec {
        name,
        groups: existing.map(|user| user.groups.clone()).unwrap_or_default(),
        attributes,
        deactivated: !active,
        scim: Some(Box::new(record(
            existing.and_then(|user| user.scim.as_deref()),
            existing.map(|user| user.name.as_str()),
            resource,
        ))),
    })
}

/// A group body read into the group and the names of its member users (`users`: by SCIM id).
pub fn group_from(
    users: &HashMap<&str, &UserSpec>,
    resource: &Value,
    existing: Option<&GroupSpec>,
) -> Result<(GroupSpec, Vec<String>), ScimError> {
    schema::check(schema::GROUP, resource)?;
    let name = required_text(resource, "displayName")?.to_owned();
    let mut members = Vec::new();
    let mut listed_once = HashSet::new();
    let listed = match super::filter::get(resource, "members") {
        Some(Value::Array(listed)) => listed.as_slice(),
        _ => &[],
    };
    for (index, member) in listed.iter().enumerate() {
        let id = member.get("value").and_then(Value::as_str).ok_or_else(|| {
            ScimError::bad(
                ScimType::InvalidValue,
                format!("`members[{index}].value` is required"),
            )
        })?;
        if member
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.eq_ignore_ascii_case("Group"))
        {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("`members[{index}]`: groups in groups are not supported"),
            ));
        }
        let user = users.get(id).ok_or_else(|| {
            ScimError::bad(
                ScimType::InvalidValue,
                format!("`members[{index}].value`: no user `{id}`"),
            )
        })?;
        if listed_once.insert(user.name.as_str()) {
            members.push(user.name.clone());
        }
    }
    let group = GroupSpec {
        name,
        description: existing.and_then(|group| group.description.clone()),
        scim: Some(Box::new(record(
            existing.and_then(|group| group.scim.as_deref()),
            existing.map(|group| group.name.as_str()),
            resource,
        ))),
    };
    Ok((group, members))
}

/// `user` carrying `group` exactly when `members` names it; whether that changed it.
pub fn with_membership(user: &mut UserSpec, group: &str, members: &HashSet<&str>) -> bool {
    let held = user.groups.iter().any(|name| name == group);
    let wanted = members.contains(user.name.as_str());
    if wanted && !held {
        user.groups.push(group.to_owned());
    } else if !wanted && held {
        user.groups.retain(|name| name != group);
    }
    wanted != held
}
