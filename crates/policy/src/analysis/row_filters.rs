//! Item 4 of `veil check`: row filters that keep no rows for anyone they apply to, alone or
//! ANDed with another filter of the same data source.

use super::*;

impl Analyzer<'_> {
    /// Why a predicate keeps no rows for anyone, if it certainly does.
    pub(super) fn never_true(&self, sql: &str) -> Option<String> {
        let expression = analysis_predicate::parse(sql)?;
        let known: KnownCall<'_> = &|name: &str, arguments: &[String]| match (name, arguments) {
            ("user_attribute_contains", [key, ..]) => {
                (!self.attributes.contains_key(key.as_str())).then_some(false)
            }
            ("user_has_purpose", [purpose]) => {
                (!self.carried_purposes.contains(purpose.as_str())).then_some(false)
            }
            _ => None,
        };
        analysis_predicate::never_true(&expression, known)
    }

    /// Item 4: a row filter that keeps no rows for anyone it applies to.
    pub(super) fn row_predicate(&mut self, id: PolicyId, predicate: &crate::RowPredicate) {
        match predicate {
            crate::RowPredicate::Where { sql } => {
                self.sql_names(id, "where", sql);
                if let Some(why) = self.never_true(sql) {
                    self.report(
                        id,
                        FindingKind::KeepsNoRows,
                        format!(
                            "keeps no rows for anyone it applies to: `where` is never true ({why})"
                        ),
                    );
                }
            }
            crate::RowPredicate::Match { attribute, .. } => {
                let Some(values) = self.attributes.get(attribute.as_str()) else {
                    let suggestion = closest(attribute, self.attributes.keys().copied());
                    self.report(
                        id,
                        FindingKind::KeepsNoRows,
                        format!(
                            "keeps no rows for anyone it applies to: `match` uses attribute \
                             `{attribute}`, which no user has{}",
                            did_you_mean(suggestion)
                        ),
                    );
                    return;
                };
                let has_attribute = Condition::Attributes(BTreeMap::from([(
                    attribute.clone(),
                    values.iter().map(|value| (*value).to_owned()).collect(),
                )]));
                let condition = all(vec![self.applies_to[id].clone(), has_attribute]);
                if self.verdict(&condition) == Verdict::Never {
                    self.report(
                        id,
                        FindingKind::KeepsNoRows,
                        format!(
                            "keeps no rows for anyone it applies to: no user it applies to has \
                             attribute `{attribute}`, which `match` uses"
                        ),
                    );
                }
            }
            crate::RowPredicate::TimeWindow { .. } | crate::RowPredicate::Sample { .. } => {}
        }
    }

    /// Item 4 for pairs: two `where` filters of one data source, each of which may keep rows,
    /// that together keep none for anyone both apply to (Veil ANDs every row filter).
    pub(super) fn row_filter_pairs(&mut self) {
        let estate = self.estate;
        let mut seen = HashSet::new();
        for (data_source, bindings) in estate.bindings.iter().enumerate() {
            let filters: Vec<(PolicyId, &str)> = bindings
                .row_filters
                .iter()
                .filter_map(|&id| match &estate.policies[id].rule {
                    Rule::RowFilter(filter) => match &filter.predicate {
                        crate::RowPredicate::Where { sql } => Some((id, sql.as_str())),
                        _ => None,
                    },
                    _ => None,
                })
                .filter(|(_, sql)| self.never_true(sql).is_none())
                .collect();
            for (index, &(first, first_sql)) in filters.iter().enumerate() {
                for &(second, second_sql) in &filters[index + 1..] {
                    if !seen.insert((first, second)) {
                        continue;
                    }
                    let Some(why) = self.never_true(&format!("({first_sql}) AND ({second_sql})"))
                    else {
                        continue;
                    };
                    let both = all(vec![
                        self.applies_to[first].clone(),
                        self.applies_to[second].clone(),
                    ]);
                    if self.verdict(&both) == Verdict::Never {
                        continue;
                    }
                    self.report(
                        second,
                        FindingKind::KeepsNoRows,
                        format!(
                            "together with `{}`, keeps no rows of `{}` for anyone both apply to ({why})",
                            estate.policies[first].name, estate.data_sources[data_source].name
                        ),
                    );
                }
            }
        }
    }
}
