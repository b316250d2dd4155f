//! The schemas Veil serves (RFC 7643 §4, §8.7.1): the core User and Group and the enterprise
//! user extension, as one table that `/Schemas` renders and every incoming resource is checked
//! against, so an attribute Veil does not know is refused by name rather than dropped.

use serde_json::{Value, json};

use super::error::{ScimError, ScimType};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    WriteOnly,
}

#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Type,
    pub multi_valued: bool,
    pub mutability: Mutability,
    pub sub_attributes: &'static [Attribute],
}

const fn simple(name: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Type::String,
        multi_valued: false,
        mutability: Mutability::ReadWrite,
        sub_attributes: &[],
    }
}

const fn of(name: &'static str, kind: Type) -> Attribute {
    Attribute {
        kind,
        ..simple(name)
    }
}

const fn multi(name: &'static str, sub_attributes: &'static [Attribute]) -> Attribute {
    Attribute {
        kind: Type::Complex,
        multi_valued: true,
        sub_attributes,
        ..simple(name)
    }
}

/// The sub-attributes of most multi-valued attributes (`emails`, `phoneNumbers`, …).
const PLURAL: &[Attribute] = &[
    simple("value"),
    simple("display"),
    simple("type"),
    of("primary", Type::Boolean),
];

const MEMBER: &[Attribute] = &[
    simple("value"),
    of("$ref", Type::Reference),
    simple("display"),
    simple("type"),
];

pub const USER_ATTRIBUTES: &[Attribute] = &[
    simple("userName"),
    Attribute {
        kind: Type::Complex,
        sub_attributes: &[
            simple("formatted"),
            simple("familyName"),
            simple("givenName"),
            simple("middleName"),
            simple("honorificPrefix"),
            simple("honorificSuffix"),
        ],
        ..simple("name")
    },
    simple("displayName"),
    simple("nickName"),
    of("profileUrl", Type::Reference),
    simple("title"),
    simple("userType"),
    simple("preferredLanguage"),
    simple("locale"),
    simple("timezone"),
    of("active", Type::Boolean),
    Attribute {
        mutability: Mutability::WriteOnly,
        ..simple("password")
    },
    multi("emails", PLURAL),
    multi("phoneNumbers", PLURAL),
    multi("ims", PLURAL),
    multi("photos", PLURAL),
    multi(
        "addresses",
        &[
            simple("formatted"),
            simple("streetAddress"),
            simple("locality"),
            simple("region"),
            simple("postalCode"),
            simple("country"),
            simple("type"),
            of("primary", Type::Boolean),
        ],
    ),
    Attribute {
        mutability: Mutability::ReadOnly,
        ..multi("groups", MEMBER)
    },
    multi("entitlements", PLURAL),
    multi("roles", PLURAL),
    multi("x509Certificates", PLURAL),
];

pub const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    simple("employeeNumber"),
    simple("costCenter"),
    simple("organization"),
    simple("division"),
    simple("department"),
    Attribute {
        kind: Type::Complex,
        sub_attributes: &[
            simple("value"),
            of("$ref", Type::Reference),
            Attribute {
                mutability: Mutability::ReadOnly,
                ..simple("displayName")
            },
        ],
        ..simple("manager")
    },
];

pub const GROUP_ATTRIBUTES: &[Attribute] = &[simple("displayName"), multi("members", MEMBER)];

/// The attributes every resource has besides its schema's.
const COMMON: &[&str] = &["schemas", "id", "externalId", "meta"];

pub fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
}

/// The attributes of a schema URN (`None`: not one Veil serves).
pub fn attributes_of(urn: &str) -> Option<&'static [Attribute]> {
    [
        (USER, USER_ATTRIBUTES),
        (ENTERPRISE, ENTERPRISE_ATTRIBUTES),
        (GROUP, GROUP_ATTRIBUTES),
    ]
    .into_iter()
    .find(|(known, _)| known.eq_ignore_ascii_case(urn))
    .map(|(_, attributes)| attributes)
}

