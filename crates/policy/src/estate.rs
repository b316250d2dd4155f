//! The estate: a validated [`Bundle`] with the indexes the decision path needs, built once
//! per policy version and read-only afterwards.

use std::collections::{BTreeSet, HashSet};

/// Hash maps on the decision path: ahash is several times quicker than SipHash on short keys
/// and keeps its resistance to crafted collisions.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
use std::fmt;

use crate::bundle::{Bundle, PolicyKind, PolicySpec, UserSpec};
use crate::condition::Condition;
use crate::model::*;
use crate::tag::{deepest_match, glob_matches};
use crate::trino_type::TrinoType;

/// One problem in a policy bundle: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// 1-based line in the policy file, when known.
    pub line: Option<usize>,
    /// What the problem is in: ``policy `hash-pii` ``, ``data source `sales.customers` ``.
    pub context: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(formatter, "line {line}: ")?;
        }
        if !self.context.is_empty() {
            write!(formatter, "{}: ", self.context)?;
        }
        formatter.write_str(&self.message)
    }
}

/// Every problem found in a bundle; a bundle with any is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

/// The policies that bear on one data source, resolved once at load.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub subscriptions: Vec<PolicyId>,
    /// Per column, the masks that target it, best first by the conflict rules.
    pub masks: Vec<Vec<MaskCandidate>>,
    pub row_filters: Vec<PolicyId>,
}

/// A mask that targets a column, with what ranks it against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskCandidate {
    pub policy: PolicyId,
    /// The policy names the column (`columns:`) rather than reaching it by tag.
    pub names_column: bool,
    /// Segments of the deepest policy tag that matched the column's tags (0 for `columns:`).
    pub tag_depth: usize,
}

/// A validated policy bundle and its indexes.
#[derive(Debug, Clone)]
pub struct Estate {
    // INVARIANT: `file` is the bundle the other fields were built from, except that its data
    // sources live (parsed) in `data_sources` only, so that large estates are stored once.
    file: Bundle,
    pub data_sources: Vec<DataSource>,
    pub policies: Vec<Policy>,
    pub bindings: Vec<Bindings>,
    by_name: HashMap<String, HashMap<String, DataSourceId>>,
    /// User name → index in `file.users`, so users are stored once.
    users: HashMap<String, usize>,
    purposes: HashSet<String>,
    projects: HashMap<String, Project>,
}

impl Estate {
    /// Parses and validates YAML text; every error names its line where it can.
    pub fn from_yaml(text: &str) -> Result<Estate, LoadErrors> {
        let file = Bundle::from_yaml(text).map_err(|error| {
            LoadErrors(vec![LoadError {
                line: error.line,
                context: String::new(),
                message: error.message,
            }])
        })?;
        Estate::new(file, Some(text))
    }

    /// Validates a bundle and builds the indexes. `source` is the YAML it came from, used only
    /// to point errors at lines.
    pub fn new(file: Bundle, source: Option<&str>) -> Result<Estate, LoadErrors> {
        let mut checker = Checker {
            errors: Vec::new(),
            source,
        };
        let data_sources = checker.data_sources(&file);
        let users = checker.users(&file);
        let purposes = checker.purposes(&file);
        let projects = checker.projects(&file, &users, &purposes);
        let known = Known {
            data_sources: &data_sources,
            data_source_names: data_sources
                .iter()
                .map(|data_source| data_source.name.as_str())
                .collect(),
            users: &users,
            purposes: &purposes,
            tags: all_tags(&data_sources),
        };
        let policies = checker.policies(&file, &known);
        checker.settings(&file.settings);
        if !checker.errors.is_empty() {
            return Err(LoadErrors(checker.errors));
        }
        let mut by_name: HashMap<String, HashMap<String, DataSourceId>> = HashMap::default();
        for (id, data_source) in data_sources.iter().enumerate() {
            by_name
                .entry(data_source.schema.clone())
                .or_default()
                .insert(data_source.table.clone(), id);
        }
        let bindings = data_sources
            .iter()
            .map(|data_source| bind(data_source, &policies))
            .collect();
        let mut file = file;
        file.data_sources = Vec::new();
        Ok(Estate {
            file,
            data_sources,
            policies,
            bindings,
            by_name,
            users,
            purposes,
            projects,
        })
    }

