//! The compiler: a validated estate with every policy's SQL parsed, and the views it renders
//! from a decision and the user facts that decision needs.

use std::sync::Arc;

use veil_policy::{
    Column, DataSource, Decision, Estate, PolicyId, RowPredicate, Rule, Subject, TypeFamily,
    UserEdit, UserEditError, WindowUnit,
};

use crate::load::PolicyTemplates;
use crate::mask;
use crate::sql::{push_identifier, push_literal_list};
use crate::template::Fact;

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

/// What Trino's access control applies to a backing table for one decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableAccess {
    /// `(column, expression)` for every masked column, in column order; each expression has
    /// the column's own type.
    pub masks: Vec<(String, String)>,
    /// Each applied row filter's predicate; Trino ANDs them.
    pub row_filters: Vec<String>,
}

/// A validated estate with every policy's SQL parsed, ready to compile views.
#[derive(Debug, Clone)]
pub struct Compiler {
    pub(crate) estate: Estate,
    /// The Trino catalog whose Veil connector provides the keyed mask functions.
    pub(crate) functions_catalog: String,
    // INVARIANT: one entry per policy of `estate`, in the same order.
    pub(crate) templates: Arc<Vec<Arc<PolicyTemplates>>>,
}

impl Compiler {
    pub fn estate(&self) -> &Estate {
        &self.estate
    }

    /// This compiler with users edited ([`Estate::edit_users`]): the policies stay as they
    /// are, so their parsed SQL is shared rather than parsed again.
    pub fn edit_users(&self, edits: &[UserEdit]) -> Result<Compiler, UserEditError> {
        let estate = self.estate.edit_users(edits)?;
        if !Arc::ptr_eq(&estate.policies, &self.estate.policies) {
            // Validated as a whole bundle: compile it whole too.
            return Ok(Compiler::new(estate, &self.functions_catalog)?);
        }
        Ok(Compiler {
            estate,
            functions_catalog: self.functions_catalog.clone(),
            templates: Arc::clone(&self.templates),
        })
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
        // Row filters first: a mask may need them rendered (k-anonymity counts what they keep).
        let mut facts = Vec::new();
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
        for policy in decision.masks.iter().flatten() {
            let templates = &self.templates[*policy];
            for template in templates.when.iter().chain(&templates.expression) {
                template.collect_facts(subject, &mut facts);
            }
        }
        facts
    }

    /// The view for a decision, given the facts [`Compiler::facts`] collected for it.
    pub fn render(&self, decision: &Decision, facts: &[Fact]) -> View {
        let data_source = &self.estate.data_sources[decision.data_source];
        let mut facts = facts.iter();
        let row_filters = self.row_filters(decision, &mut facts);
        let mut out = String::with_capacity(64 + data_source.columns.len() * 24);
        out.push_str("SELECT ");
        for (index, column) in data_source.columns.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            match decision.masks[index] {
                None => push_identifier(&mut out, &column.name),
                Some(policy) => {
                    self.push_masked(
                        &mut out,
                        policy,
                        data_source,
                        column,
                        &row_filters,
                        &mut facts,
                    );
                    out.push_str(" AS ");
                    push_identifier(&mut out, &column.name);
                }
            }
        }
        out.push_str(" FROM ");
        for (index, part) in data_source.backing.iter().enumerate() {
            if index > 0 {
                out.push('.');
            }
            push_identifier(&mut out, part);
        }
        for (index, filter) in row_filters.iter().enumerate() {
            out.push_str(if index == 0 { " WHERE (" } else { " AND (" });
            out.push_str(filter);
            out.push(')');
        }
        View {
            sql: out,
            // Masks keep the column's type, so the view's columns are the data source's.
            columns: data_source
                .columns
                .iter()
                .map(|column| ViewColumn {
                    name: column.name.clone(),
                    data_type: column.data_type.to_string(),
                    comment: column.description.clone(),
                })
                .collect(),
            comment: data_source.description.clone(),
        }
    }

    /// The same decision as [`Compiler::render`]'s view, for Trino's access control on the
    /// backing table itself: each masked column's expression and each row filter's predicate,
    /// over the table's own columns, exactly as the view writes them.
    pub fn render_access(&self, decision: &Decision, facts: &[Fact]) -> TableAccess {
        let data_source = &self.estate.data_sources[decision.data_source];
        let mut facts = facts.iter();
        let row_filters = self.row_filters(decision, &mut facts);
        let mut access = TableAccess::default();
        for (index, column) in data_source.columns.iter().enumerate() {
            if let Some(policy) = decision.masks[index] {
                let mut expression = String::new();
                self.push_masked(
                    &mut expression,
                    policy,
                    data_source,
                    column,
                    &row_filters,
                    &mut facts,
                );
                access.masks.push((column.name.clone(), expression));
            }
        }
        access.row_filters = row_filters;
        access
    }

    /// Each applied row filter's predicate, rendered from the first of `facts`.
    fn row_filters<'f>(
        &self,
        decision: &Decision,
        facts: &mut impl Iterator<Item = &'f Fact>,
    ) -> Vec<String> {
        let data_source = &self.estate.data_sources[decision.data_source];
        decision
            .row_filters
            .iter()
            .map(|&policy| {
                let mut predicate = String::new();
                self.push_row_filter(&mut predicate, policy, data_source, facts);
                predicate
            })
            .collect()
    }

    /// Appends the masked value of `column` by mask policy `policy`, `when` included; it has
    /// the column's own type.
    fn push_masked<'f>(
        &self,
        out: &mut String,
        policy: PolicyId,
        data_source: &DataSource,
        column: &Column,
        row_filters: &[String],
        facts: &mut impl Iterator<Item = &'f Fact>,
    ) {
        let policy_spec = &self.estate.policies[policy];
        let Rule::Mask(mask) = &policy_spec.rule else {
            unreachable!("mask decisions name mask policies")
        };
        let context = mask::MaskContext {
            keyed: self.keyed(),
            data_source,
            policy: &policy_spec.name,
            row_filters,
        };
        let templates = &self.templates[policy];
        let mut when = String::new();
        if let Some(template) = &templates.when {
            template.render(facts, &mut when);
        }
        let mut expression = String::new();
        if let Some(template) = &templates.expression {
            template.render(facts, &mut expression);
        }
        if templates.when.is_some() {
            out.push_str("CASE WHEN ");
            out.push_str(&when);
            out.push_str(" THEN ");
            mask::push_mask(out, &mask.method, column, &context, &expression);
            out.push_str(" ELSE ");
            push_identifier(out, &column.name);
            out.push_str(" END");
        } else {
            mask::push_mask(out, &mask.method, column, &context, &expression);
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
