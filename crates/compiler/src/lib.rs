//! Veil's view compiler: turns a policy [`Decision`] for one user on one data source into the
//! Trino SQL view that enforces it, with the exact type of every output column.
//!
//! Pure: no I/O, no knowledge of gRPC or of the store. Every identifier and literal in the
//! output is escaped by [`sql`], never by sqlparser's printer.

mod explain;
mod mask;
pub mod sql;
mod template;

use std::collections::HashSet;

use veil_policy::{
    DataSource, Decision, Estate, LoadError, LoadErrors, MaskMethod, PolicyId, RowPredicate, Rule,
    Subject, TypeFamily, WindowUnit,
};

pub use explain::{ColumnReport, Explained, RowFilterReport};
pub use mask::{cast_problem, misfit};
pub use template::{Fact, Template};

use sql::{push_identifier, push_literal_list};

/// A compiled view: what the plugin needs to define it in Trino.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub sql: String,
    pub columns: Vec<ViewColumn>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    pub name: String,
    /// The Trino type the view really produces.
    pub data_type: String,
    pub comment: Option<String>,
}

/// The parsed SQL of one policy.
#[derive(Debug, Clone, Default)]
struct PolicyTemplates {
    when: Option<Template>,
    expression: Option<Template>,
    predicate: Option<Template>,
}

/// A validated estate with every policy's SQL parsed, ready to compile views.
#[derive(Debug, Clone)]
pub struct Compiler {
    estate: Estate,
    /// The Trino catalog whose Veil connector provides the keyed mask functions.
    functions_catalog: String,
    // INVARIANT: one entry per policy of `estate`, in the same order.
    templates: Vec<PolicyTemplates>,
}

impl Compiler {
    /// Loads a YAML policy file: shape, references and SQL, all or nothing.
    pub fn from_yaml(text: &str, functions_catalog: &str) -> Result<Compiler, LoadErrors> {
        let estate = Estate::from_yaml(text)?;
        Compiler::new(estate, functions_catalog).map_err(|mut errors| {
            for error in &mut errors.0 {
                if let Some(name) = error
                    .context
                    .strip_prefix("policy `")
                    .and_then(|rest| rest.strip_suffix('`'))
                {
                    error.line = veil_policy::locate_line(text, "policies", name);
                }
            }
            errors
        })
    }

