//! `/Users` and `/Groups`: list with `filter` and paging, create, read, replace, patch and
//! delete. Reads come from the current snapshot; every write is one change on the write path's
//! fast lane for single entities (`State::edit_entities_with`), planned under the writer's lock:
//! the resource is found, its ETag compared with `If-Match`, and the body applied, so a refused
//! request changes nothing.

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use veil_policy::{Edit, Estate, GroupSpec, UserEdit, UserSpec};

use super::error::{ScimError, ScimType};
use super::patch;
use super::resource::{self, find_group};
use super::schema;
use super::{MAX_RESULTS, Scim, json_body};
use crate::auth::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

pub fn routes() -> Router<Scim> {
    Router::new()
        .route(
            "/Users",
            get(|scim, headers, query| list(Kind::User, scim, headers, query))
                .post(|scim, headers, body| create(Kind::User, scim, headers, body)),
        )
        .route(
            "/Users/{id}",
            get(|scim, headers, id| read(Kind::User, scim, headers, id))
                .put(|scim, headers, id, body| replace(Kind::User, scim, headers, id, body))
                .patch(|scim, headers, id, body| modify(Kind::User, scim, headers, id, body))
                .delete(|scim, headers, id| delete(Kind::User, scim, headers, id)),
        )
        .route(
            "/Groups",
            get(|scim, headers, query| list(Kind::Group, scim, headers, query))
                .post(|scim, headers, body| create(Kind::Group, scim, headers, body)),
        )
        .route(
            "/Groups/{id}",
            get(|scim, headers, id| read(Kind::Group, scim, headers, id))
                .put(|scim, headers, id, body| replace(Kind::Group, scim, headers, id, body))
                .patch(|scim, headers, id, body| modify(Kind::Group, scim, headers, id, body))
                .delete(|scim, headers, id| delete(Kind::Group, scim, headers, id)),
        )
}

type Body = Result<Bytes, BytesRejection>;

/// A request body as JSON: too large is a 413, malformed JSON a 400 that says where.
fn json(body: Body) -> Result<Value, ScimError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
            )
        } else {
            ScimError::bad(ScimType::InvalidSyntax, rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        // serde_json's message says the line and column.
        ScimError::bad(ScimType::InvalidSyntax, format!("malformed JSON: {error}"))
    })
}

