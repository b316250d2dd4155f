//! Validating one policy: what it targets, the users and purposes its conditions name, which
//! options fit its kind and method, its mask method and its row predicate.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::binding::targets_data_source;
use crate::bundle::{PolicyKind, PolicySpec};
use crate::condition::Condition;
use crate::error::LoadProblem;
use crate::model::*;
use crate::tag::match_depth;
use crate::trino_type::TypeFamily;

/// What policies may refer to: the entities that passed their own checks, from a bundle being
/// validated or from an estate (so that one policy can be checked without the others).
pub(crate) struct Known<'a> {
    pub(crate) data_sources: &'a [Arc<DataSource>],
    /// Whether a data source of that name exists.
    pub(crate) has_data_source: &'a dyn Fn(&str) -> bool,
    pub(crate) is_user: &'a dyn Fn(&str) -> bool,
    pub(crate) purposes: &'a HashSet<String>,
    /// Every tag some data source or column carries (with how many carry it).
    pub(crate) tags: &'a BTreeMap<String, usize>,
}

/// A policy tag is known when some data source or column carries it or a tag under it.
pub(crate) fn has_tag(tags: &BTreeMap<String, usize>, policy_tag: &str) -> bool {
    tags.keys()
        .any(|tag| match_depth(policy_tag, tag).is_some())
}

impl<'a> Known<'a> {
    fn has_tag(&self, policy_tag: &str) -> bool {
        has_tag(self.tags, policy_tag)
    }

    /// The data sources a policy's `on:` reaches.
    fn targeted(&self, spec: &PolicySpec) -> Vec<&DataSource> {
        self.data_sources
            .iter()
            .map(Arc::as_ref)
            .filter(|data_source| targets_data_source(&spec.on, data_source))
            .collect()
    }
}