    /// The bundle, for export: as written, with column types in Trino's canonical spelling.
    pub fn to_file(&self) -> Bundle {
        let mut file = self.file.clone();
        file.data_sources = self
            .data_sources
            .iter()
            .map(|data_source| crate::DataSourceSpec {
                name: data_source.name.clone(),
                table: data_source.backing.join("."),
                tags: data_source.tags.clone(),
                columns: data_source
                    .columns
                    .iter()
                    .map(|column| crate::ColumnSpec {
                        name: column.name.clone(),
                        data_type: column.data_type.to_string(),
                        tags: column.tags.clone(),
                        description: column.description.clone(),
                    })
                    .collect(),
                description: data_source.description.clone(),
            })
            .collect();
        file
    }

    pub fn data_source_id(&self, schema: &str, table: &str) -> Option<DataSourceId> {
        self.by_name.get(schema)?.get(table).copied()
    }

    pub fn user(&self, name: &str) -> Option<&UserSpec> {
        self.users.get(name).map(|&index| &self.file.users[index])
    }

    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.get(name)
    }

    pub fn projects(&self) -> impl Iterator<Item = &Project> {
        self.projects.values()
    }

    pub fn has_purpose(&self, name: &str) -> bool {
        self.purposes.contains(name)
    }

    pub fn settings(&self) -> &crate::SettingsSpec {
        &self.file.settings
    }
}

/// A key id as the Trino plugin's key ring names it; it reaches SQL only as an escaped literal.
fn is_key_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
}

/// Whether a policy's `on:` reaches a data source (ignoring columns).
pub fn targets_data_source(target: &crate::TargetSpec, data_source: &DataSource) -> bool {
    let by_name = target.data_sources.is_empty()
        || target
            .data_sources
            .iter()
            .any(|pattern| glob_matches(pattern, &data_source.name));
    let by_tag = target.tags.is_empty() || deepest_match(&target.tags, &data_source.tags).is_some();
    by_name && by_tag
}

fn bind(data_source: &DataSource, policies: &[Policy]) -> Bindings {
    let mut bindings = Bindings {
        masks: vec![Vec::new(); data_source.columns.len()],
        ..Bindings::default()
    };
    for (id, policy) in policies.iter().enumerate() {
        if !targets_data_source(&policy.target, data_source) {
            continue;
        }
        match &policy.rule {
            Rule::Subscription { .. } => bindings.subscriptions.push(id),
            Rule::RowFilter(_) => bindings.row_filters.push(id),
            Rule::Mask(_) => {
                for (index, column) in data_source.columns.iter().enumerate() {
                    let candidate = if policy
                        .target
                        .columns
                        .iter()
                        .any(|name| name.eq_ignore_ascii_case(&column.name))
                    {
                        Some(MaskCandidate {
                            policy: id,
                            names_column: true,
                            tag_depth: 0,
                        })
                    } else {
                        deepest_match(&policy.target.column_tags, &column.tags).map(|depth| {
                            MaskCandidate {
                                policy: id,
                                names_column: false,
                                tag_depth: depth,
                            }
                        })
                    };
                    bindings.masks[index].extend(candidate);
                }
            }
        }
    }
    for candidates in &mut bindings.masks {
        candidates.sort_by(|a, b| compare_candidates(policies, a, b));
    }
    bindings
}

/// The conflict rules: named column > deepest tag > more restrictive method > policy name.
pub fn compare_candidates(
    policies: &[Policy],
    a: &MaskCandidate,
    b: &MaskCandidate,
) -> std::cmp::Ordering {
    let restrictiveness = |candidate: &MaskCandidate| match &policies[candidate.policy].rule {
        Rule::Mask(mask) => mask.method.restrictiveness(),
        _ => 0,
    };
    b.names_column
        .cmp(&a.names_column)
        .then(b.tag_depth.cmp(&a.tag_depth))
        .then(restrictiveness(b).cmp(&restrictiveness(a)))
        .then_with(|| policies[a.policy].name.cmp(&policies[b.policy].name))
}