    /// Parses and checks every predicate, expression and constant against the data sources
    /// each policy reaches.
    pub fn new(estate: Estate, functions_catalog: &str) -> Result<Compiler, LoadErrors> {
        let mut errors = Vec::new();
        let mut templates = Vec::with_capacity(estate.policies.len());
        for policy in &estate.policies {
            let mut report = |message: String| {
                errors.push(LoadError {
                    line: None,
                    context: format!("policy `{}`", policy.name),
                    message,
                })
            };
            let mut parse = |label: &str, sql: &str| match Template::parse(sql) {
                Ok(template) => {
                    for purpose in &template.purposes {
                        if !estate.has_purpose(purpose) {
                            report(format!("{label}: unknown purpose `{purpose}`"));
                        }
                    }
                    Some(template)
                }
                Err(problem) => {
                    report(format!("{label}: {problem}"));
                    None
                }
            };
            let parsed = match &policy.rule {
                Rule::Subscription { .. } => PolicyTemplates::default(),
                Rule::Mask(mask) => PolicyTemplates {
                    when: mask.when.as_deref().and_then(|sql| parse("`when`", sql)),
                    expression: match &mask.method {
                        MaskMethod::Expression { sql } => parse("`sql`", sql),
                        _ => None,
                    },
                    predicate: None,
                },
                Rule::RowFilter(filter) => PolicyTemplates {
                    predicate: match &filter.predicate {
                        RowPredicate::Where { sql } => parse("`where`", sql),
                        _ => None,
                    },
                    ..PolicyTemplates::default()
                },
            };
            templates.push(parsed);
        }
        let compiler = Compiler {
            estate,
            functions_catalog: functions_catalog.to_owned(),
            templates,
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
        for (id, data_source) in self.estate.data_sources.iter().enumerate() {
            let bindings = &self.estate.bindings[id];
            let mut check = |policy: PolicyId, template: &Template| {
                for column in &template.columns {
                    if data_source.column(column).is_none()
                        && reported.insert((policy, column.clone(), id))
                    {
                        errors.push(LoadError {
                            line: None,
                            context: format!("policy `{}`", self.estate.policies[policy].name),
                            message: format!(
                                "unknown column `{column}` in data source `{}`",
                                data_source.name
                            ),
                        });
                    }
                }
            };
            for candidates in &bindings.masks {
                for candidate in candidates {
                    let templates = &self.templates[candidate.policy];
                    for template in templates.when.iter().chain(&templates.expression) {
                        check(candidate.policy, template);
                    }
                }
            }
            for &policy in &bindings.row_filters {
                if let Some(template) = &self.templates[policy].predicate {
                    check(policy, template);
                }
            }
            for (index, candidates) in bindings.masks.iter().enumerate() {
                for candidate in candidates.iter().filter(|candidate| candidate.names_column) {
                    let policy = &self.estate.policies[candidate.policy];
                    if let Rule::Mask(mask) = &policy.rule
                        && let MaskMethod::Constant { .. } = mask.method
                        && let Some(problem) = misfit(&mask.method, &data_source.columns[index])
                    {
                        errors.push(LoadError {
                            line: None,
                            context: format!("policy `{}`", policy.name),
                            message: format!(
                                "column `{}` of data source `{}`: {problem}",
                                data_source.columns[index].name, data_source.name
                            ),
                        });
                    }
                }
            }
        }
    }

    pub fn estate(&self) -> &Estate {
        &self.estate
    }

    /// The catalog named in calls of the keyed mask functions.
    pub fn functions_catalog(&self) -> &str {
        &self.functions_catalog
    }

    fn keyed(&self) -> mask::Keyed<'_> {
        mask::Keyed {
            catalog: &self.functions_catalog,
            key: self.estate.settings().mask_key(),
        }
    }

    /// The user facts the view for `decision` depends on, in rendering order. Equal decisions
    /// with equal facts compile to the same SQL.
    pub fn facts(&self, decision: &Decision, subject: &Subject<'_>) -> Vec<Fact> {
        let mut facts = Vec::new();
        for policy in decision.masks.iter().flatten() {
            let templates = &self.templates[*policy];
            for template in templates.when.iter().chain(&templates.expression) {
                template.collect_facts(subject, &mut facts);
            }
        }
        for &policy in &decision.row_filters {
            match &self.templates[policy].predicate {
                Some(template) => template.collect_facts(subject, &mut facts),
                None => {
                    if let Rule::RowFilter(filter) = &self.estate.policies[policy].rule
                        && let RowPredicate::Match { attribute, .. } = &filter.predicate
                    {
                        facts.push(Fact::Values(subject.attribute(attribute).to_vec()));
                    }
                }
            }
        }
        facts
    }