/// The resource with its ETag header.
fn answer(status: StatusCode, resource: &Value) -> Response {
    let mut response = (status, json_body(resource)).into_response();
    if let Ok(version) = HeaderValue::from_str(resource::version_of(resource)) {
        response.headers_mut().insert(header::ETAG, version);
    }
    if status == StatusCode::CREATED
        && let Some(location) = resource["meta"]["location"]
            .as_str()
            .and_then(|location| HeaderValue::from_str(location).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Refuses a write whose `If-Match` names another version (`*` matches any).
fn check_version(headers: &HeaderMap, current: &Value) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let wanted = wanted.to_str().unwrap_or_default();
    let version = resource::version_of(current);
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    if wanted.trim() == "*" || wanted.split(',').any(|tag| strip(tag) == strip(version)) {
        return Ok(());
    }
    Err(ScimError::status(
        StatusCode::PRECONDITION_FAILED,
        format!("the resource is at version {version}, not {wanted}"),
    ))
}

// Groups take the fast lane too: a group's members are the users carrying its name, so a group
// write is its own entity and an edit of each user whose membership it changes.

fn find_group_index(groups: &[GroupSpec], id: &str) -> Result<usize, ScimError> {
    find_group(groups, id).ok_or_else(|| ScimError::not_found(Kind::Group.noun(), id))
}

fn render_estate_group(estate: &Estate, group: &GroupSpec, base: &str) -> Value {
    resource::render_group(estate.users(), group, base)
}

/// `user` with group `old` called `new` (once) and carrying `new` exactly when `members` names
/// it; `None` when that leaves it as it was.
fn regrouped(user: &UserSpec, old: &str, new: &str, members: &HashSet<&str>) -> Option<UserSpec> {
    let renames = old != new && user.groups.iter().any(|group| group == old);
    let held = user.groups.iter().any(|group| group == new);
    if !renames && held == members.contains(user.name.as_str()) {
        return None;
    }
    let mut user = user.clone();
    if renames {
        let mut seen = HashSet::new();
        user.groups = std::mem::take(&mut user.groups)
            .into_iter()
            .map(|group| if group == old { new.to_owned() } else { group })
            .filter(|group| seen.insert(group.clone()))
            .collect();
    }
    resource::with_membership(&mut user, new, members);
    Some(user)
}

/// Writes the group `body` makes of the one `id` names (or a new one), its members included,
/// returning it rendered. A rename renames the group on every user carrying it and moves it
/// last, as a user's rename does.
async fn write_group(
    scim: &Scim,
    caller: &Caller,
    headers: &HeaderMap,
    id: Option<&str>,
    body: impl FnOnce(Value) -> Result<Value, ScimError>,
    base: &str,
) -> Result<Value, ScimError> {
    let mut written = None;
    scim.state
        .edit_entities_with(caller, false, |estate| {
            let groups = estate.groups();
            let index = id.map(|id| find_group_index(groups, id)).transpose()?;
            let existing = index.map(|index| &groups[index]);
            let current = existing.map(|group| render_estate_group(estate, group, base));
            if let Some(current) = &current {
                check_version(headers, current)?;
            }
            let body = body(current.unwrap_or(Value::Null))?;
            let (group, members) = resource::group_from(
                &resource::users_by_id(&estate.users().collect::<Vec<_>>()),
                &body,
                existing,
            )?;
            check_unique_group(groups, &group.name, index)?;
            let members: HashSet<&str> = members.iter().map(String::as_str).collect();
            let old = existing.map_or(group.name.as_str(), |old| old.name.as_str());
            let edited: HashMap<&str, UserSpec> = estate
                .users()
                .filter_map(|user| {
                    regrouped(user, old, &group.name, &members)
                        .map(|edited| (user.name.as_str(), edited))
                })
                .collect();
            written = Some(resource::render_group(
                estate
                    .users()
                    .map(|user| edited.get(user.name.as_str()).unwrap_or(user)),
                &group,
                base,
            ));
            let mut edits: Vec<Edit> = estate
                .users()
                .filter_map(|user| edited.get(user.name.as_str()))
                .map(|user| Edit::User(UserEdit::Put(user.clone())))
                .collect();
            if old != group.name {
                edits.push(Edit::RemoveGroup(old.to_owned()));
            }
            edits.push(Edit::PutGroup(group));
            Ok::<_, ScimError>(edits)
        })
        .await?;
    Ok(written.expect("planned before it was written"))
}

// Users take the write path's fast lane (`State::edit_users_with`): they are read from and
// edited in the current estate, never copied out into a whole bundle.

fn render_estate_user(scim: &Scim, estate: &Estate, user: &UserSpec, base: &str) -> Value {
    resource::render_user(estate.groups(), user, &scim.mapping, base)
}

fn find_estate_user<'e>(estate: &'e Estate, id: &str) -> Result<&'e UserSpec, ScimError> {
    resource::find_user(estate.users(), id)
        .map(|(_, user)| user)
        .ok_or_else(|| ScimError::not_found(Kind::User.noun(), id))
}

/// Refuses a `userName` another user has, without regard to case.
fn check_unique_user(estate: &Estate, name: &str, except: Option<&str>) -> Result<(), ScimError> {
    let lowercase = name.to_lowercase();
    match estate
        .users()
        .find(|user| Some(user.name.as_str()) != except && user.name.to_lowercase() == lowercase)
    {
        Some(taken) => Err(ScimError::uniqueness(format!(
            "`userName` `{name}` is taken by user `{}`",
            taken.name
        ))),
        None => Ok(()),
    }
}

/// The edits that write `user` over `existing` (a rename removes the old name).
fn user_edits(existing: Option<&UserSpec>, user: UserSpec) -> Vec<UserEdit> {
    match existing {
        Some(old) if old.name != user.name => {
            vec![UserEdit::Remove(old.name.clone()), UserEdit::Put(user)]
        }
        _ => vec![UserEdit::Put(user)],
    }
}

/// Writes the user `body` makes of the one `id` names (or a new one), returning it rendered.
async fn write_user(
    scim: &Scim,
    caller: &Caller,
    headers: &HeaderMap,
    id: Option<&str>,
    body: impl FnOnce(Value) -> Result<Value, ScimError>,
    base: &str,
) -> Result<Value, ScimError> {
    let mut written = None;
    scim.state
        .edit_users_with(caller, false, |estate| {
            let existing = match id {
                Some(id) => {
                    let user = find_estate_user(estate, id)?;
                    let current = render_estate_user(scim, estate, user, base);
                    check_version(headers, &current)?;
                    Some((user, current))
                }
                None => None,
            };
            let body = body(
                existing
                    .as_ref()
                    .map_or(Value::Null, |(_, current)| current.clone()),
            )?;
            let existing = existing.map(|(user, _)| user);
            let user = resource::user_from(&body, existing, &scim.mapping)?;
            check_unique_user(estate, &user.name, existing.map(|user| user.name.as_str()))?;
            written = Some(render_estate_user(scim, estate, &user, base));
            Ok::<_, ScimError>(user_edits(existing, user))
        })
        .await?;
    Ok(written.expect("planned before it was written"))
}

