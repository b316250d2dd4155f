//! SCIM errors (RFC 7644 §3.12): an HTTP status, a `scimType` where the RFC defines one, and a
//! detail that says what and where, answered as `urn:ietf:params:scim:api:messages:2.0:Error`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::write::ChangeError;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType`s Veil answers with (RFC 7644 table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    InvalidSyntax,
    InvalidPath,
    InvalidValue,
    NoTarget,
    Uniqueness,
    Mutability,
    TooMany,
}

impl ScimType {
    pub fn name(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::InvalidValue => "invalidValue",
            ScimType::NoTarget => "noTarget",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::TooMany => "tooMany",
        }
    }
}

/// One refused SCIM request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    /// A 400 with its `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn status(status: StatusCode, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    pub fn not_found(resource: &str, id: &str) -> ScimError {
        ScimError::status(StatusCode::NOT_FOUND, format!("no {resource} `{id}`"))
    }

    pub fn uniqueness(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: StatusCode::CONFLICT,
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }

    /// The body, as RFC 7644 §3.12 spells it (`status` is a string).
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = scim_type.name().into();
        }
        body
    }
}

impl From<ChangeError> for ScimError {
    fn from(error: ChangeError) -> ScimError {
        match error {
            ChangeError::Invalid(errors) => ScimError::bad(
                ScimType::InvalidValue,
                format!("the change does not validate: {errors}"),
            ),
            ChangeError::Edit(error) => ScimError::bad(ScimType::InvalidValue, error.to_string()),
            ChangeError::Denied(message) => ScimError::status(StatusCode::FORBIDDEN, message),
            ChangeError::Store(error) => {
                tracing::error!(%error, "a SCIM change could not be stored");
                ScimError::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the change could not be stored",
                )
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut response = (self.status, super::json_body(&self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"veil-scim\""),
            );
        }
        response
    }
}