/// The rule of a policy spec, or `None` when it has none; every problem goes to `problems`.
pub(crate) fn check_policy(
    spec: &PolicySpec,
    known: &Known<'_>,
    problems: &mut Vec<LoadProblem>,
) -> Option<Rule> {
    check_target(spec, known, problems);
    for condition in [
        &spec.allow,
        &spec.for_condition,
        &spec.except_condition,
        &spec.reveal,
    ]
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
        ("reveal", spec.reveal.is_some()),
        ("value", spec.value.is_some()),
        ("pattern", spec.pattern.is_some()),
        ("replacement", spec.replacement.is_some()),
        ("digits", spec.digits.is_some()),
        ("unit", spec.unit.is_some()),
        ("keep_first", spec.keep_first.is_some()),
        ("keep_last", spec.keep_last.is_some()),
        ("mask_char", spec.mask_char.is_some()),
        ("sql", spec.sql.is_some()),
        ("probability", spec.probability.is_some()),
        ("values", spec.values.is_some()),
        ("noise", spec.noise.is_some()),
        ("k", spec.k.is_some()),
        ("quasi_identifiers", spec.quasi_identifiers.is_some()),
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
                problems.push(LoadProblem::SubscriptionTargetsColumns);
            }
            match &spec.allow {
                Some(allow) => Some(Rule::Subscription {
                    allow: allow.clone(),
                }),
                None => {
                    problems.push(LoadProblem::SubscriptionWithoutAllow);
                    None
                }
            }
        }
        PolicyKind::Mask => {
            let (method, method_options) = check_method(spec, problems);
            if let Some(MaskMethod::KAnonymize {
                quasi_identifiers, ..
            }) = &method
            {
                let targeted = known.targeted(spec);
                for column in quasi_identifiers {
                    if !targeted
                        .iter()
                        .any(|data_source| data_source.column(column).is_some())
                    {
                        problems.push(LoadProblem::UnknownQuasiIdentifier {
                            column: column.clone(),
                        });
                    }
                }
            }
            allowed = method_options;
            match (spec.on.columns.is_empty(), spec.on.column_tags.is_empty()) {
                (true, true) => problems.push(LoadProblem::MaskWithoutColumns),
                (false, false) => problems.push(LoadProblem::MaskWithColumnsAndColumnTags),
                _ => {}
            }
            method.map(|method| {
                Rule::Mask(Mask {
                    audience: audience.clone(),
                    method,
                    when: spec.when.clone(),
                    reveal: spec.reveal.clone(),
                })
            })
        }
        PolicyKind::RowFilter => {
            if !spec.on.columns.is_empty() || !spec.on.column_tags.is_empty() {
                problems.push(LoadProblem::RowFilterTargetsColumns);
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
    for option in present {
        let common = matches!(option, "for" | "except") && spec.kind != PolicyKind::Subscription;
        let mask_common = matches!(option, "when" | "method") && spec.kind == PolicyKind::Mask;
        if !(common || mask_common || allowed.contains(&option)) {
            problems.push(match (spec.kind, &spec.method) {
                (PolicyKind::Mask, Some(method)) => LoadProblem::OptionDoesNotFitMethod {
                    option,
                    method: method.clone(),
                },
                (kind, _) => LoadProblem::OptionDoesNotFitKind { option, kind },
            });
        }
    }
    rule
}

fn check_target(spec: &PolicySpec, known: &Known<'_>, problems: &mut Vec<LoadProblem>) {
    for pattern in &spec.on.data_sources {
        let is_glob = pattern.contains(['*', '?']);
        if !is_glob && !(known.has_data_source)(pattern) {
            problems.push(LoadProblem::UnknownDataSource {
                data_source: pattern.clone(),
            });
        }
    }
    for tag in spec.on.tags.iter().chain(&spec.on.column_tags) {
        if !known.has_tag(tag) {
            problems.push(LoadProblem::UnknownTag { tag: tag.clone() });
        }
    }
    if spec.on.columns.is_empty() {
        return;
    }
    let targeted = known.targeted(spec);
    for column in &spec.on.columns {
        if !targeted
            .iter()
            .any(|data_source| data_source.column(column).is_some())
        {
            problems.push(LoadProblem::UnknownTargetColumn {
                column: column.clone(),
            });
        }
    }
}

fn check_condition(condition: &Condition, known: &Known<'_>, problems: &mut Vec<LoadProblem>) {
    condition.visit(&mut |inner| match inner {
        Condition::Users(users) => {
            for user in users {
                if !(known.is_user)(user) {
                    problems.push(LoadProblem::UnknownUser { user: user.clone() });
                }
            }
        }
        Condition::Purposes(purposes) => {
            for purpose in purposes {
                if !known.purposes.contains(purpose) {
                    problems.push(LoadProblem::UnknownPurpose {
                        purpose: purpose.clone(),
                    });
                }
            }
        }
        _ => {}
    });
}

fn check_method(
    spec: &PolicySpec,
    problems: &mut Vec<LoadProblem>,
) -> (Option<MaskMethod>, &'static [&'static str]) {
    let Some(method) = spec.method.as_deref() else {
        problems.push(LoadProblem::MaskWithoutMethod);
        return (None, &[]);
    };
    let mut require = |option: &'static str, value: Option<String>| {
        if value.is_none() {
            problems.push(LoadProblem::MethodNeedsOption {
                method: method.to_owned(),
                option,
            });
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
                    problems.push(LoadProblem::ValueNotScalar);
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
                        problems.push(LoadProblem::UnknownUnit {
                            unit: unit.to_owned(),
                        });
                        None
                    }
                },
                _ => {
                    problems.push(LoadProblem::RoundNeedsDigitsOrUnit);
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
                            problems.push(LoadProblem::MaskCharNotOneCharacter {
                                mask_char: text.to_owned(),
                            });
                            None
                        }
                    }
                }
            };
            if spec.keep_first.is_none() && spec.keep_last.is_none() {
                problems.push(LoadProblem::PartialNeedsKeep);
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
        "reversible" => (Some(MaskMethod::Reversible), &["reveal"]),
        "format_preserving" => (Some(MaskMethod::FormatPreserving), &[]),
        "randomized_response" => (
            check_randomized_response(spec, problems),
            &["probability", "values", "noise"],
        ),
        "k_anonymize" => {
            let needs = |option| LoadProblem::MethodNeedsOption {
                method: "k_anonymize".into(),
                option,
            };
            match spec.k {
                None => problems.push(needs("k")),
                Some(k) if k < 2 => problems.push(LoadProblem::KTooSmall { k }),
                Some(_) => {}
            }
            match &spec.quasi_identifiers {
                None => problems.push(needs("quasi_identifiers")),
                Some(columns) if columns.is_empty() => {
                    problems.push(LoadProblem::NoQuasiIdentifiers)
                }
                Some(_) => {}
            }
            let method = match (spec.k, &spec.quasi_identifiers) {
                (Some(k), Some(columns)) if k >= 2 && !columns.is_empty() => {
                    Some(MaskMethod::KAnonymize {
                        k,
                        quasi_identifiers: columns.clone(),
                    })
                }
                _ => None,
            };
            (method, &["k", "quasi_identifiers"])
        }
        other => {
            problems.push(LoadProblem::UnknownMethod {
                method: other.to_owned(),
            });
            (None, &[])
        }
    }
}