    /// The view for a decision, given the facts [`Compiler::facts`] collected for it.
    pub fn render(&self, decision: &Decision, facts: &[Fact]) -> View {
        let data_source = &self.estate.data_sources[decision.data_source];
        let mut facts = facts.iter();
        let mut out = String::with_capacity(64 + data_source.columns.len() * 24);
        let mut columns = Vec::with_capacity(data_source.columns.len());
        out.push_str("SELECT ");
        for (index, column) in data_source.columns.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            let data_type = match decision.masks[index] {
                None => {
                    push_identifier(&mut out, &column.name);
                    column.data_type.to_string()
                }
                Some(policy) => {
                    let Rule::Mask(mask) = &self.estate.policies[policy].rule else {
                        unreachable!("mask decisions name mask policies")
                    };
                    let templates = &self.templates[policy];
                    let mut when = String::new();
                    if let Some(template) = &templates.when {
                        template.render(&mut facts, &mut when);
                    }
                    let mut expression = String::new();
                    if let Some(template) = &templates.expression {
                        template.render(&mut facts, &mut expression);
                    }
                    let output_type = mask::output_type(&mask.method, column);
                    if templates.when.is_some() {
                        out.push_str("CASE WHEN ");
                        out.push_str(&when);
                        out.push_str(" THEN ");
                        mask::push_mask(&mut out, &mask.method, column, &self.keyed(), &expression);
                        out.push_str(" ELSE ");
                        if output_type == column.data_type.to_string() {
                            push_identifier(&mut out, &column.name);
                        } else {
                            out.push_str("CAST(");
                            push_identifier(&mut out, &column.name);
                            out.push_str(" AS ");
                            out.push_str(&output_type);
                            out.push(')');
                        }
                        out.push_str(" END");
                    } else {
                        mask::push_mask(&mut out, &mask.method, column, &self.keyed(), &expression);
                    }
                    out.push_str(" AS ");
                    push_identifier(&mut out, &column.name);
                    output_type
                }
            };
            columns.push(ViewColumn {
                name: column.name.clone(),
                data_type,
                comment: column.description.clone(),
            });
        }
        out.push_str(" FROM ");
        for (index, part) in data_source.backing.iter().enumerate() {
            if index > 0 {
                out.push('.');
            }
            push_identifier(&mut out, part);
        }
        for (index, &policy) in decision.row_filters.iter().enumerate() {
            out.push_str(if index == 0 { " WHERE (" } else { " AND (" });
            self.push_row_filter(&mut out, policy, data_source, &mut facts);
            out.push(')');
        }
        View {
            sql: out,
            columns,
            comment: data_source.description.clone(),
        }
    }

    fn push_row_filter<'f>(
        &self,
        out: &mut String,
        policy: PolicyId,
        data_source: &DataSource,
        facts: &mut impl Iterator<Item = &'f Fact>,
    ) {
        let Rule::RowFilter(filter) = &self.estate.policies[policy].rule else {
            unreachable!("row filter decisions name row filter policies")
        };
        let column_of = |name: &str| {
            data_source
                .column(name)
                .expect("row filter columns are checked at load")
        };
        match &filter.predicate {
            RowPredicate::Where { .. } => {
                let template = self.templates[policy]
                    .predicate
                    .as_ref()
                    .expect("`where` filters have a template");
                template.render(facts, out);
            }
            RowPredicate::Match { column, .. } => {
                let Some(Fact::Values(values)) = facts.next() else {
                    panic!("a match filter consumes its attribute values")
                };
                if values.is_empty() {
                    out.push_str("FALSE");
                    return;
                }
                let column = column_of(column);
                if column.data_type.is_string() {
                    push_identifier(out, &column.name);
                } else {
                    out.push_str("CAST(");
                    push_identifier(out, &column.name);
                    out.push_str(" AS varchar)");
                }
                out.push_str(" IN ");
                push_literal_list(out, values);
            }
            RowPredicate::TimeWindow {
                column,
                amount,
                unit,
            } => {
                let column = column_of(column);
                push_identifier(out, &column.name);
                let interval = format!("INTERVAL '{amount}' {}", unit.name());
                let now = match (column.data_type.family(), unit) {
                    (TypeFamily::Date, WindowUnit::Day) => format!("current_date - {interval}"),
                    (TypeFamily::Date, _) => {
                        format!("CAST(current_timestamp - {interval} AS date)")
                    }
                    _ if column.data_type.with_time_zone => {
                        format!("current_timestamp - {interval}")
                    }
                    _ => format!("localtimestamp - {interval}"),
                };
                out.push_str(" >= ");
                out.push_str(&now);
            }
            RowPredicate::Sample { percent, column } => {
                // 63 bits of a 64-bit hash, so no value overflows; then buckets of 0.01%.
                out.push_str("bitwise_and(from_big_endian_64(xxhash64(to_utf8(CAST(");
                push_identifier(out, &column_of(column).name);
                let threshold = (percent * 100.0).round() as u64;
                out.push_str(&format!(
                    " AS varchar)))), 9223372036854775807) % 10000 < {threshold}"
                ));
            }
        }
    }

    /// Decides and compiles in one go: `None` when the subject may not see the data source.
    pub fn compile(&self, data_source: usize, subject: &Subject<'_>) -> Option<View> {
        let decision = self.estate.decide(data_source, subject)?;
        let facts = self.facts(&decision, subject);
        Some(self.render(&decision, &facts))
    }
}
