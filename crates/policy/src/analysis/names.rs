//! Item 5 of `veil check`: targets, conditions and SQL naming tags, groups, attributes or
//! data sources that nothing in the estate has (likely typos, with a "did you mean").

use super::*;

impl Analyzer<'_> {
    /// Item 5 for `on`: globs that match nothing, tags carried at the other level or not at
    /// all. Returns whether it reported anything.
    pub(super) fn target_names(&mut self, id: PolicyId) -> bool {
        let estate = self.estate;
        let target = &estate.policies[id].target;
        let mut reported = false;
        for pattern in &target.data_sources {
            let is_glob = pattern.contains(['*', '?']);
            if is_glob
                && !estate
                    .data_sources
                    .iter()
                    .any(|source| glob_matches(pattern, &source.name))
            {
                let mut candidates: BTreeSet<String> = BTreeSet::new();
                for source in estate.data_sources.iter() {
                    candidates.insert(source.name.clone());
                    candidates.insert(format!("{}.*", source.schema));
                }
                let suggestion = closest(pattern, candidates.iter().map(String::as_str));
                self.report(
                    id,
                    FindingKind::UnknownName,
                    format!(
                        "data source glob `{pattern}` matches no data source{}",
                        did_you_mean(suggestion)
                    ),
                );
                reported = true;
            }
        }
        for tag in &target.tags {
            if !self.data_source_tags.contains(tag) {
                let elsewhere = if self.column_tags.contains(tag) {
                    " (columns carry it: target columns with `column_tags`)"
                } else {
                    ""
                };
                let suggestion = closest(tag, self.data_source_tags.iter().map(String::as_str));
                self.report(
                    id,
                    FindingKind::UnknownName,
                    format!(
                        "no data source carries tag `{tag}`{elsewhere}{}",
                        did_you_mean(suggestion)
                    ),
                );
                reported = true;
            }
        }
        for tag in &target.column_tags {
            if !self.column_tags.contains(tag) {
                let elsewhere = if self.data_source_tags.contains(tag) {
                    " (data sources carry it: target them with `tags`)"
                } else {
                    ""
                };
                let suggestion = closest(tag, self.column_tags.iter().map(String::as_str));
                self.report(
                    id,
                    FindingKind::UnknownName,
                    format!(
                        "no column carries tag `{tag}`{elsewhere}{}",
                        did_you_mean(suggestion)
                    ),
                );
                reported = true;
            }
        }
        reported
    }

    /// Item 5 for conditions: groups and attributes no stored user has.
    pub(super) fn condition_names(&mut self, id: PolicyId) {
        let estate = self.estate;
        let policy = &estate.policies[id];
        let mut conditions: Vec<&Condition> = Vec::new();
        policy
            .rule
            .visit_conditions(&mut |condition| conditions.push(condition));
        let mut groups = BTreeSet::new();
        let mut attributes: BTreeSet<(&str, Option<&str>)> = BTreeSet::new();
        for condition in conditions {
            condition.visit(&mut |inner| match inner {
                Condition::Groups(named) => groups.extend(named.iter().map(String::as_str)),
                Condition::Attributes(wanted) => {
                    for (key, values) in wanted {
                        attributes.insert((key.as_str(), None));
                        attributes.extend(values.iter().map(|v| (key.as_str(), Some(v.as_str()))));
                    }
                }
                _ => {}
            });
        }
        for group in groups {
            self.unknown_group(id, group);
        }
        for (key, value) in attributes {
            match (self.attributes.get(key), value) {
                (None, None) => self.unknown_attribute(id, key),
                (Some(held), Some(value)) if !held.contains(value) => {
                    let suggestion = closest(value, held.iter().copied());
                    self.report(
                        id,
                        FindingKind::UnknownName,
                        format!(
                            "no user has value `{value}` of attribute `{key}`{}",
                            did_you_mean(suggestion)
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    pub(super) fn unknown_group(&mut self, id: PolicyId, group: &str) {
        if self.groups.contains(group) {
            return;
        }
        let suggestion = closest(group, self.groups.iter().copied());
        self.report(
            id,
            FindingKind::UnknownName,
            format!(
                "no user in the bundle has group `{group}`, only Trino could send it{}",
                did_you_mean(suggestion)
            ),
        );
    }

    pub(super) fn unknown_attribute(&mut self, id: PolicyId, key: &str) {
        let suggestion = closest(key, self.attributes.keys().copied());
        self.report(
            id,
            FindingKind::UnknownName,
            format!("no user has attribute `{key}`{}", did_you_mean(suggestion)),
        );
    }

    /// Item 5 for SQL: `user_in_group` and `user_attribute_contains` naming what no user has.
    pub(super) fn sql_names(&mut self, id: PolicyId, _option: &str, sql: &str) {
        let Some(expression) = analysis_predicate::parse(sql) else {
            return;
        };
        let mut groups = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (name, arguments) in analysis_predicate::calls(&expression) {
            match (name.as_str(), arguments.first()) {
                ("user_in_group", Some(group)) => {
                    groups.insert(group.clone());
                }
                ("user_attribute_contains", Some(key)) => {
                    keys.insert(key.clone());
                }
                _ => {}
            }
        }
        for group in groups {
            self.unknown_group(id, &group);
        }
        for key in keys {
            if !self.attributes.contains_key(key.as_str()) {
                self.unknown_attribute(id, &key);
            }
        }
    }
}
