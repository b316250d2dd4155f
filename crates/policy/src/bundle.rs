//! A bundle: everything Veil knows, as plain serde data, exactly as a policy file (its YAML form)
//! holds it and `veil export` writes it back. Nothing here is validated; [`crate::Estate::new`]
//! turns it into a checked model.

use serde::{Deserialize, Serialize};

use crate::{Attributes, Condition};

/// A whole policy bundle: everything Veil knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_sources: Vec<DataSourceSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<PurposeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<ProjectSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicySpec>,
    #[serde(default, skip_serializing_if = "SettingsSpec::is_default")]
    pub settings: SettingsSpec,
}

/// Deployment-wide settings that shape every view, changed like any other entity (and
/// recorded in the history), so a change reaches every plugin at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    /// The id of the key the keyed mask functions use (`hash`); the key itself lives only in
    /// the Trino plugin's configuration. Absent: [`SettingsSpec::DEFAULT_MASK_KEY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_key: Option<String>,
}

impl SettingsSpec {
    pub const DEFAULT_MASK_KEY: &'static str = "default";

    pub fn is_default(&self) -> bool {
        *self == SettingsSpec::default()
    }

    pub fn mask_key(&self) -> &str {
        self.mask_key
            .as_deref()
            .unwrap_or(SettingsSpec::DEFAULT_MASK_KEY)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSourceSpec {
    /// `<schema>.<table>` inside the governed catalog.
    pub name: String,
    /// The backing `catalog.schema.table`.
    pub table: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub columns: Vec<ColumnSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// A deactivated user sees no data source, whatever the policies say (SCIM's
    /// `active: false`); the record stays so that reactivating restores it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deactivated: bool,
    /// How an identity provider knows the user, when one provisions it over SCIM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<Box<ScimSpec>>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A group declared for its own sake: its members are the users whose `groups` name it, and a
/// group need not be declared to be used. Declared, it exists with no members, and an identity
/// provider can provision it over SCIM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<Box<ScimSpec>>,
}

/// What a SCIM client knows a user or group by: the id Veil gave it, the client's own
/// `externalId`, and when it was created and last changed over SCIM (RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub created: String,
    pub last_modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl PolicySpec {
    /// A policy with a name and a kind and nothing else set, for code that builds policies.
    pub fn new(name: impl Into<String>, kind: PolicyKind) -> PolicySpec {
        PolicySpec {
            name: name.into(),
            kind,
            on: TargetSpec::default(),
            description: None,
            allow: None,
            for_condition: None,
            except_condition: None,
            when: None,
            method: None,
            reveal: None,
            value: None,
            pattern: None,
            replacement: None,
            digits: None,
            unit: None,
            keep_first: None,
            keep_last: None,
            mask_char: None,
            sql: None,
            probability: None,
            values: None,
            noise: None,
            k: None,
            quasi_identifiers: None,
            where_predicate: None,
            match_attribute: None,
            time_window: None,
            sample: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    Subscription,
    Mask,
    RowFilter,
}

impl PolicyKind {
    /// The kind as a policy file spells it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Subscription => "subscription",
            PolicyKind::Mask => "mask",
            PolicyKind::RowFilter => "row_filter",
        }
    }
}

/// What a policy is about: data sources by name glob or tag, and for masks the columns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_tags: Vec<String>,
}

/// One policy as written: every option of every kind sits flat beside `kind` and `method`,
/// so that a misplaced option is reported by name rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub name: String,
    pub kind: PolicyKind,
    #[serde(default)]
    pub on: TargetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Condition>,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_condition: Option<Condition>,
    #[serde(default, rename = "except", skip_serializing_if = "Option::is_none")]
    pub except_condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `reversible` only: who may turn the policy's tokens back into values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reveal: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_norway::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_first: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_char: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_norway::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quasi_identifiers: Option<Vec<String>>,
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_predicate: Option<String>,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_attribute: Option<MatchSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindowSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    pub column: String,
    pub attribute: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindowSpec {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    pub percent: f64,
    pub column: String,
}

/// YAML that does not parse into the expected shape: what, and on which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub line: Option<usize>,
    pub message: String,
}

/// Deserializes YAML straight into `T`, event by event, without a document tree in between: a
/// 21 MiB policy file parses in under 200 MiB instead of about 800. The parser's limits (aliases,
/// nesting) stay; the counts that grow with an honest file's size grow with the text.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = budget.max_events.max(text.len());
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(text.len());
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // YAML 1.2 booleans only, as serde_norway writes them: `n`, `no`, `off` stay strings, so a
    // constant `n` exported plain reads back as `n`, not `false`.
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options).map_err(|error| {
        let location = error.location();
        let mut message = error.without_snippet().to_string();
        // A value of the wrong type names the type it wanted, not the option: the key does.
        if message.starts_with("invalid")
            && let Some(key) = location.and_then(|location| {
                key_before(text, location.line() as usize, location.column() as usize)
            })
        {
            message = format!("`{key}`: {message}");
        }
        YamlError {
            line: location.map(|location| location.line() as usize),
            message,
        }
    })
}

/// The key whose value starts at `line`, `column` (both from 1) in a `key: value` pair.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let source = text.lines().nth(line.checked_sub(1)?)?;
    let before: String = source.chars().take(column.checked_sub(1)?).collect();
    let before = before.trim_end().strip_suffix(':')?;
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(before.len(), |(index, _)| index);
    let key = &before[start..];
    (!key.is_empty()).then(|| key.to_owned())
}

impl Bundle {
    /// Parses YAML text; syntax and shape errors carry their line.
    pub fn from_yaml(text: &str) -> Result<Bundle, YamlError> {
        if text.trim().is_empty() {
            return Ok(Bundle::default());
        }
        parse_yaml(text)
    }

    /// The bundle as a policy file that reads back to the same bundle. The one writer and the
    /// one reader disagree on some plain scalars (the writer leaves `1_0` unquoted, the reader
    /// takes it for the number 10): a mask's `value` or `values` text that would read back as
    /// something else is written with the tag `!str`, which the reader takes as text.
    pub fn to_yaml(&self) -> String {
        let mut tree = serde_norway::to_value(self).expect("a policy file always serializes");
        if let Some(policies) = tree
            .get_mut("policies")
            .and_then(serde_norway::Value::as_sequence_mut)
        {
            for policy in policies {
                if let Some(value) = policy.get_mut("value") {
                    keep_text(value);
                }
                if let Some(values) = policy
                    .get_mut("values")
                    .and_then(serde_norway::Value::as_sequence_mut)
                {
                    values.iter_mut().for_each(keep_text);
                }
            }
        }
        serde_norway::to_string(&tree).expect("a policy file always serializes")
    }
}

/// Tags a text scalar `!str` when the reader would not read it back as that text.
fn keep_text(value: &mut serde_norway::Value) {
    let serde_norway::Value::String(text) = value else {
        return;
    };
    let written = serde_norway::to_string(text).expect("a string serializes");
    let read = parse_yaml::<serde_norway::Value>(&written);
    if !matches!(&read, Ok(serde_norway::Value::String(back)) if back == text) {
        *value = serde_norway::Value::Tagged(Box::new(serde_norway::value::TaggedValue {
            tag: serde_norway::value::Tag::new("!str"),
            value: serde_norway::Value::String(std::mem::take(text)),
        }));
    }
}
