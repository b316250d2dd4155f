//! Validation: every check [`crate::Estate::new`] makes of a bundle, turning its specs into the
//! checked model and reporting every problem at once, each in its entity.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::bundle::{Bundle, SettingsSpec};
use crate::change::EntityKind;
use crate::error::{Entity, LoadError, LoadProblem};
use crate::estate::HashMap;
use crate::model::{Column, DataSource, Policy, Project};
use crate::trino_type::TrinoType;
use crate::validate_policy::{Known, check_policy};

/// A bundle's entities, checked.
pub(crate) struct Validated {
    pub data_sources: Vec<Arc<DataSource>>,
    pub purposes: HashSet<String>,
    pub projects: HashMap<String, Project>,
    pub policies: Vec<Policy>,
    /// Every tag the data sources and their columns carry, with how many carry it.
    pub tags: BTreeMap<String, usize>,
}

/// Checks every entity of `file`; any problem refuses the whole bundle. The errors carry no
/// line: [`crate::LoadErrors::locate`] finds them in the text.
pub(crate) fn validate(file: &Bundle) -> Result<Validated, Vec<LoadError>> {
    let mut checker = Checker { errors: Vec::new() };
    let data_sources = checker.data_sources(file);
    let users = checker.users(file);
    checker.groups(file);
    let purposes = checker.purposes(file);
    let projects = checker.projects(file, &users, &purposes);
    let mut tags = BTreeMap::new();
    for data_source in &data_sources {
        count_tags(&mut tags, data_source, 1);
    }
    let names: HashSet<&str> = data_sources
        .iter()
        .map(|data_source| data_source.name.as_str())
        .collect();
    let known = Known {
        data_sources: &data_sources,
        has_data_source: &|name| names.contains(name),
        is_user: &|name| users.contains_key(name),
        purposes: &purposes,
        tags: &tags,
    };
    let policies = checker.policies(file, &known);
    checker.settings(&file.settings);
    if !checker.errors.is_empty() {
        return Err(checker.errors);
    }
    Ok(Validated {
        data_sources,
        purposes,
        projects,
        policies,
        tags,
    })
}

/// Adds `by` (1, or -1 to take it away) to the count of every tag `data_source` and its
/// columns carry; a count that reaches 0 leaves the map.
pub(crate) fn count_tags(tags: &mut BTreeMap<String, usize>, data_source: &DataSource, by: isize) {
    let carried = data_source
        .tags
        .iter()
        .chain(data_source.columns.iter().flat_map(|column| &column.tags));
    for tag in carried {
        if by > 0 {
            *tags.entry(tag.clone()).or_default() += 1;
        } else if let Some(count) = tags.get_mut(tag) {
            *count -= 1;
            if *count == 0 {
                tags.remove(tag);
            }
        }
    }
}

/// One data source checked alone (all its own problems reported), as [`validate`] checks each.
pub(crate) fn check_data_source(
    spec: &crate::DataSourceSpec,
) -> Result<DataSource, Vec<LoadError>> {
    let mut checker = Checker { errors: Vec::new() };
    match checker.data_source(spec) {
        Some(data_source) if checker.errors.is_empty() => Ok(data_source),
        _ => Err(checker.errors),
    }
}

/// A key id as the Trino plugin's key ring names it; it reaches SQL only as an escaped literal.
fn is_key_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
}

struct Checker {
    errors: Vec<LoadError>,
}

impl Checker {
    fn error(&mut self, kind: EntityKind, name: &str, problem: LoadProblem) {
        self.errors.push(LoadError {
            line: None,
            entity: Some(Entity::new(kind, name)),
            problem,
        });
    }

    fn data_sources(&mut self, file: &Bundle) -> Vec<Arc<DataSource>> {
        let mut seen = HashSet::new();
        let mut data_sources = Vec::with_capacity(file.data_sources.len());
        for spec in &file.data_sources {
            let error_count = self.errors.len();
            if !seen.insert(spec.name.as_str()) {
                self.error(
                    EntityKind::DataSource,
                    &spec.name,
                    LoadProblem::DuplicateName {
                        kind: EntityKind::DataSource,
                    },
                );
            }
            let data_source = self.data_source(spec);
            if self.errors.len() == error_count
                && let Some(data_source) = data_source
            {
                data_sources.push(Arc::new(data_source));
            }
        }
        data_sources
    }

