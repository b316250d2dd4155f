//! Loading: every policy's SQL (`where`, `when`, `sql`) parsed into templates and checked
//! against the estate and the data sources each policy reaches, all problems at once.

use std::collections::HashSet;
use std::sync::Arc;

use veil_policy::{
    DataSourceId, Edit, Edited, Entity, EntityEditError, Estate, LoadError, LoadErrors,
    LoadProblem, MaskMethod, PolicyId, RowPredicate, Rule, Touched, TypeFamily,
};

use crate::Compiler;
use crate::mask::misfit;
use crate::template::Template;

/// The parsed SQL of one policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyTemplates {
    pub when: Option<Template>,
    pub expression: Option<Template>,
    pub predicate: Option<Template>,
}

impl Compiler {
    /// Loads a YAML policy file: shape, references and SQL, all or nothing.
    pub fn from_yaml(text: &str, functions_catalog: &str) -> Result<Compiler, LoadErrors> {
        let estate = Estate::from_yaml(text)?;
        Compiler::new(estate, functions_catalog).map_err(|mut errors| {
            errors.locate(text);
            errors
        })
    }

    /// Parses and checks every predicate, expression and constant against the data sources
    /// each policy reaches.
    pub fn new(estate: Estate, functions_catalog: &str) -> Result<Compiler, LoadErrors> {
        let mut errors = Vec::new();
        let templates = estate
            .policies
            .iter()
            .map(|policy| {
                let mut report = |problem: LoadProblem| {
                    errors.push(LoadError {
                        line: None,
                        entity: Some(Entity::policy(&policy.name)),
                        problem,
                    })
                };
                Arc::new(parse_templates(&policy.rule, &estate, &mut report))
            })
            .collect();
        let compiler = Compiler {
            estate,
            functions_catalog: functions_catalog.to_owned(),
            templates: Arc::new(templates),
        };
        compiler.check_against_data_sources(&mut errors);
        if errors.is_empty() {
            Ok(compiler)
        } else {
            Err(LoadErrors(errors))
        }
    }

    /// Every column a policy's SQL names must exist in every data source the policy reaches,
    /// and a constant on a column named by `columns:` must cast to its type.
    fn check_against_data_sources(&self, errors: &mut Vec<LoadError>) {
        let mut reported = HashSet::new();
        for id in 0..self.estate.data_sources.len() {
            self.check_against_data_source(id, None, &mut reported, errors);
        }
    }

    /// [`Compiler::check_against_data_sources`] for data source `id` and the policies bound to
    /// it (or only policy `only`). `reported` keeps a missing column from being reported twice.
    fn check_against_data_source(
        &self,
        id: DataSourceId,
        only: Option<PolicyId>,
        reported: &mut HashSet<(PolicyId, String, DataSourceId)>,
        errors: &mut Vec<LoadError>,
    ) {
        let data_source = &self.estate.data_sources[id];
        let bindings = &self.estate.bindings[id];
        let checked = |policy: PolicyId| only.is_none_or(|only| only == policy);
        let mut check = |policy: PolicyId, template: &Template| {
            for column in &template.columns {
                if data_source.column(column).is_none()
                    && reported.insert((policy, column.clone(), id))
                {
                    errors.push(LoadError {
                        line: None,
                        entity: Some(Entity::policy(&self.estate.policies[policy].name)),
                        problem: LoadProblem::UnknownColumn {
                            column: column.clone(),
                            data_source: data_source.name.clone(),
                        },
                    });
                }
            }
        };
        for candidates in &bindings.masks {
            for candidate in candidates
                .iter()
                .filter(|candidate| checked(candidate.policy))
            {
                let templates = &self.templates[candidate.policy];
                for template in templates.when.iter().chain(&templates.expression) {
                    check(candidate.policy, template);
                }
            }
        }
        for &policy in bindings
            .row_filters
            .iter()
            .filter(|&&policy| checked(policy))
        {
            if let Some(template) = &self.templates[policy].predicate {
                check(policy, template);
            }
        }
        for (index, candidates) in bindings.masks.iter().enumerate() {
            for candidate in candidates
                .iter()
                .filter(|candidate| candidate.names_column && checked(candidate.policy))
            {
                let policy = &self.estate.policies[candidate.policy];
                let column = &data_source.columns[index];
                let Rule::Mask(mask) = &policy.rule else {
                    continue;
                };
                // A value that cannot be cast to a column the policy names is the writer's
                // mistake (categories only for strings; other types simply do not fit).
                let casts_values = match mask.method {
                    MaskMethod::Constant { .. } => true,
                    MaskMethod::RandomizedValues { .. } => {
                        matches!(column.data_type.family(), TypeFamily::String { .. })
                    }
                    _ => false,
                };
                if casts_values && let Some(problem) = misfit(&mask.method, column, data_source) {
                    errors.push(LoadError {
                        line: None,
                        entity: Some(Entity::policy(&policy.name)),
                        problem: LoadProblem::ConstantDoesNotFit {
                            column: column.name.clone(),
                            data_source: data_source.name.clone(),
                            problem,
                        },
                    });
                }
            }
        }
    }

