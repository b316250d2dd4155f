//! The estate: a validated [`Bundle`] with the indexes the decision path needs, built once
//! per policy version and read-only afterwards.

use std::collections::{BTreeMap, HashSet};
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

/// Every tag some data source or column carries, with how many carry it.
pub(crate) type TagCounts = BTreeMap<String, usize>;

/// A validated policy bundle and its indexes. Cloning is cheap: every part is shared, and
/// [`Estate::edit_users`] and [`Estate::edit`] make a new version that shares all but what the
/// edit changes.
#[derive(Debug, Clone)]
pub struct Estate {
    // INVARIANT: `file` is the bundle the other fields were built from, except that its data
    // sources live (parsed) in `data_sources` and its users in `users` only, so that large
    // estates are stored once.
    pub(crate) file: Arc<Bundle>,
    /// Each data source and its bindings in its own `Arc`: a version with one data source or
    /// one policy edited copies the pointers and shares every data source it leaves alone.
    pub data_sources: Arc<Vec<Arc<DataSource>>>,
    pub policies: Arc<Vec<Policy>>,
    pub bindings: Arc<Vec<Arc<Bindings>>>,
    pub(crate) indexes: Arc<Indexes>,
    pub(crate) users: Users,
    /// Users a project or a policy condition names: removing one needs the whole validation.
    pub(crate) referenced_users: Arc<HashSet<String>>,
    pub(crate) purposes: Arc<HashSet<String>>,
    pub(crate) projects: Arc<HashMap<String, Project>>,
    /// Every tag a data source or column carries, with how many carry it: what a policy's tags
    /// are checked against, kept so that editing one entity need not collect them again.
    pub(crate) tags: Arc<TagCounts>,
}

/// The data sources by name and by backing table; each list of ids in ascending order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Indexes {
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
            tags,
        } = validate(&file).map_err(|errors| {
            let mut errors = LoadErrors(errors);
            if let Some(source) = source {
                errors.locate(source);
            }
            errors
        })?;
        let mut indexes = Indexes::default();
        for (id, data_source) in data_sources.iter().enumerate() {
            indexes.insert(id, data_source);
        }
        let bindings = data_sources
            .iter()
            .map(|data_source| Arc::new(bind(data_source, &policies)))
            .collect();
        let referenced_users = referenced_users(&projects, &policies);
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
            tags: Arc::new(tags),
        })
    }

    /// The bundle, for export: as written, with column types in Trino's canonical spelling.
    pub fn to_file(&self) -> Bundle {
        let mut file = Bundle::clone(&self.file);
        file.users = self.users.iter().cloned().collect();
        file.data_sources = self
            .data_sources
            .iter()
            .map(|data_source| data_source_spec(data_source))
            .collect();
        file
    }

    /// One entity as YAML: what [`Bundle::get`] of [`Estate::to_file`] gives, without copying
    /// the whole bundle out (100,000 users and 10,000 data sources, for one `GetEntity`).
    pub fn get(&self, kind: crate::EntityKind, name: &str) -> Option<String> {
        fn yaml<T: serde::Serialize>(spec: &T) -> String {
            serde_norway::to_string(spec).expect("specs serialize")
        }
        match kind {
            crate::EntityKind::User => self.user(name).map(yaml),
            crate::EntityKind::DataSource => self.data_source_spec(name).as_ref().map(yaml),
            // The rest the estate keeps as the bundle holds it.
            _ => self.file.get(kind, name),
        }
    }

    /// The names of one kind of entity, in the bundle's order: [`Bundle::names`] of
    /// [`Estate::to_file`], without the copy.
    pub fn names(&self, kind: crate::EntityKind) -> Vec<String> {
        match kind {
            crate::EntityKind::User => self.users().map(|user| user.name.clone()).collect(),
            crate::EntityKind::DataSource => self
                .data_sources
                .iter()
                .map(|data_source| data_source.name.clone())
                .collect(),
            _ => self.file.names(kind),
        }
    }

    /// One data source as the bundle exports it.
    pub fn data_source_spec(&self, name: &str) -> Option<DataSourceSpec> {
        let (schema, table) = name.split_once('.')?;
        let id = self.data_source_id(schema, table)?;
        Some(data_source_spec(&self.data_sources[id]))
    }

    /// One policy as the bundle holds it.
    pub fn policy_spec(&self, name: &str) -> Option<&crate::PolicySpec> {
        self.file.policies.iter().find(|policy| policy.name == name)
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

/// A data source as written: types in Trino's canonical spelling.
fn data_source_spec(data_source: &DataSource) -> DataSourceSpec {
    DataSourceSpec {
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
    }
}

/// The users a project or a policy condition names.
pub(crate) fn referenced_users(
    projects: &HashMap<String, Project>,
    policies: &[Policy],
) -> HashSet<String> {
    let mut referenced: HashSet<String> = projects
        .values()
        .flat_map(|project| project.members.iter().cloned())
        .collect();
    for policy in policies {
        policy.rule.visit_conditions(&mut |condition| {
            condition.visit(&mut |inner| {
                if let Condition::Users(users) = inner {
                    referenced.extend(users.iter().cloned());
                }
            })
        });
    }
    referenced
}

impl Indexes {
    /// Indexes data source `id`, the last so far or placed among the others by id.
    pub(crate) fn insert(&mut self, id: DataSourceId, data_source: &DataSource) {
        self.by_name
            .entry(data_source.schema.clone())
            .or_default()
            .insert(data_source.table.clone(), id);
        let [catalog, schema, table] = data_source.backing.clone().map(|part| part.to_lowercase());
        for ids in [
            self.by_backing_schema
                .entry([catalog.clone(), schema.clone()])
                .or_default(),
            self.by_backing.entry([catalog, schema, table]).or_default(),
        ] {
            let place = ids.partition_point(|&other| other < id);
            ids.insert(place, id);
        }
    }

    /// Forgets data source `id` (which keeps its place: no other id moves).
    pub(crate) fn remove(&mut self, id: DataSourceId, data_source: &DataSource) {
        if let Some(tables) = self.by_name.get_mut(&data_source.schema) {
            tables.remove(&data_source.table);
            if tables.is_empty() {
                self.by_name.remove(&data_source.schema);
            }
        }
        let [catalog, schema, table] = data_source.backing.clone().map(|part| part.to_lowercase());
        let schema_key = [catalog.clone(), schema.clone()];
        if let Some(ids) = self.by_backing_schema.get_mut(&schema_key) {
            ids.retain(|&other| other != id);
            if ids.is_empty() {
                self.by_backing_schema.remove(&schema_key);
            }
        }
        let key = [catalog, schema, table];
        if let Some(ids) = self.by_backing.get_mut(&key) {
            ids.retain(|&other| other != id);
            if ids.is_empty() {
                self.by_backing.remove(&key);
            }
        }
    }

    /// Every id after `removed` one lower: data source `removed` left the list.
    pub(crate) fn close_gap(&mut self, removed: DataSourceId) {
        let shift = |id: &mut DataSourceId| {
            if *id > removed {
                *id -= 1;
            }
        };
        for tables in self.by_name.values_mut() {
            tables.values_mut().for_each(shift);
        }
        for ids in self
            .by_backing
            .values_mut()
            .chain(self.by_backing_schema.values_mut())
        {
            ids.iter_mut().for_each(shift);
        }
    }
}
