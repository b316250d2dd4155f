//! The estate: a validated [`Bundle`] with the indexes the decision path needs, built once
//! per policy version and read-only afterwards.

use std::collections::HashSet;
use std::sync::Arc;

use crate::Condition;
use crate::binding::{Bindings, bind};
use crate::bundle::{Bundle, ColumnSpec, DataSourceSpec, SettingsSpec, UserSpec};
use crate::error::{LoadError, LoadErrors, LoadProblem};
use crate::model::{DataSource, DataSourceId, Policy, Project};
use crate::users::Users;
use crate::validate::{Validated, validate};

/// Hash maps on the decision path: ahash is several times quicker than SipHash on short keys
/// and keeps its resistance to crafted collisions.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// A validated policy bundle and its indexes. Cloning is cheap: every part is shared, and
/// [`Estate::edit_users`] makes a new version that shares all but the users it changes.
#[derive(Debug, Clone)]
pub struct Estate {
    // INVARIANT: `file` is the bundle the other fields were built from, except that its data
    // sources live (parsed) in `data_sources` and its users in `users` only, so that large
    // estates are stored once.
    file: Arc<Bundle>,
    pub data_sources: Arc<Vec<DataSource>>,
    pub policies: Arc<Vec<Policy>>,
    pub bindings: Arc<Vec<Bindings>>,
    indexes: Arc<Indexes>,
    pub(crate) users: Users,
    /// Users a project or a policy condition names: removing one needs the whole validation.
    pub(crate) referenced_users: Arc<HashSet<String>>,
    purposes: Arc<HashSet<String>>,
    projects: Arc<HashMap<String, Project>>,
}

/// The data sources by name and by backing table.
#[derive(Debug, Default)]
struct Indexes {
    by_name: HashMap<String, HashMap<String, DataSourceId>>,
    /// Backing table (lowercase, as Trino names it) → the data sources over it.
    by_backing: HashMap<[String; 3], Vec<DataSourceId>>,
    /// Backing schema (lowercase catalog and schema) → the data sources over its tables.
    by_backing_schema: HashMap<[String; 2], Vec<DataSourceId>>,
}

impl Estate {
    /// Parses and validates YAML text; every error names its line where it can.
    pub fn from_yaml(text: &str) -> Result<Estate, LoadErrors> {
        let file = Bundle::from_yaml(text).map_err(|error| {
            LoadErrors(vec![LoadError {
                line: error.line,
                entity: None,
                problem: LoadProblem::Yaml {
                    message: error.message,
                },
            }])
        })?;
        Estate::new(file, Some(text))
    }

    /// Validates a bundle and builds the indexes. `source` is the YAML it came from, used only
    /// to point errors at lines.
    pub fn new(file: Bundle, source: Option<&str>) -> Result<Estate, LoadErrors> {
        let Validated {
            data_sources,
            purposes,
            projects,
            policies,
        } = validate(&file).map_err(|errors| {
            let mut errors = LoadErrors(errors);
            if let Some(source) = source {
                errors.locate(source);
            }
            errors
        })?;
        let mut indexes = Indexes::default();
        for (id, data_source) in data_sources.iter().enumerate() {
            indexes
                .by_name
                .entry(data_source.schema.clone())
                .or_default()
                .insert(data_source.table.clone(), id);
            let [catalog, schema, table] =
                data_source.backing.clone().map(|part| part.to_lowercase());
            indexes
                .by_backing_schema
                .entry([catalog.clone(), schema.clone()])
                .or_default()
                .push(id);
            indexes
                .by_backing
                .entry([catalog, schema, table])
                .or_default()
                .push(id);
        }
        let bindings = data_sources
            .iter()
            .map(|data_source| bind(data_source, &policies))
            .collect();
        let mut referenced_users: HashSet<String> = projects
            .values()
            .flat_map(|project| project.members.iter().cloned())
            .collect();
        for policy in &policies {
            policy.rule.visit_conditions(&mut |condition| {
                condition.visit(&mut |inner| {
                    if let Condition::Users(users) = inner {
                        referenced_users.extend(users.iter().cloned());
                    }
                })
            });
        }
        let mut file = file;
        file.data_sources = Vec::new();
        let users = Users::new(std::mem::take(&mut file.users));
        Ok(Estate {
            file: Arc::new(file),
            data_sources: Arc::new(data_sources),
            policies: Arc::new(policies),
            bindings: Arc::new(bindings),
            indexes: Arc::new(indexes),
            users,
            referenced_users: Arc::new(referenced_users),
            purposes: Arc::new(purposes),
            projects: Arc::new(projects),
        })
    }

    /// The bundle, for export: as written, with column types in Trino's canonical spelling.
    pub fn to_file(&self) -> Bundle {
        let mut file = Bundle::clone(&self.file);
        file.users = self.users.iter().cloned().collect();
        file.data_sources = self
            .data_sources
            .iter()
            .map(|data_source| DataSourceSpec {
                name: data_source.name.clone(),
                table: data_source.backing.join("."),
                tags: data_source.tags.clone(),
                columns: data_source
                    .columns
                    .iter()
                    .map(|column| ColumnSpec {
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
        self.indexes.by_name.get(schema)?.get(table).copied()
    }

    /// The data sources over a backing table, as Trino names it (catalog, schema, table).
    pub fn data_sources_over(&self, catalog: &str, schema: &str, table: &str) -> &[DataSourceId] {
        let key = [catalog, schema, table].map(str::to_lowercase);
        self.indexes.by_backing.get(&key).map_or(&[], Vec::as_slice)
    }

    /// The data sources over the tables of a backing schema, as Trino names it (catalog, schema).
    pub fn data_sources_in(&self, catalog: &str, schema: &str) -> &[DataSourceId] {
        let key = [catalog, schema].map(str::to_lowercase);
        self.indexes
            .by_backing_schema
            .get(&key)
            .map_or(&[], Vec::as_slice)
    }

    pub fn user(&self, name: &str) -> Option<&UserSpec> {
        self.users.get(name)
    }

    /// The users as the bundle lists them.
    pub fn users(&self) -> impl Iterator<Item = &UserSpec> {
        self.users.iter()
    }

    /// The groups the bundle declares.
    pub fn groups(&self) -> &[crate::GroupSpec] {
        &self.file.groups
    }

    /// This estate with other users; nothing else may depend on them.
    pub(crate) fn with_users(&self, users: Users) -> Estate {
        Estate {
            users,
            ..self.clone()
        }
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

    pub fn settings(&self) -> &SettingsSpec {
        &self.file.settings
    }
}
