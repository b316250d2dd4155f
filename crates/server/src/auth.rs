//! Bearer-token authentication and roles. Tokens come from an auth file, are kept only as
//! SHA-256 digests, compared in constant time and never logged. The query path accepts plugin
//! (and admin) tokens; the admin path accepts the admin roles and each call checks its role.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::{Request, Status};
use veil_policy::glob_matches;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Policies, purposes and projects; reads everything.
    Governor,
    /// The data sources whose governed name matches `data_sources` and whose backing table
    /// matches `tables`, without lifting a policy from them; reads everything.
    Owner {
        data_sources: Vec<String>,
        tables: Vec<String>,
    },
    /// Reads only.
    Auditor,
    /// The query path (`PolicyDecision`) only.
    Plugin,
    /// An identity provider: users and groups over SCIM only, no gRPC.
    Scim,
}

/// Who made a call, as established by their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Role {
    /// What the role may change, as a refusal explains it.
    pub fn writes(&self) -> &'static str {
        match self {
            Role::Admin => "admins change everything",
            Role::Governor => "governors change policies, purposes and projects",
            Role::Owner { .. } => {
                "owners change the data sources whose names match their `data_sources`"
            }
            Role::Auditor => "auditors only read",
            Role::Plugin => "plugin tokens only use the query path",
            Role::Scim => "scim tokens change users and groups only",
        }
    }
}

impl Caller {
    /// The caller of changes the server makes itself, such as applying its policy file.
    pub fn operator(name: String) -> Caller {
        Caller {
            name,
            role: Role::Admin,
        }
    }

    pub fn may_read(&self) -> bool {
        !matches!(self.role, Role::Plugin | Role::Scim)
    }

    /// Whether the caller may use the SCIM service provider: identity providers and admins.
    pub fn may_provision(&self) -> bool {
        matches!(self.role, Role::Scim | Role::Admin)
    }

    /// Whether the caller may change this entity (kind as in `EntityKind::name`).
    pub fn may_write(&self, kind: veil_policy::EntityKind, name: &str) -> bool {
        use veil_policy::EntityKind::*;
        match &self.role {
            Role::Admin => true,
            Role::Governor => matches!(kind, Policy | Purpose | Project),
            Role::Owner { data_sources, .. } => {
                kind == DataSource && data_sources.iter().any(|glob| glob_matches(glob, name))
            }
            Role::Scim => matches!(kind, User | Group),
            Role::Auditor | Role::Plugin => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: String,
    /// The token itself, or…
    #[serde(default)]
    token: Option<String>,
    /// …its SHA-256 as lowercase hex.
    #[serde(default)]
    token_sha256: Option<String>,
    /// For owners: the governed names of the data sources they own…
    #[serde(default)]
    data_sources: Vec<String>,
    /// …and the backing tables (`catalog.schema.table` globs) those may point at.
    #[serde(default)]
    tables: Vec<String>,
}

struct Token {
    digest: [u8; 32],
    caller: Caller,
}

/// The configured tokens; `None` inside means authentication is off (development only).
#[derive(Clone)]
pub struct Authenticator {
    tokens: Option<Arc<Vec<Token>>>,
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Authenticator {
    pub fn disabled() -> Authenticator {
        Authenticator { tokens: None }
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Authenticator> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Authenticator::from_yaml(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<Authenticator> {
        let file: AuthFile = serde_norway::from_str(text)?;
        let mut tokens = Vec::new();
        for entry in file.tokens {
            let role = match entry.role.as_str() {
                "admin" => Role::Admin,
                "governor" => Role::Governor,
                "owner" => Role::Owner {
                    data_sources: entry.data_sources.clone(),
                    tables: entry.tables.clone(),
                },
                "auditor" => Role::Auditor,
                "plugin" => Role::Plugin,
                "scim" => Role::Scim,
                other => anyhow::bail!(
                    "token `{}`: unknown role `{other}` (admin, governor, owner, auditor, plugin, scim)",
                    entry.name
                ),
            };
            if entry.role != "owner" && !(entry.data_sources.is_empty() && entry.tables.is_empty())
            {
                anyhow::bail!(
                    "token `{}`: only owners have `data_sources` and `tables`",
                    entry.name
                );
            }
            let digest = match (&entry.token, &entry.token_sha256) {
                (Some(token), None) if token.len() >= 16 => digest(token.as_bytes()),
                (Some(_), None) => anyhow::bail!(
                    "token `{}`: a token needs at least 16 characters",
                    entry.name
                ),
                (None, Some(hex)) => parse_hex(hex).with_context(|| {
                    format!(
                        "token `{}`: `token_sha256` is not 64 hex digits",
                        entry.name
                    )
                })?,
                _ => anyhow::bail!(
                    "token `{}`: give exactly one of `token` and `token_sha256`",
                    entry.name
                ),
            };
            tokens.push(Token {
                digest,
                caller: Caller {
                    name: entry.name,
                    role,
                },
            });
        }
        Ok(Authenticator {
            tokens: Some(Arc::new(tokens)),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// The caller a request's bearer token names.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        self.authenticate_header(header)
            .map_err(|refusal| Status::unauthenticated(refusal.to_string()))
    }

    /// The caller an `Authorization` header's value (`Bearer <token>`) names, for HTTP
    /// listeners (SCIM) as for gRPC.
    pub fn authenticate_header(&self, header: Option<&str>) -> Result<Caller, Unauthenticated> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
            });
        };
        let presented = header
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(Unauthenticated::Missing)?;
        let presented = digest(presented.as_bytes());
        // Compare against every token, matched or not, so timing says nothing.
        let mut found = None;
        for token in tokens.iter() {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(&token.caller);
            }
        }
        found.cloned().ok_or(Unauthenticated::Unknown)
    }

    /// For `PolicyDecision`: plugins and admins only.
    pub fn plugin_interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let authenticator = self.clone();
        move |request: Request<()>| {
            let caller = authenticator.authenticate(&request)?;
            match caller.role {
                Role::Plugin | Role::Admin => Ok(request),
                _ => Err(Status::permission_denied(format!(
                    "`{}` may not use the query path",
                    caller.name
                ))),
            }
        }
    }

    /// For `PolicyAdmin`: any admin role; the caller rides along for per-call checks.
    pub fn admin_interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let authenticator = self.clone();
        move |mut request: Request<()>| {
            let caller = authenticator.authenticate(&request)?;
            if matches!(caller.role, Role::Plugin | Role::Scim) {
                return Err(Status::permission_denied(format!(
                    "`{}` is a {} token",
                    caller.name,
                    if caller.role == Role::Plugin {
                        "plugin"
                    } else {
                        "scim"
                    }
                )));
            }
            request.extensions_mut().insert(caller);
            Ok(request)
        }
    }
}