fn all_tags(data_sources: &[DataSource]) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for data_source in data_sources {
        tags.extend(data_source.tags.iter().cloned());
        for column in &data_source.columns {
            tags.extend(column.tags.iter().cloned());
        }
    }
    tags
}

struct Known<'a> {
    data_sources: &'a [DataSource],
    data_source_names: HashSet<&'a str>,
    users: &'a HashMap<String, usize>,
    purposes: &'a HashSet<String>,
    tags: BTreeSet<String>,
}

impl Known<'_> {
    /// A policy tag is known when some data source or column carries it or a tag under it.
    fn has_tag(&self, policy_tag: &str) -> bool {
        self.tags
            .iter()
            .any(|tag| crate::tag::match_depth(policy_tag, tag).is_some())
    }
}

struct Checker<'s> {
    errors: Vec<LoadError>,
    source: Option<&'s str>,
}

impl Checker<'_> {
    fn error(&mut self, section: &str, kind: &str, name: &str, message: String) {
        self.errors.push(LoadError {
            line: self
                .source
                .and_then(|source| locate_line(source, section, name)),
            context: format!("{kind} `{name}`"),
            message,
        });
    }

    fn data_sources(&mut self, file: &Bundle) -> Vec<DataSource> {
        let mut seen = HashSet::new();
        let mut data_sources = Vec::new();
        for spec in &file.data_sources {
            let error_count = self.errors.len();
            let report = |checker: &mut Self, message: String| {
                checker.error("data_sources", "data source", &spec.name, message)
            };
            if !seen.insert(spec.name.as_str()) {
                report(self, "duplicate data source name".to_owned());
            }
            let name_parts: Vec<&str> = spec.name.split('.').collect();
            if name_parts.len() != 2 || name_parts.iter().any(|part| part.is_empty()) {
                report(self, "a data source name is `<schema>.<table>`".to_owned());
            } else if spec.name.chars().any(|character| character.is_uppercase()) {
                report(
                    self,
                    "a data source name must be lowercase: Trino lowercases the names users type"
                        .to_owned(),
                );
            }
            let backing: Vec<&str> = spec.table.split('.').collect();
            if backing.len() != 3 || backing.iter().any(|part| part.is_empty()) {
                report(
                    self,
                    format!(
                        "backing table `{}` is not `catalog.schema.table`",
                        spec.table
                    ),
                );
            }
            if spec.columns.is_empty() {
                report(self, "a data source needs at least one column".to_owned());
            }
            let mut columns = Vec::new();
            let mut column_names = HashSet::new();
            for column in &spec.columns {
                if column.name.is_empty() {
                    report(self, "a column has an empty name".to_owned());
                }
                if !column_names.insert(column.name.to_lowercase()) {
                    report(self, format!("duplicate column `{}`", column.name));
                }
                match TrinoType::parse(&column.data_type) {
                    Ok(data_type) => columns.push(Column {
                        name: column.name.clone(),
                        data_type,
                        tags: column.tags.clone(),
                        description: column.description.clone(),
                    }),
                    Err(error) => report(self, format!("column `{}`: {error}", column.name)),
                }
            }
            if self.errors.len() == error_count {
                data_sources.push(DataSource {
                    name: spec.name.clone(),
                    schema: name_parts[0].to_owned(),
                    table: name_parts[1].to_owned(),
                    backing: [
                        backing[0].to_owned(),
                        backing[1].to_owned(),
                        backing[2].to_owned(),
                    ],
                    tags: spec.tags.clone(),
                    columns,
                    description: spec.description.clone(),
                });
            }
        }
        data_sources
    }

    fn settings(&mut self, settings: &crate::SettingsSpec) {
        if let Some(key) = &settings.mask_key
            && !is_key_id(key)
        {
            self.errors.push(LoadError {
                line: self.source.and_then(|source| {
                    source
                        .lines()
                        .position(|line| line.contains("mask_key"))
                        .map(|index| index + 1)
                }),
                context: "settings".to_owned(),
                message: format!(
                    "`mask_key` `{key}` is not a key id (1 to 64 of `A-Z a-z 0-9 _ . -`)"
                ),
            });
        }
    }

    fn users(&mut self, file: &Bundle) -> HashMap<String, usize> {
        let mut users =
            HashMap::with_capacity_and_hasher(file.users.len(), ahash::RandomState::new());
        for (index, spec) in file.users.iter().enumerate() {
            if spec.name.is_empty() {
                self.error("users", "user", "", "a user has an empty name".to_owned());
            }
            if users.insert(spec.name.clone(), index).is_some() {
                self.error(
                    "users",
                    "user",
                    &spec.name,
                    "duplicate user name".to_owned(),
                );
            }
        }
        users
    }

    fn purposes(&mut self, file: &Bundle) -> HashSet<String> {
        let mut purposes = HashSet::new();
        for spec in &file.purposes {
            if !purposes.insert(spec.name.clone()) {
                self.error(
                    "purposes",
                    "purpose",
                    &spec.name,
                    "duplicate purpose name".to_owned(),
                );
            }
        }
        purposes
    }

    fn projects(
        &mut self,
        file: &Bundle,
        users: &HashMap<String, usize>,
        purposes: &HashSet<String>,
    ) -> HashMap<String, Project> {
        let mut projects = HashMap::default();
        for spec in &file.projects {
            for purpose in &spec.purposes {
                if !purposes.contains(purpose) {
                    self.error(
                        "projects",
                        "project",
                        &spec.name,
                        format!("unknown purpose `{purpose}`"),
                    );
                }
            }
            for member in &spec.members {
                if !users.contains_key(member) {
                    self.error(
                        "projects",
                        "project",
                        &spec.name,
                        format!("unknown user `{member}`"),
                    );
                }
            }
            let project = Project {
                name: spec.name.clone(),
                purposes: spec.purposes.clone(),
                members: spec.members.iter().cloned().collect(),
            };
            if projects.insert(spec.name.clone(), project).is_some() {
                self.error(
                    "projects",
                    "project",
                    &spec.name,
                    "duplicate project name".to_owned(),
                );
            }
        }
        projects
    }

    fn policies(&mut self, file: &Bundle, known: &Known<'_>) -> Vec<Policy> {
        let mut seen = HashSet::new();
        let mut policies = Vec::new();
        for spec in &file.policies {
            let mut problems = Vec::new();
            if spec.name.is_empty() {
                problems.push("a policy has an empty name".to_owned());
            }
            if !seen.insert(spec.name.as_str()) {
                problems.push("duplicate policy name".to_owned());
            }
            let rule = check_policy(spec, known, &mut problems);
            if problems.is_empty()
                && let Some(rule) = rule
            {
                policies.push(Policy {
                    name: spec.name.clone(),
                    target: spec.on.clone(),
                    rule,
                });
            }
            for problem in problems {
                self.error("policies", "policy", &spec.name, problem);
            }
        }
        policies
    }
}