    /// [`Compiler::edit`] of each edit in turn, consecutive user edits together
    /// ([`Compiler::edit_users`]: a batch of them is validated as a whole, as SCIM sends them).
    pub fn edit_all(&self, edits: &[Edit]) -> Result<Compiler, EntityEditError> {
        let mut compiler = self.clone();
        let mut rest = edits;
        while let Some(first) = rest.first() {
            let users: Vec<veil_policy::UserEdit> = rest
                .iter()
                .map_while(|edit| match edit {
                    Edit::User(user) => Some(user.clone()),
                    _ => None,
                })
                .collect();
            if users.is_empty() {
                compiler = compiler.edit(first)?;
                rest = &rest[1..];
            } else {
                compiler = compiler.edit_users(&users)?;
                rest = &rest[users.len()..];
            }
        }
        Ok(compiler)
    }

    /// This compiler with one entity edited ([`Estate::edit`]): the SQL of the policies the
    /// edit leaves alone is shared, not parsed again, and only what the edit reaches is checked
    /// against the data sources. Any problem compiles the edited estate whole instead, for the
    /// exact errors of a full load.
    pub fn edit(&self, edit: &Edit) -> Result<Compiler, EntityEditError> {
        let Edited { estate, touched } = self.estate.edit(edit)?;
        let mut templates = Arc::clone(&self.templates);
        let mut errors = Vec::new();
        let check = match touched {
            Touched::Everything => {
                return Ok(Compiler::new(estate, &self.functions_catalog)?);
            }
            Touched::Users => None,
            Touched::PolicyPut { id, bound } => {
                let policy = &estate.policies[id];
                let mut report = |problem: LoadProblem| {
                    errors.push(LoadError {
                        line: None,
                        entity: Some(Entity::policy(&policy.name)),
                        problem,
                    })
                };
                let parsed = Arc::new(parse_templates(&policy.rule, &estate, &mut report));
                let list = Arc::make_mut(&mut templates);
                match list.get_mut(id) {
                    Some(old) => *old = parsed,
                    None => list.push(parsed),
                }
                Some((bound, Some(id)))
            }
            Touched::PolicyRemoved { id } => {
                Arc::make_mut(&mut templates).remove(id);
                None
            }
            Touched::DataSourcePut { id } => Some((vec![id], None)),
            Touched::DataSourceRemoved { .. } => None,
        };
        let compiler = Compiler {
            estate,
            functions_catalog: self.functions_catalog.clone(),
            templates,
        };
        if let Some((data_sources, only)) = check {
            let mut reported = HashSet::new();
            for id in data_sources {
                compiler.check_against_data_source(id, only, &mut reported, &mut errors);
            }
        }
        if errors.is_empty() {
            Ok(compiler)
        } else {
            Ok(Compiler::new(compiler.estate, &compiler.functions_catalog)?)
        }
    }
}

/// Parses the SQL of one policy's rule; each problem is reported, and its SQL left out.
fn parse_templates(
    rule: &Rule,
    estate: &Estate,
    report: &mut impl FnMut(LoadProblem),
) -> PolicyTemplates {
    let mut parse = |option: &'static str, sql: &str| match Template::parse(sql) {
        Ok(template) => {
            for purpose in &template.purposes {
                if !estate.has_purpose(purpose) {
                    report(LoadProblem::UnknownPurposeInSql {
                        option,
                        purpose: purpose.clone(),
                    });
                }
            }
            Some(template)
        }
        Err(problem) => {
            report(LoadProblem::BadSql { option, problem });
            None
        }
    };
    match rule {
        Rule::Subscription { .. } => PolicyTemplates::default(),
        Rule::Mask(mask) => PolicyTemplates {
            when: mask.when.as_deref().and_then(|sql| parse("when", sql)),
            expression: match &mask.method {
                MaskMethod::Expression { sql } => parse("sql", sql),
                _ => None,
            },
            predicate: None,
        },
        Rule::RowFilter(filter) => PolicyTemplates {
            predicate: match &filter.predicate {
                RowPredicate::Where { sql } => parse("where", sql),
                _ => None,
            },
            ..PolicyTemplates::default()
        },
    }
}