    /// The checks of one data source but for the uniqueness of its name; `None` when any
    /// failed.
    fn data_source(&mut self, spec: &crate::DataSourceSpec) -> Option<DataSource> {
        {
            let error_count = self.errors.len();
            let report = |checker: &mut Self, problem: LoadProblem| {
                checker.error(EntityKind::DataSource, &spec.name, problem)
            };
            let name_parts: Vec<&str> = spec.name.split('.').collect();
            if name_parts.len() != 2 || name_parts.iter().any(|part| part.is_empty()) {
                report(self, LoadProblem::DataSourceNameNotSchemaTable);
            } else if spec.name.chars().any(|character| character.is_uppercase()) {
                report(self, LoadProblem::DataSourceNameNotLowercase);
            }
            let backing: Vec<&str> = spec.table.split('.').collect();
            if backing.len() != 3 || backing.iter().any(|part| part.is_empty()) {
                report(
                    self,
                    LoadProblem::BackingTableNotCatalogSchemaTable {
                        table: spec.table.clone(),
                    },
                );
            }
            if spec.columns.is_empty() {
                report(self, LoadProblem::NoColumns);
            }
            let mut columns = Vec::with_capacity(spec.columns.len());
            let mut column_names = HashSet::new();
            for column in &spec.columns {
                if column.name.is_empty() {
                    report(self, LoadProblem::EmptyColumnName);
                }
                if !column_names.insert(column.name.to_lowercase()) {
                    report(
                        self,
                        LoadProblem::DuplicateColumn {
                            column: column.name.clone(),
                        },
                    );
                }
                match TrinoType::parse(&column.data_type) {
                    Ok(data_type) => columns.push(Column {
                        name: column.name.clone(),
                        data_type,
                        tags: column.tags.clone(),
                        description: column.description.clone(),
                    }),
                    Err(error) => report(
                        self,
                        LoadProblem::BadColumnType {
                            column: column.name.clone(),
                            error,
                        },
                    ),
                }
            }
            if self.errors.len() == error_count {
                Some(DataSource {
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
                })
            } else {
                None
            }
        }
    }

    fn users(&mut self, file: &Bundle) -> HashMap<String, usize> {
        let mut users =
            HashMap::with_capacity_and_hasher(file.users.len(), ahash::RandomState::new());
        for (index, spec) in file.users.iter().enumerate() {
            if spec.name.is_empty() {
                self.error(
                    EntityKind::User,
                    "",
                    LoadProblem::EmptyName {
                        kind: EntityKind::User,
                    },
                );
            }
            if users.insert(spec.name.clone(), index).is_some() {
                self.error(
                    EntityKind::User,
                    &spec.name,
                    LoadProblem::DuplicateName {
                        kind: EntityKind::User,
                    },
                );
            }
        }
        users
    }

    /// Declared groups: named, once each.
    fn groups(&mut self, file: &Bundle) {
        let mut groups = HashSet::new();
        for spec in &file.groups {
            let problem = if spec.name.is_empty() {
                LoadProblem::EmptyName {
                    kind: EntityKind::Group,
                }
            } else if !groups.insert(spec.name.as_str()) {
                LoadProblem::DuplicateName {
                    kind: EntityKind::Group,
                }
            } else {
                continue;
            };
            self.error(EntityKind::Group, &spec.name, problem);
        }
    }

    fn purposes(&mut self, file: &Bundle) -> HashSet<String> {
        let mut purposes = HashSet::new();
        for spec in &file.purposes {
            if !purposes.insert(spec.name.clone()) {
                self.error(
                    EntityKind::Purpose,
                    &spec.name,
                    LoadProblem::DuplicateName {
                        kind: EntityKind::Purpose,
                    },
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
                        EntityKind::Project,
                        &spec.name,
                        LoadProblem::UnknownPurpose {
                            purpose: purpose.clone(),
                        },
                    );
                }
            }
            for member in &spec.members {
                if !users.contains_key(member) {
                    self.error(
                        EntityKind::Project,
                        &spec.name,
                        LoadProblem::UnknownUser {
                            user: member.clone(),
                        },
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
                    EntityKind::Project,
                    &spec.name,
                    LoadProblem::DuplicateName {
                        kind: EntityKind::Project,
                    },
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
                problems.push(LoadProblem::EmptyName {
                    kind: EntityKind::Policy,
                });
            }
            if !seen.insert(spec.name.as_str()) {
                problems.push(LoadProblem::DuplicateName {
                    kind: EntityKind::Policy,
                });
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
                self.error(EntityKind::Policy, &spec.name, problem);
            }
        }
        policies
    }

    fn settings(&mut self, settings: &SettingsSpec) {
        if let Some(key) = &settings.mask_key
            && !is_key_id(key)
        {
            self.error(
                EntityKind::Settings,
                crate::SETTINGS,
                LoadProblem::BadMaskKey { key: key.clone() },
            );
        }
    }
}