fn check_policy(spec: &PolicySpec, known: &Known<'_>, problems: &mut Vec<String>) -> Option<Rule> {
    check_target(spec, known, problems);
    for condition in [&spec.allow, &spec.for_condition, &spec.except_condition]
        .into_iter()
        .flatten()
    {
        check_condition(condition, known, problems);
    }
    // Options that belong to another kind or method are errors, never silently ignored.
    let options = [
        ("allow", spec.allow.is_some()),
        ("for", spec.for_condition.is_some()),
        ("except", spec.except_condition.is_some()),
        ("when", spec.when.is_some()),
        ("method", spec.method.is_some()),
        ("value", spec.value.is_some()),
        ("pattern", spec.pattern.is_some()),
        ("replacement", spec.replacement.is_some()),
        ("digits", spec.digits.is_some()),
        ("unit", spec.unit.is_some()),
        ("keep_first", spec.keep_first.is_some()),
        ("keep_last", spec.keep_last.is_some()),
        ("mask_char", spec.mask_char.is_some()),
        ("sql", spec.sql.is_some()),
        ("where", spec.where_predicate.is_some()),
        ("match", spec.match_attribute.is_some()),
        ("time_window", spec.time_window.is_some()),
        ("sample", spec.sample.is_some()),
    ];
    let present = options
        .iter()
        .filter(|(_, is_present)| *is_present)
        .map(|(option, _)| *option);
    let audience = Audience {
        for_condition: spec.for_condition.clone().unwrap_or(Condition::Everyone),
        except_condition: spec.except_condition.clone(),
    };
    let allowed: &[&str];
    let rule = match spec.kind {
        PolicyKind::Subscription => {
            allowed = &["allow"];
            if !spec.on.columns.is_empty() || !spec.on.column_tags.is_empty() {
                problems.push("a subscription targets data sources, not columns".to_owned());
            }
            match &spec.allow {
                Some(allow) => Some(Rule::Subscription {
                    allow: allow.clone(),
                }),
                None => {
                    problems.push("a subscription needs `allow`".to_owned());
                    None
                }
            }
        }
        PolicyKind::Mask => {
            let (method, method_options) = check_method(spec, problems);
            allowed = method_options;
            match (spec.on.columns.is_empty(), spec.on.column_tags.is_empty()) {
                (true, true) => {
                    problems.push("a mask needs `columns` or `column_tags` in `on`".to_owned())
                }
                (false, false) => {
                    problems.push("a mask targets `columns` or `column_tags`, not both".to_owned())
                }
                _ => {}
            }
            method.map(|method| {
                Rule::Mask(Mask {
                    audience: audience.clone(),
                    method,
                    when: spec.when.clone(),
                })
            })
        }
        PolicyKind::RowFilter => {
            if !spec.on.columns.is_empty() || !spec.on.column_tags.is_empty() {
                problems.push("a row filter targets data sources, not columns".to_owned());
            }
            let (predicate, options) = check_row_predicate(spec, known, problems);
            allowed = options;
            predicate.map(|predicate| {
                Rule::RowFilter(RowFilter {
                    audience: audience.clone(),
                    predicate,
                })
            })
        }
    };
    let kind_name = match spec.kind {
        PolicyKind::Subscription => "subscription",
        PolicyKind::Mask => "mask",
        PolicyKind::RowFilter => "row_filter",
    };
    for option in present {
        let common = matches!(option, "for" | "except") && spec.kind != PolicyKind::Subscription;
        let mask_common = matches!(option, "when" | "method") && spec.kind == PolicyKind::Mask;
        if !(common || mask_common || allowed.contains(&option)) {
            let fits = match (spec.kind, &spec.method) {
                (PolicyKind::Mask, Some(method)) => format!("method `{method}`"),
                _ => format!("a {kind_name} policy"),
            };
            problems.push(format!("option `{option}` does not fit {fits}"));
        }
    }
    rule
}