/// Why a request carries no known caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("a bearer token is required")]
    Missing,
    #[error("unknown token")]
    Unknown,
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "tokens:\n  - {name: trino, role: plugin, token: plugin-token-0123456789}\n  - {name: ops, role: admin, token_sha256: 0000000000000000000000000000000000000000000000000000000000000000}\n";

    fn request(token: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        request
    }

    #[test]
    fn tokens_name_callers() {
        let authenticator = Authenticator::from_yaml(FILE).unwrap();
        let caller = authenticator
            .authenticate(&request(Some("plugin-token-0123456789")))
            .unwrap();
        assert_eq!(caller.role, Role::Plugin);
        let code = |token| {
            authenticator
                .authenticate(&request(token))
                .unwrap_err()
                .code()
        };
        assert_eq!(
            code(Some("wrong-token-0123456789")),
            tonic::Code::Unauthenticated
        );
        assert_eq!(code(None), tonic::Code::Unauthenticated);
    }

    #[test]
    fn bad_files_are_refused() {
        for text in [
            "tokens: [{name: a, role: wizard, token: aaaaaaaaaaaaaaaaaaaa}]",
            "tokens: [{name: a, role: admin, token: short}]",
            "tokens: [{name: a, role: admin}]",
            "tokens: [{name: a, role: admin, token_sha256: zz}]",
            "tokens: [{name: a, role: admin, token: aaaaaaaaaaaaaaaaaaaa, data_sources: [x]}]",
        ] {
            assert!(Authenticator::from_yaml(text).is_err(), "{text}");
        }
    }

    #[test]
    fn roles_limit_writes() {
        use veil_policy::EntityKind::*;
        let owner = Caller {
            name: "o".into(),
            role: Role::Owner {
                data_sources: vec!["sales.*".into()],
                tables: vec!["tpch.tiny.*".into()],
            },
        };
        assert!(owner.may_write(DataSource, "sales.orders"));
        assert!(!owner.may_write(DataSource, "hr.people"));
        assert!(!owner.may_write(Policy, "p"));
        assert!(!owner.may_write(Settings, "settings"));
        let governor = Caller {
            name: "g".into(),
            role: Role::Governor,
        };
        assert!(governor.may_write(Policy, "p") && !governor.may_write(User, "u"));
        assert!(!governor.may_write(Settings, "settings"));
        let auditor = Caller {
            name: "a".into(),
            role: Role::Auditor,
        };
        assert!(auditor.may_read() && !auditor.may_write(Policy, "p"));
        let scim = Caller {
            name: "okta".into(),
            role: Role::Scim,
        };
        assert!(scim.may_write(User, "u") && scim.may_write(Group, "g"));
        assert!(!scim.may_write(Policy, "p") && !scim.may_write(Project, "p"));
        assert!(!scim.may_write(Settings, "settings") && !scim.may_write(DataSource, "s.t"));
        assert!(!scim.may_read() && scim.may_provision());
        assert!(!auditor.may_provision() && !governor.may_provision());
    }
}