fn check_value(attribute: &Attribute, value: &Value, place: &str) -> Result<(), ScimError> {
    let wrong = |expected: &str| {
        Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("`{place}` must be {expected}"),
        ))
    };
    if value.is_null() {
        return Ok(());
    }
    if attribute.multi_valued {
        let Value::Array(values) = value else {
            return wrong("an array");
        };
        let single = Attribute {
            multi_valued: false,
            ..*attribute
        };
        for (index, value) in values.iter().enumerate() {
            check_value(&single, value, &format!("{place}[{index}]"))?;
        }
        return Ok(());
    }
    match attribute.kind {
        Type::String | Type::Reference if !value.is_string() => wrong("a string"),
        // Some clients send booleans as text (`"False"`); read as the boolean.
        Type::Boolean => match value {
            Value::Bool(_) => Ok(()),
            Value::String(text) if parse_bool(text).is_some() => Ok(()),
            _ => wrong("true or false"),
        },
        Type::Complex => {
            let Value::Object(members) = value else {
                return wrong("an object");
            };
            for (key, inner) in members {
                let Some(sub) = find(attribute.sub_attributes, key) else {
                    return Err(unknown(&format!("{place}.{key}")));
                };
                check_value(sub, inner, &format!("{place}.{key}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn unknown(place: &str) -> ScimError {
    ScimError::bad(
        ScimType::InvalidValue,
        format!("unknown attribute `{place}`"),
    )
}

/// Checks a resource body against its core schema (and, for users, the enterprise extension):
/// every attribute known, of the right shape.
pub fn check(core: &str, resource: &Value) -> Result<(), ScimError> {
    let Value::Object(members) = resource else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "the body must be a JSON object",
        ));
    };
    let attributes = attributes_of(core).expect("a served schema");
    for (key, value) in members {
        if COMMON.iter().any(|common| common.eq_ignore_ascii_case(key)) {
            continue;
        }
        if core == USER && key.eq_ignore_ascii_case(ENTERPRISE) {
            let Value::Object(extension) = value else {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("`{key}` must be an object"),
                ));
            };
            for (name, inner) in extension {
                let attribute = find(ENTERPRISE_ATTRIBUTES, name)
                    .ok_or_else(|| unknown(&format!("{ENTERPRISE}:{name}")))?;
                check_value(attribute, inner, &format!("{ENTERPRISE}:{name}"))?;
            }
            continue;
        }
        let attribute = find(attributes, key).ok_or_else(|| unknown(key))?;
        check_value(attribute, value, key)?;
    }
    if let Some(external_id) = members.get("externalId")
        && !(external_id.is_string() || external_id.is_null())
    {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            "`externalId` must be a string",
        ));
    }
    Ok(())
}

fn render_attribute(attribute: &Attribute) -> Value {
    let kind = match attribute.kind {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Reference => "reference",
        Type::Complex => "complex",
    };
    let mutability = match attribute.mutability {
        Mutability::ReadWrite => "readWrite",
        Mutability::ReadOnly => "readOnly",
        Mutability::WriteOnly => "writeOnly",
    };
    let mut rendered = json!({
        "name": attribute.name,
        "type": kind,
        "multiValued": attribute.multi_valued,
        "required": matches!(attribute.name, "userName") ,
        "caseExact": false,
        "mutability": mutability,
        "returned": if attribute.mutability == Mutability::WriteOnly { "never" } else { "default" },
        "uniqueness": if attribute.name == "userName" { "server" } else { "none" },
    });
    if !attribute.sub_attributes.is_empty() {
        rendered["subAttributes"] = attribute
            .sub_attributes
            .iter()
            .map(render_attribute)
            .collect();
    }
    rendered
}

/// The `/Schemas` resources.
pub fn schemas(base: &str) -> Vec<Value> {
    [
        (USER, "User", "User Account", USER_ATTRIBUTES),
        (GROUP, "Group", "Group", GROUP_ATTRIBUTES),
        (
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRIBUTES,
        ),
    ]
    .into_iter()
    .map(|(id, name, description, attributes)| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes.iter().map(render_attribute).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    })
    .collect()
}