fn check_target(spec: &PolicySpec, known: &Known<'_>, problems: &mut Vec<String>) {
    for pattern in &spec.on.data_sources {
        let is_glob = pattern.contains(['*', '?']);
        if !is_glob && !known.data_source_names.contains(pattern.as_str()) {
            problems.push(format!("unknown data source `{pattern}`"));
        }
    }
    for tag in spec.on.tags.iter().chain(&spec.on.column_tags) {
        if !known.has_tag(tag) {
            problems.push(format!("unknown tag `{tag}`"));
        }
    }
    if spec.on.columns.is_empty() {
        return;
    }
    let targeted: Vec<&DataSource> = known
        .data_sources
        .iter()
        .filter(|data_source| targets_data_source(&spec.on, data_source))
        .collect();
    for column in &spec.on.columns {
        if !targeted
            .iter()
            .any(|data_source| data_source.column(column).is_some())
        {
            problems.push(format!("unknown column `{column}`"));
        }
    }
}

fn check_condition(condition: &Condition, known: &Known<'_>, problems: &mut Vec<String>) {
    condition.visit(&mut |inner| match inner {
        Condition::Users(users) => {
            for user in users {
                if !known.users.contains_key(user) {
                    problems.push(format!("unknown user `{user}`"));
                }
            }
        }
        Condition::Purposes(purposes) => {
            for purpose in purposes {
                if !known.purposes.contains(purpose) {
                    problems.push(format!("unknown purpose `{purpose}`"));
                }
            }
        }
        _ => {}
    });
}

