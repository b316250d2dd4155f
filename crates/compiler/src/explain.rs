//! `explain`: the view a user gets and, per column and per row filter, which policy applied,
//! which were overridden or did not apply, and why.

use std::fmt;

use veil_policy::{DataSourceId, MaskMethod, PassReason, Rule, Subject};

use crate::{Compiler, View, misfit};

#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub data_source: String,
    /// `None` when the user may not see the data source.
    pub view: Option<View>,
    /// Each subscription on the data source and whether its `allow` held.
    pub subscriptions: Vec<(String, bool)>,
    pub columns: Vec<ColumnReport>,
    pub row_filters: Vec<RowFilterReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnReport {
    pub column: String,
    /// The mask policy applied and its method.
    pub applied: Option<(String, String)>,
    /// Set when the applied method did not fit and the column is nullified instead.
    pub fallback: Option<String>,
    /// Masks that targeted the column but did not win, with the reason.
    pub overridden: Vec<(String, String)>,
    /// A reversible mask only: whether its policy's `reveal` holds for this user.
    pub reveal: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RowFilterReport {
    pub policy: String,
    pub applied: bool,
}

fn reason_text(reason: PassReason) -> &'static str {
    match reason {
        PassReason::NotForThisUser => "does not apply to this user (`for`/`except`)",
        PassReason::NamedColumnWins => "overridden: a policy naming the column beats a tag policy",
        PassReason::DeeperTagWins => "overridden: a deeper tag wins",
        PassReason::MoreRestrictiveWins => "overridden: a more restrictive method wins",
        PassReason::NameOrder => "overridden: tied, the first policy name wins",
    }
}

impl Compiler {
    pub fn explain(&self, data_source: DataSourceId, subject: &Subject<'_>) -> Explained {
        let estate = self.estate();
        let explanation = estate.explain(data_source, subject);
        let source = &estate.data_sources[data_source];
        let name = |policy: usize| estate.policies[policy].name.clone();
        let view = explanation.decision.as_ref().map(|decision| {
            let facts = self.facts(decision, subject);
            self.render(decision, &facts)
        });
        let columns = source
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let applied = explanation
                    .decision
                    .as_ref()
                    .and_then(|decision| decision.masks[index]);
                let mask = applied.and_then(|policy| match &estate.policies[policy].rule {
                    Rule::Mask(mask) => Some(mask),
                    _ => None,
                });
                let method = mask.map(|mask| &mask.method);
                ColumnReport {
                    column: column.name.clone(),
                    applied: applied
                        .zip(method)
                        .map(|(policy, method)| (name(policy), method.name().to_owned())),
                    fallback: method.and_then(|method| misfit(method, column, source)),
                    overridden: explanation.columns[index]
                        .iter()
                        .map(|passed| (name(passed.policy), reason_text(passed.reason).to_owned()))
                        .collect(),
                    reveal: mask
                        .filter(|mask| mask.method == MaskMethod::Reversible)
                        .map(|mask| {
                            mask.reveal
                                .as_ref()
                                .is_some_and(|reveal| reveal.holds(subject))
                        }),
                }
            })
            .collect();
        let mut row_filters: Vec<RowFilterReport> = explanation
            .decision
            .iter()
            .flat_map(|decision| &decision.row_filters)
            .map(|&policy| RowFilterReport {
                policy: name(policy),
                applied: true,
            })
            .collect();
        row_filters.extend(
            explanation
                .skipped_row_filters
                .iter()
                .map(|&policy| RowFilterReport {
                    policy: name(policy),
                    applied: false,
                }),
        );
        Explained {
            data_source: source.name.clone(),
            view,
            subscriptions: explanation
                .subscriptions
                .iter()
                .map(|&(policy, held)| (name(policy), held))
                .collect(),
            columns,
            row_filters,
        }
    }
}

impl fmt::Display for Explained {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "data source {}", self.data_source)?;
        if self.subscriptions.is_empty() {
            writeln!(
                out,
                "  no subscription policy targets it: nobody may see it"
            )?;
        }
        for (policy, held) in &self.subscriptions {
            let verdict = if *held { "allows" } else { "does not allow" };
            writeln!(out, "  subscription {policy}: {verdict} this user")?;
        }
        let Some(view) = &self.view else {
            return writeln!(out, "not visible to this user (reported as not found)");
        };
        writeln!(out, "\nview:\n  {}\n\ncolumns:", view.sql)?;
        for (report, column) in self.columns.iter().zip(&view.columns) {
            match &report.applied {
                None => writeln!(out, "  {} {}: unmasked", report.column, column.data_type)?,
                Some((policy, method)) => writeln!(
                    out,
                    "  {} {}: {method} by {policy}",
                    report.column, column.data_type
                )?,
            }
            if let Some(fallback) = &report.fallback {
                writeln!(out, "      falls back to nullify: {fallback}")?;
            }
            match report.reveal {
                Some(true) => writeln!(out, "      reveal: granted to this user")?,
                Some(false) => writeln!(out, "      reveal: not granted to this user")?,
                None => {}
            }
            for (policy, reason) in &report.overridden {
                writeln!(out, "      {policy}: {reason}")?;
            }
        }
        writeln!(out, "\nrow filters:")?;
        if self.row_filters.is_empty() {
            writeln!(out, "  none")?;
        }
        for filter in &self.row_filters {
            let verdict = if filter.applied {
                "applied"
            } else {
                "does not apply to this user (`for`/`except`)"
            };
            writeln!(out, "  {}: {verdict}", filter.policy)?;
        }
        Ok(())
    }
}