/// `startIndex` and `count` (RFC 7644 §3.4.2.4): 1-based, out-of-range values clamped.
fn page(query: &HashMap<String, String>) -> Result<(usize, usize), ScimError> {
    let number = |key: &str, default: i64| -> Result<i64, ScimError> {
        match query.get(key) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|_| {
                ScimError::bad(
                    ScimType::InvalidValue,
                    format!("`{key}` is `{text}`, not an integer"),
                )
            }),
        }
    };
    let start = number("startIndex", 1)?.max(1) as usize;
    let count = number("count", 100)?.clamp(0, MAX_RESULTS as i64) as usize;
    Ok((start, count))
}

/// `attributes` / `excludedAttributes` over top-level attributes; `id`, `schemas` and `meta`
/// always stay.
fn project(resource: &mut Value, query: &HashMap<String, String>) {
    let names = |key: &str| -> Option<Vec<String>> {
        query.get(key).map(|list| {
            list.split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .collect()
        })
    };
    let Some(members) = resource.as_object_mut() else {
        return;
    };
    let fixed = |key: &str| matches!(key, "id" | "schemas" | "meta");
    if let Some(wanted) = names("attributes") {
        members.retain(|key, _| {
            let key = key.to_ascii_lowercase();
            fixed(&key)
                || wanted
                    .iter()
                    .any(|name| *name == key || name.starts_with(&format!("{key}.")))
        });
    }
    if let Some(excluded) = names("excludedAttributes") {
        members.retain(|key, _| fixed(key) || !excluded.contains(&key.to_ascii_lowercase()));
    }
}

async fn list(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    let filter = match query.get("filter") {
        Some(text) => Some(super::filter::parse(text).map_err(|error| {
            ScimError::bad(ScimType::InvalidFilter, format!("invalid filter: {error}"))
        })?),
        None => None,
    };
    let (start, count) = page(&query)?;
    let base = scim.base(&headers);
    if kind == Kind::User {
        // Read from the estate; `userName eq "…"` (what identity providers send before every
        // create) renders only the users of that name.
        let snapshot = scim.state.current();
        let estate = snapshot.compiler.estate();
        let named = filter.as_ref().and_then(user_name_equal);
        let matching: Vec<Value> = estate
            .users()
            .filter(|user| {
                named
                    .as_ref()
                    .is_none_or(|name| user.name.to_lowercase() == *name)
            })
            .map(|user| render_estate_user(&scim, estate, user, &base))
            .filter(|resource| {
                filter
                    .as_ref()
                    .is_none_or(|filter| filter.matches(resource))
            })
            .collect();
        return Ok(list_response(matching, start, count, &query));
    }
    let snapshot = scim.state.current();
    let estate = snapshot.compiler.estate();
    let matching: Vec<Value> = estate
        .groups()
        .iter()
        .map(|group| render_estate_group(estate, group, &base))
        .filter(|resource| {
            filter
                .as_ref()
                .is_none_or(|filter| filter.matches(resource))
        })
        .collect();
    Ok(list_response(matching, start, count, &query))
}

/// The lowercase name `filter` asks for when it is exactly `userName eq "…"`.
fn user_name_equal(filter: &super::filter::Filter) -> Option<String> {
    match filter {
        super::filter::Filter::Compare {
            path,
            operator: super::filter::Operator::Equal,
            value: Value::String(name),
        } if path.schema.is_none()
            && path.sub_attribute.is_none()
            && path.attribute.eq_ignore_ascii_case("userName") =>
        {
            Some(name.to_lowercase())
        }
        _ => None,
    }
}

/// One page of the matching resources, as a SCIM list response.
fn list_response(
    matching: Vec<Value>,
    start: usize,
    count: usize,
    query: &HashMap<String, String>,
) -> Response {
    let total_results = matching.len();
    let resources: Vec<Value> = matching
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|mut resource| {
            project(&mut resource, query);
            resource
        })
        .collect();
    json_body(&serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total_results,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
    .into_response()
}

async fn read(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    if kind == Kind::User {
        let snapshot = scim.state.current();
        let estate = snapshot.compiler.estate();
        let user = find_estate_user(estate, &id)?;
        let base = scim.base(&headers);
        return Ok(answer(
            StatusCode::OK,
            &render_estate_user(&scim, estate, user, &base),
        ));
    }
    let snapshot = scim.state.current();
    let estate = snapshot.compiler.estate();
    let group = &estate.groups()[find_group_index(estate.groups(), &id)?];
    Ok(answer(
        StatusCode::OK,
        &render_estate_group(estate, group, &scim.base(&headers)),
    ))
}