fn check_method(
    spec: &PolicySpec,
    problems: &mut Vec<String>,
) -> (Option<MaskMethod>, &'static [&'static str]) {
    let Some(method) = spec.method.as_deref() else {
        problems.push("a mask needs `method`".to_owned());
        return (None, &[]);
    };
    let mut require = |option: &str, value: Option<String>| {
        if value.is_none() {
            problems.push(format!("method `{method}` needs `{option}`"));
        }
        value
    };
    match method {
        "hash" => (Some(MaskMethod::Hash), &[]),
        "nullify" => (Some(MaskMethod::Nullify), &[]),
        "constant" => {
            let value = match &spec.value {
                None => None,
                Some(serde_norway::Value::String(text)) => Some(text.clone()),
                Some(serde_norway::Value::Number(number)) => Some(number.to_string()),
                Some(serde_norway::Value::Bool(flag)) => Some(flag.to_string()),
                Some(_) => {
                    problems.push("`value` must be a string, number or boolean".to_owned());
                    return (None, &["value"]);
                }
            };
            let value = require("value", value);
            (
                value.map(|value| MaskMethod::Constant { value }),
                &["value"],
            )
        }
        "regex" => {
            let pattern = require("pattern", spec.pattern.clone());
            let replacement = require("replacement", spec.replacement.clone());
            let method = pattern
                .zip(replacement)
                .map(|(pattern, replacement)| MaskMethod::Regex {
                    pattern,
                    replacement,
                });
            (method, &["pattern", "replacement"])
        }
        "round" => {
            let method = match (spec.digits, spec.unit.as_deref()) {
                (Some(digits), None) => Some(MaskMethod::RoundDigits { digits }),
                (None, Some(unit)) => match TimeUnit::ALL.iter().find(|known| known.name() == unit)
                {
                    Some(&unit) => Some(MaskMethod::RoundUnit { unit }),
                    None => {
                        problems.push(format!(
                            "unknown unit `{unit}` (one of year, quarter, month, week, day, hour, minute)"
                        ));
                        None
                    }
                },
                _ => {
                    problems
                        .push("method `round` needs exactly one of `digits` and `unit`".to_owned());
                    None
                }
            };
            (method, &["digits", "unit"])
        }
        "partial" => {
            let mask_char = match spec.mask_char.as_deref() {
                None => Some('*'),
                Some(text) => {
                    let mut characters = text.chars();
                    match (characters.next(), characters.next()) {
                        (Some(character), None) => Some(character),
                        _ => {
                            problems
                                .push(format!("`mask_char` must be one character, not `{text}`"));
                            None
                        }
                    }
                }
            };
            if spec.keep_first.is_none() && spec.keep_last.is_none() {
                problems.push("method `partial` needs `keep_last` or `keep_first`".to_owned());
            }
            let method = mask_char.map(|mask_char| MaskMethod::Partial {
                keep_first: spec.keep_first.unwrap_or(0),
                keep_last: spec.keep_last.unwrap_or(0),
                mask_char,
            });
            (method, &["keep_first", "keep_last", "mask_char"])
        }
        "expression" => {
            let sql = require("sql", spec.sql.clone());
            (sql.map(|sql| MaskMethod::Expression { sql }), &["sql"])
        }
        other => {
            problems.push(format!(
                "unknown method `{other}` (one of hash, nullify, constant, regex, round, partial, expression)"
            ));
            (None, &[])
        }
    }
}

