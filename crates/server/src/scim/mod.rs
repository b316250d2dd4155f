//! The SCIM 2.0 service provider (RFC 7643, RFC 7644) identity providers (Okta, Entra ID,
//! Keycloak) provision users and groups through, under `/scim/v2` on its own listener
//! (`--scim-listen`). Every change goes through the one write path, `State::change`, with the
//! token's caller; a SCIM token may change users and groups only (`authority`).
//!
//! `endpoints` answers `/Users` and `/Groups`; `resource` turns Veil's users and declared groups
//! into resources and back, through `mapping` (`--scim-mapping`); `filter` and `patch` are the
//! query and PATCH languages; `schema` the attributes served; `error` the error bodies;
//! `listen` the HTTPS listener.

mod endpoints;
mod error;
mod filter;
mod listen;
mod mapping;
mod patch;
mod resource;
mod schema;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::{Authenticator, Caller};
use crate::state::State;

pub use error::{ScimError, ScimType};
pub use listen::{serve_scim, tls_config};
pub use mapping::{DEFAULT as DEFAULT_MAPPING, Mapping, MappingError};

/// Where the service provider answers.
pub const BASE_PATH: &str = "/scim/v2";

/// The largest request body taken; larger ones get a 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The most resources one list answers with (`count` is capped to it).
pub const MAX_RESULTS: usize = 1000;

/// What every SCIM request needs.
#[derive(Clone)]
pub struct Scim {
    pub state: Arc<State>,
    pub authenticator: Authenticator,
    pub mapping: Arc<Mapping>,
    /// `https` or `http`, for `meta.location`.
    pub scheme: &'static str,
}

impl Scim {
    /// The caller a request's token names, if it may provision.
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ScimError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let caller = self
            .authenticator
            .authenticate_header(header)
            .map_err(|refusal| ScimError::status(StatusCode::UNAUTHORIZED, refusal.to_string()))?;
        if !caller.may_provision() {
            return Err(ScimError::status(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` may not use SCIM: only scim and admin tokens may",
                    caller.name
                ),
            ));
        }
        Ok(caller)
    }

    /// The base URL resources' `location`s start with, from the request's `Host`.
    fn base(&self, headers: &HeaderMap) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("localhost");
        format!("{}://{host}{BASE_PATH}", self.scheme)
    }
}

/// A JSON body as `application/scim+json`.
pub(crate) fn json_body(value: &Value) -> impl IntoResponse + use<> {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json"),
        )],
        value.to_string(),
    )
}

/// The router: every endpoint under [`BASE_PATH`], authenticated.
pub fn router(scim: Scim) -> Router {
    let routes = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_by_id))
        .merge(endpoints::routes())
        .fallback(not_found);
    Router::new()
        .nest(BASE_PATH, routes)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(scim)
}

async fn not_found() -> ScimError {
    ScimError::status(StatusCode::NOT_FOUND, "no such SCIM endpoint")
}

fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

async fn service_provider_config(
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    let base = scim.base(&headers);
    Ok(json_body(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token of role `scim` (or `admin`) from Veil's auth file",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    }))
    .into_response())
}

fn resource_type_list(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "schema": schema::USER,
            "schemaExtensions": [{"schema": schema::ENTERPRISE, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "schema": schema::GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

async fn resource_types(
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    Ok(json_body(&list_response(resource_type_list(&scim.base(&headers)))).into_response())
}

async fn resource_type(
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    resource_type_list(&scim.base(&headers))
        .into_iter()
        .find(|resource| resource["id"] == id.as_str())
        .map(|resource| json_body(&resource).into_response())
        .ok_or_else(|| ScimError::not_found("resource type", &id))
}

async fn schemas(Shared(scim): Shared<Scim>, headers: HeaderMap) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    Ok(json_body(&list_response(schema::schemas(&scim.base(&headers)))).into_response())
}

async fn schema_by_id(
    Shared(scim): Shared<Scim>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    scim.caller(&headers)?;
    schema::schemas(&scim.base(&headers))
        .into_iter()
        .find(|resource| resource["id"] == id.as_str())
        .map(|resource| json_body(&resource).into_response())
        .ok_or_else(|| ScimError::not_found("schema", &id))
}