/// `randomized_response`: a `probability` in [0, 1] and exactly one of `values` (at least two
/// scalars, none twice) and `noise` (positive).
fn check_randomized_response(
    spec: &PolicySpec,
    problems: &mut Vec<LoadProblem>,
) -> Option<MaskMethod> {
    let probability = match spec.probability {
        None => {
            problems.push(LoadProblem::MethodNeedsOption {
                method: "randomized_response".into(),
                option: "probability",
            });
            None
        }
        Some(probability) if !(0.0..=1.0).contains(&probability) => {
            problems.push(LoadProblem::ProbabilityOutOfRange { probability });
            None
        }
        Some(probability) => Some(probability),
    };
    match (&spec.values, spec.noise) {
        (Some(values), None) => {
            let mut texts = Vec::new();
            for value in values {
                match value {
                    serde_norway::Value::String(text) => texts.push(text.clone()),
                    serde_norway::Value::Number(number) => texts.push(number.to_string()),
                    serde_norway::Value::Bool(flag) => texts.push(flag.to_string()),
                    _ => {
                        problems.push(LoadProblem::ValuesNotScalar);
                        return None;
                    }
                }
            }
            let mut distinct = texts.clone();
            distinct.sort();
            if let Some(pair) = distinct.windows(2).find(|pair| pair[0] == pair[1]) {
                // A value listed twice could answer a row with its own value.
                problems.push(LoadProblem::RepeatedValue {
                    value: pair[0].clone(),
                });
                return None;
            }
            if distinct.len() < 2 {
                problems.push(LoadProblem::TooFewValues);
                return None;
            }
            probability.map(|probability| MaskMethod::RandomizedValues {
                probability,
                values: texts,
            })
        }
        (None, Some(noise)) => {
            if !(noise > 0.0 && noise.is_finite()) {
                problems.push(LoadProblem::NoiseNotPositive { noise });
                return None;
            }
            probability.map(|probability| MaskMethod::RandomizedNoise { probability, noise })
        }
        _ => {
            problems.push(LoadProblem::RandomizedResponseNeedsValuesOrNoise);
            None
        }
    }
}

fn check_row_predicate(
    spec: &PolicySpec,
    known: &Known<'_>,
    problems: &mut Vec<LoadProblem>,
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
        problems.push(LoadProblem::RowFilterNeedsOnePredicate);
        return (None, allowed);
    }
    let targeted = known.targeted(spec);
    let check_column = |column: &str, problems: &mut Vec<LoadProblem>, temporal: bool| {
        for data_source in &targeted {
            match data_source.column(column) {
                None => problems.push(LoadProblem::UnknownColumn {
                    column: column.to_owned(),
                    data_source: data_source.name.clone(),
                }),
                Some(found) if temporal => {
                    if !matches!(
                        found.data_type.family(),
                        TypeFamily::Date | TypeFamily::Timestamp
                    ) {
                        problems.push(LoadProblem::ColumnNotTemporal {
                            column: column.to_owned(),
                            data_source: data_source.name.clone(),
                            data_type: found.data_type.clone(),
                        });
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
                problems.push(LoadProblem::TimeWindowNeedsOneAmount);
                None
            }
        }
    } else if let Some(sample) = &spec.sample {
        check_column(&sample.column, problems, false);
        if !(sample.percent > 0.0 && sample.percent <= 100.0) {
            problems.push(LoadProblem::SamplePercentOutOfRange {
                percent: sample.percent,
            });
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