/// Refuses a `displayName` another group has, without regard to case.
fn check_unique_group(
    groups: &[GroupSpec],
    name: &str,
    except: Option<usize>,
) -> Result<(), ScimError> {
    let lowercase = name.to_lowercase();
    match groups
        .iter()
        .enumerate()
        .find(|(index, group)| Some(*index) != except && group.name.to_lowercase() == lowercase)
    {
        Some((_, taken)) => Err(ScimError::uniqueness(format!(
            "`displayName` `{name}` is taken by group `{}`",
            taken.name
        ))),
        None => Ok(()),
    }
}

fn check_schema(kind: Kind, body: &Value) -> Result<(), ScimError> {
    let core = match kind {
        Kind::User => schema::USER,
        Kind::Group => schema::GROUP,
    };
    let schemas = body.get("schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|schemas| {
        schemas.iter().any(|urn| {
            urn.as_str()
                .is_some_and(|urn| urn.eq_ignore_ascii_case(core))
        })
    }) {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            format!("the body's `schemas` must include `{core}`"),
        ));
    }
    Ok(())
}

async fn create(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let caller = scim.caller(&headers)?;
    let body = json(body)?;
    check_schema(kind, &body)?;
    let base = scim.base(&headers);
    if kind == Kind::User {
        let resource = write_user(&scim, &caller, &headers, None, |_| Ok(body), &base).await?;
        return Ok(answer(StatusCode::CREATED, &resource));
    }
    let resource = write_group(&scim, &caller, &headers, None, |_| Ok(body), &base).await?;
    Ok(answer(StatusCode::CREATED, &resource))
}

async fn replace(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ScimError> {
    let caller = scim.caller(&headers)?;
    let body = json(body)?;
    check_schema(kind, &body)?;
    let base = scim.base(&headers);
    if kind == Kind::User {
        let resource = write_user(&scim, &caller, &headers, Some(&id), |_| Ok(body), &base).await?;
        return Ok(answer(StatusCode::OK, &resource));
    }
    let resource = write_group(&scim, &caller, &headers, Some(&id), |_| Ok(body), &base).await?;
    Ok(answer(StatusCode::OK, &resource))
}

async fn modify(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ScimError> {
    let caller = scim.caller(&headers)?;
    let operations = patch::parse(&json(body)?)?;
    let base = scim.base(&headers);
    // The patch applies to the resource as rendered; read-only parts go back as they were.
    let patched = |current: Value| {
        let core = match kind {
            Kind::User => schema::USER,
            Kind::Group => schema::GROUP,
        };
        let mut patched = current;
        patch::apply(&mut patched, core, &operations)?;
        if let Some(members) = patched.as_object_mut() {
            members.remove("meta");
            if kind == Kind::User {
                members.remove("groups");
            }
        }
        Ok::<_, ScimError>(patched)
    };
    if kind == Kind::User {
        let resource = write_user(&scim, &caller, &headers, Some(&id), patched, &base).await?;
        return Ok(answer(StatusCode::OK, &resource));
    }
    let resource = write_group(&scim, &caller, &headers, Some(&id), patched, &base).await?;
    Ok(answer(StatusCode::OK, &resource))
}

async fn delete(
    kind: Kind,
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let caller = scim.caller(&headers)?;
    let base = scim.base(&headers);
    let deleted = if kind == Kind::User {
        scim.state
            .edit_users_with(&caller, false, |estate| {
                let user = find_estate_user(estate, &id)?;
                check_version(&headers, &render_estate_user(&scim, estate, user, &base))?;
                Ok::<_, ScimError>(vec![UserEdit::Remove(user.name.clone())])
            })
            .await
            .map(|_| ())
    } else {
        scim.state
            .edit_entities_with(&caller, false, |estate| {
                let groups = estate.groups();
                let group = &groups[find_group_index(groups, &id)?];
                check_version(&headers, &render_estate_group(estate, group, &base))?;
                let mut edits: Vec<Edit> = estate
                    .users()
                    .filter(|user| user.groups.contains(&group.name))
                    .map(|user| {
                        let mut user = user.clone();
                        user.groups.retain(|name| *name != group.name);
                        Edit::User(UserEdit::Put(user))
                    })
                    .collect();
                edits.push(Edit::RemoveGroup(group.name.clone()));
                Ok::<_, ScimError>(edits)
            })
            .await
            .map(|_| ())
    };
    match deleted {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // A user a project or policy names cannot go: the bundle would not validate.
        Err(error)
            if error.status == StatusCode::BAD_REQUEST
                && error.detail.starts_with("the change does not validate") =>
        {
            Err(ScimError {
                status: StatusCode::CONFLICT,
                scim_type: None,
                detail: format!(
                    "the {} is still referenced; deactivate it instead, or have an admin remove the references first: {}",
                    kind.noun(),
                    error.detail
                ),
            })
        }
        Err(error) => Err(error),
    }
}