fn check_row_predicate(
    spec: &PolicySpec,
    known: &Known<'_>,
    problems: &mut Vec<String>,
) -> (Option<RowPredicate>, &'static [&'static str]) {
    let allowed: &'static [&'static str] = &["where", "match", "time_window", "sample"];
    let given = [
        spec.where_predicate.is_some(),
        spec.match_attribute.is_some(),
        spec.time_window.is_some(),
        spec.sample.is_some(),
    ]
    .iter()
    .filter(|present| **present)
    .count();
    if given != 1 {
        problems.push(
            "a row filter needs exactly one of `where`, `match`, `time_window` and `sample`"
                .to_owned(),
        );
        return (None, allowed);
    }
    let targeted: Vec<&DataSource> = known
        .data_sources
        .iter()
        .filter(|data_source| targets_data_source(&spec.on, data_source))
        .collect();
    let check_column = |column: &str, problems: &mut Vec<String>, temporal: bool| {
        for data_source in &targeted {
            match data_source.column(column) {
                None => problems.push(format!(
                    "unknown column `{column}` in data source `{}`",
                    data_source.name
                )),
                Some(found) if temporal => {
                    use crate::TypeFamily::{Date, Timestamp};
                    if !matches!(found.data_type.family(), Date | Timestamp) {
                        problems.push(format!(
                            "column `{column}` in data source `{}` is `{}`, not a date or timestamp",
                            data_source.name, found.data_type
                        ));
                    }
                }
                Some(_) => {}
            }
        }
    };
    let predicate = if let Some(sql) = &spec.where_predicate {
        Some(RowPredicate::Where { sql: sql.clone() })
    } else if let Some(matching) = &spec.match_attribute {
        check_column(&matching.column, problems, false);
        Some(RowPredicate::Match {
            column: matching.column.clone(),
            attribute: matching.attribute.clone(),
        })
    } else if let Some(window) = &spec.time_window {
        check_column(&window.column, problems, true);
        let units = [
            (window.days, WindowUnit::Day),
            (window.hours, WindowUnit::Hour),
            (window.minutes, WindowUnit::Minute),
        ];
        let mut given = units
            .iter()
            .filter_map(|(amount, unit)| amount.map(|amount| (amount, *unit)));
        match (given.next(), given.next()) {
            (Some((amount, unit)), None) if amount > 0 => Some(RowPredicate::TimeWindow {
                column: window.column.clone(),
                amount,
                unit,
            }),
            _ => {
                problems.push(
                    "`time_window` needs exactly one positive `days`, `hours` or `minutes`"
                        .to_owned(),
                );
                None
            }
        }
    } else if let Some(sample) = &spec.sample {
        check_column(&sample.column, problems, false);
        if !(sample.percent > 0.0 && sample.percent <= 100.0) {
            problems.push(format!(
                "`sample.percent` must be above 0 and at most 100, not {}",
                sample.percent
            ));
            None
        } else {
            Some(RowPredicate::Sample {
                percent: sample.percent,
                column: sample.column.clone(),
            })
        }
    } else {
        None
    };
    (predicate, allowed)
}

/// The 1-based line where `name: <name>` first appears inside a top-level `section:`.
pub fn locate_line(source: &str, section: &str, name: &str) -> Option<usize> {
    let mut inside = false;
    for (index, line) in source.lines().enumerate() {
        if !line.starts_with([' ', '\t', '-', '#']) && !line.is_empty() {
            inside = line.trim_end().strip_suffix(':') == Some(section)
                || line.starts_with(&format!("{section}:"));
        }
        if inside && line_names(line, name) {
            return Some(index + 1);
        }
    }
    None
}

fn line_names(line: &str, name: &str) -> bool {
    let mut rest = line;
    while let Some(position) = rest.find("name:") {
        let after = rest[position + 5..].trim_start();
        let value = after.strip_prefix(['\'', '"']).unwrap_or(after);
        if let Some(tail) = value.strip_prefix(name)
            && (tail.is_empty() || tail.starts_with([',', '}', ' ', '\'', '"']))
        {
            return true;
        }
        rest = &rest[position + 5..];
    }
    false
}
