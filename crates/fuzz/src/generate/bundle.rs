//! Whole bundles as plans (`BundlePlan`): data sources, users, projects and policies of
//! every kind, method and condition, with names drawn from shared pools so references mostly
//! resolve.

use proptest::prelude::*;
use proptest::sample::Index;
use veil_policy::{
    Bundle, ColumnSpec, Condition, DataSourceSpec, MatchSpec, PolicyKind, PolicySpec, ProjectSpec,
    PurposeSpec, SampleSpec, SettingsSpec, TargetSpec, TimeWindowSpec, UserSpec,
};

use super::*;

#[derive(Debug, Clone)]
pub(super) enum ConditionPlan {
    Everyone,
    Users(Vec<Index>),
    Groups(Vec<Index>),
    Attributes(Vec<(Index, Vec<Index>)>),
    Purposes(Vec<Index>),
    All(Vec<ConditionPlan>),
    Any(Vec<ConditionPlan>),
    Not(Box<ConditionPlan>),
}

pub(super) fn condition() -> impl Strategy<Value = ConditionPlan> {
    let indexes = || proptest::collection::vec(any::<Index>(), 1..3);
    let leaf = prop_oneof![
        3 => Just(ConditionPlan::Everyone),
        2 => indexes().prop_map(ConditionPlan::Users),
        3 => indexes().prop_map(ConditionPlan::Groups),
        2 => proptest::collection::vec((any::<Index>(), indexes()), 1..3).prop_map(ConditionPlan::Attributes),
        1 => indexes().prop_map(ConditionPlan::Purposes),
    ];
    leaf.prop_recursive(3, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(ConditionPlan::All),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(ConditionPlan::Any),
            inner.prop_map(|inner| ConditionPlan::Not(Box::new(inner))),
        ]
    })
}

#[derive(Debug, Clone)]
pub(super) enum Method {
    Hash,
    Nullify,
    Constant(String),
    Regex(String, String),
    RoundDigits(i32),
    RoundUnit(String),
    Partial(u32, u32, Option<String>),
    Expression(Predicate),
    Reversible,
    FormatPreserving,
    RandomizedValues(f64, Vec<String>),
    RandomizedNoise(f64, f64),
    /// `k` and the quasi-identifiers, as indexes into the column pool (some may miss).
    KAnonymize(u32, Vec<Index>),
}

pub(super) fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Hash),
        Just(Method::Nullify),
        prop_oneof![hostile(), "-?[0-9]{1,4}", Just("2026-01-31".to_owned())]
            .prop_map(Method::Constant),
        (hostile(), hostile())
            .prop_map(|(pattern, replacement)| Method::Regex(pattern, replacement)),
        (-3i32..4).prop_map(Method::RoundDigits),
        prop_oneof![
            proptest::sample::select(
                &["year", "quarter", "month", "week", "day", "hour", "minute"][..]
            )
            .prop_map(str::to_owned),
            hostile(),
        ]
        .prop_map(Method::RoundUnit),
        (0u32..4, 0u32..4, proptest::option::of(hostile()))
            .prop_map(|(first, last, character)| Method::Partial(first, last, character)),
        predicate().prop_map(Method::Expression),
        Just(Method::Reversible),
        Just(Method::FormatPreserving),
        (0.0f64..=1.0, proptest::collection::vec(hostile(), 2..5))
            .prop_map(|(probability, values)| Method::RandomizedValues(probability, values)),
        (0.0f64..=1.0, prop_oneof![0.5f64..1000.0, Just(1.0)])
            .prop_map(|(probability, noise)| Method::RandomizedNoise(probability, noise)),
        (2u32..6, proptest::collection::vec(any::<Index>(), 1..4))
            .prop_map(|(k, columns)| Method::KAnonymize(k, columns)),
    ]
}

#[derive(Debug, Clone)]
pub(super) enum RowPlan {
    Where(Predicate),
    Match(Index, Index),
    TimeWindow(Index, u32, u8),
    Sample(f64, Index),
}

pub(super) fn row_plan() -> impl Strategy<Value = RowPlan> {
    prop_oneof![
        3 => predicate().prop_map(RowPlan::Where),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(column, key)| RowPlan::Match(column, key)),
        1 => (any::<Index>(), 0u32..100, 0u8..3).prop_map(|(column, amount, unit)| RowPlan::TimeWindow(column, amount, unit)),
        1 => (prop_oneof![0.0f64..=100.0, Just(0.001), Just(99.999)], any::<Index>())
            .prop_map(|(percent, column)| RowPlan::Sample(percent, column)),
    ]
}

#[derive(Debug, Clone)]
pub(super) struct TargetPlan {
    data_sources: Vec<Index>,
    glob: bool,
    tags: Vec<Index>,
    columns: Vec<Index>,
    by_column_tags: bool,
}

pub(super) fn target() -> impl Strategy<Value = TargetPlan> {
    (
        proptest::collection::vec(any::<Index>(), 0..3),
        proptest::bool::weighted(0.2),
        proptest::collection::vec(any::<Index>(), 0..2),
        proptest::collection::vec(any::<Index>(), 1..3),
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            |(data_sources, glob, tags, columns, by_column_tags)| TargetPlan {
                data_sources,
                glob,
                tags,
                columns,
                by_column_tags,
            },
        )
}

#[derive(Debug, Clone)]
pub(super) enum RulePlan {
    Subscription(ConditionPlan),
    Mask {
        method: Method,
        when: Option<Predicate>,
        for_condition: Option<ConditionPlan>,
        except: Option<ConditionPlan>,
    },
    RowFilter {
        plan: RowPlan,
        for_condition: Option<ConditionPlan>,
        except: Option<ConditionPlan>,
    },
}

pub(super) fn rule() -> impl Strategy<Value = RulePlan> {
    prop_oneof![
        2 => condition().prop_map(RulePlan::Subscription),
        3 => (method(), proptest::option::weighted(0.3, predicate()), proptest::option::weighted(0.3, condition()), proptest::option::weighted(0.3, condition()))
            .prop_map(|(method, when, for_condition, except)| RulePlan::Mask { method, when, for_condition, except }),
        2 => (row_plan(), proptest::option::weighted(0.3, condition()), proptest::option::weighted(0.3, condition()))
            .prop_map(|(plan, for_condition, except)| RulePlan::RowFilter { plan, for_condition, except }),
    ]
}

#[derive(Debug, Clone)]
pub(super) struct DataSourcePlan {
    name: String,
    backing: [String; 3],
    tags: Vec<Index>,
    /// Columns as (index into the column pool, type, tags).
    columns: Vec<(Index, String, Vec<Index>)>,
}

pub(super) fn data_source() -> impl Strategy<Value = DataSourcePlan> {
    let part = || {
        prop_oneof![
            3 => "[a-z]{1,5}",
            1 => hostile().prop_map(|text| text.replace('.', "")),
        ]
        .prop_map(|text| {
            if text.is_empty() {
                "p".to_owned()
            } else {
                text
            }
        })
    };
    (
        prop_oneof![9 => "[a-z_]{1,4}\\.[a-z_0-9]{1,4}", 1 => hostile()],
        [part(), part(), part()],
        proptest::collection::vec(any::<Index>(), 0..2),
        proptest::collection::vec(
            (
                any::<Index>(),
                column_type(),
                proptest::collection::vec(any::<Index>(), 0..2),
            ),
            1..6,
        ),
    )
        .prop_map(|(name, backing, tags, columns)| DataSourcePlan {
            name,
            backing,
            tags,
            columns,
        })
}

/// A user: name, groups and attributes (key, values) as indexes into the pools.
type UserPlan = (String, Vec<Index>, Vec<(Index, Vec<Index>)>);

/// A whole bundle as indexes into its pools; [`BundlePlan::build`] resolves it.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    pub pools: Pools,
    data_sources: Vec<DataSourcePlan>,
    users: Vec<UserPlan>,
    projects: Vec<(String, Vec<Index>, Vec<Index>)>,
    policies: Vec<(TargetPlan, RulePlan)>,
    mask_key: Option<String>,
    pub functions_catalog: String,
    /// A user the bundle does not know, who asks too.
    pub stranger: String,
}

pub fn bundle_plan() -> impl Strategy<Value = BundlePlan> {
    (
        pools(),
        proptest::collection::vec(data_source(), 1..4),
        proptest::collection::vec(
            (
                name(),
                proptest::collection::vec(any::<Index>(), 0..3),
                proptest::collection::vec(
                    (
                        any::<Index>(),
                        proptest::collection::vec(any::<Index>(), 1..3),
                    ),
                    0..3,
                ),
            ),
            0..4,
        ),
        proptest::collection::vec(
            (
                name(),
                proptest::collection::vec(any::<Index>(), 0..2),
                proptest::collection::vec(any::<Index>(), 0..2),
            ),
            0..2,
        ),
        proptest::collection::vec((target(), rule()), 1..8),
        proptest::option::weighted(0.2, prop_oneof!["[a-z0-9_.-]{1,8}", hostile()]),
        name(),
        name(),
    )
        .prop_map(
            |(pools, data_sources, users, projects, policies, mask_key, catalog, stranger)| {
                BundlePlan {
                    pools,
                    data_sources,
                    users,
                    projects,
                    policies,
                    mask_key,
                    functions_catalog: catalog,
                    stranger,
                }
            },
        )
}

/// A mask option's value as YAML: a string, or a number when it reads as one.
pub(super) fn yaml_value(text: &str) -> serde_norway::Value {
    match text.parse::<i64>() {
        Ok(number) => serde_norway::Value::Number(number.into()),
        Err(_) => serde_norway::Value::String(text.to_owned()),
    }
}

impl BundlePlan {
    /// The bundle, with every index resolved against the pools.
    pub fn build(&self) -> Bundle {
        let pools = &self.pools;
        let data_sources: Vec<DataSourceSpec> = self
            .data_sources
            .iter()
            .map(|plan| DataSourceSpec {
                name: plan.name.clone(),
                table: plan.backing.join("."),
                tags: plan
                    .tags
                    .iter()
                    .map(|tag| pick(tag, &pools.tags).to_owned())
                    .collect(),
                columns: plan
                    .columns
                    .iter()
                    .map(|(column, data_type, tags)| ColumnSpec {
                        name: pick(column, &pools.columns).to_owned(),
                        data_type: data_type.clone(),
                        tags: tags
                            .iter()
                            .map(|tag| pick(tag, &pools.tags).to_owned())
                            .collect(),
                        description: None,
                    })
                    .collect(),
                description: Some(plan.name.clone()),
            })
            .collect();
        let users: Vec<UserSpec> = self
            .users
            .iter()
            .map(|(name, groups, attributes)| UserSpec {
                name: name.clone(),
                groups: groups
                    .iter()
                    .map(|group| pick(group, &pools.groups).to_owned())
                    .collect(),
                attributes: attributes
                    .iter()
                    .map(|(key, values)| {
                        (
                            pick(key, &pools.keys).to_owned(),
                            values
                                .iter()
                                .map(|value| pick(value, &pools.values).to_owned())
                                .collect(),
                        )
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let user_names: Vec<String> = users.iter().map(|user| user.name.clone()).collect();
        let data_source_names: Vec<String> =
            data_sources.iter().map(|spec| spec.name.clone()).collect();
        let projects = self
            .projects
            .iter()
            .map(|(name, purposes, members)| ProjectSpec {
                name: name.clone(),
                purposes: purposes
                    .iter()
                    .map(|purpose| pick(purpose, &pools.purposes).to_owned())
                    .collect(),
                members: members
                    .iter()
                    .filter(|_| !user_names.is_empty())
                    .map(|member| member.get(&user_names).clone())
                    .collect(),
            })
            .collect();
        let condition = |plan: &ConditionPlan| build_condition(plan, pools, &user_names);
        let policies = self
            .policies
            .iter()
            .enumerate()
            .map(|(number, (target, rule))| {
                let mut on = TargetSpec {
                    data_sources: target
                        .data_sources
                        .iter()
                        .map(|index| index.get(&data_source_names).clone())
                        .collect(),
                    tags: target
                        .tags
                        .iter()
                        .map(|tag| pick(tag, &pools.tags).to_owned())
                        .collect(),
                    ..TargetSpec::default()
                };
                if target.glob {
                    on.data_sources = vec!["*".to_owned()];
                }
                let mut spec = policy(format!("p{number}"), PolicyKind::Subscription);
                match rule {
                    RulePlan::Subscription(allow) => spec.allow = Some(condition(allow)),
                    RulePlan::Mask {
                        method,
                        when,
                        for_condition,
                        except,
                    } => {
                        spec.kind = PolicyKind::Mask;
                        let names = target.columns.iter();
                        if target.by_column_tags {
                            on.column_tags =
                                names.map(|tag| pick(tag, &pools.tags).to_owned()).collect();
                        } else {
                            on.columns = names
                                .map(|column| pick(column, &pools.columns).to_owned())
                                .collect();
                        }
                        spec.when = when
                            .as_ref()
                            .map(|when| when.to_sql(pools, &mut Vec::new()));
                        spec.for_condition = for_condition.as_ref().map(condition);
                        spec.except_condition = except.as_ref().map(condition);
                        if matches!(method, Method::Reversible) {
                            // Who may reveal: any condition will do, it shapes no SQL.
                            spec.reveal = except.as_ref().or(for_condition.as_ref()).map(condition);
                        }
                        set_method(&mut spec, method, pools);
                    }
                    RulePlan::RowFilter {
                        plan,
                        for_condition,
                        except,
                    } => {
                        spec.kind = PolicyKind::RowFilter;
                        spec.for_condition = for_condition.as_ref().map(condition);
                        spec.except_condition = except.as_ref().map(condition);
                        let column = |index: &Index| pick(index, &pools.columns).to_owned();
                        match plan {
                            RowPlan::Where(predicate) => {
                                spec.where_predicate =
                                    Some(predicate.to_sql(pools, &mut Vec::new()))
                            }
                            RowPlan::Match(index, key) => {
                                spec.match_attribute = Some(MatchSpec {
                                    column: column(index),
                                    attribute: pick(key, &pools.keys).to_owned(),
                                })
                            }
                            RowPlan::TimeWindow(index, amount, unit) => {
                                let amount = Some(*amount);
                                spec.time_window = Some(TimeWindowSpec {
                                    column: column(index),
                                    days: amount.filter(|_| *unit == 0),
                                    hours: amount.filter(|_| *unit == 1),
                                    minutes: amount.filter(|_| *unit == 2),
                                })
                            }
                            RowPlan::Sample(percent, index) => {
                                spec.sample = Some(SampleSpec {
                                    percent: *percent,
                                    column: column(index),
                                })
                            }
                        }
                    }
                }
                spec.on = on;
                spec
            })
            .collect();
        Bundle {
            data_sources,
            users,
            purposes: pools
                .purposes
                .iter()
                .map(|purpose| PurposeSpec {
                    name: purpose.clone(),
                    description: None,
                })
                .collect(),
            projects,
            policies,
            settings: SettingsSpec {
                mask_key: self.mask_key.clone(),
            },
            groups: Vec::new(),
        }
    }
}

pub(super) fn policy(name: String, kind: PolicyKind) -> PolicySpec {
    PolicySpec::new(name, kind)
}

pub(super) fn set_method(spec: &mut PolicySpec, method: &Method, pools: &Pools) {
    let name = match method {
        Method::Hash => "hash",
        Method::Nullify => "nullify",
        Method::Constant(value) => {
            spec.value = Some(yaml_value(value));
            "constant"
        }
        Method::Regex(pattern, replacement) => {
            spec.pattern = Some(pattern.clone());
            spec.replacement = Some(replacement.clone());
            "regex"
        }
        Method::RoundDigits(digits) => {
            spec.digits = Some(*digits);
            "round"
        }
        Method::RoundUnit(unit) => {
            spec.unit = Some(unit.clone());
            "round"
        }
        Method::Partial(first, last, character) => {
            spec.keep_first = Some(*first);
            spec.keep_last = Some(*last);
            spec.mask_char = character.clone();
            "partial"
        }
        Method::Expression(predicate) => {
            spec.sql = Some(predicate.to_sql(pools, &mut Vec::new()));
            "expression"
        }
        Method::Reversible => "reversible",
        Method::FormatPreserving => "format_preserving",
        Method::RandomizedValues(probability, values) => {
            spec.probability = Some(*probability);
            spec.values = Some(values.iter().map(|value| yaml_value(value)).collect());
            "randomized_response"
        }
        Method::RandomizedNoise(probability, noise) => {
            spec.probability = Some(*probability);
            spec.noise = Some(*noise);
            "randomized_response"
        }
        Method::KAnonymize(k, columns) => {
            spec.k = Some(*k);
            spec.quasi_identifiers = Some(
                columns
                    .iter()
                    .map(|index| pick(index, &pools.columns).to_owned())
                    .collect(),
            );
            "k_anonymize"
        }
    };
    spec.method = Some(name.to_owned());
}

pub(super) fn build_condition(plan: &ConditionPlan, pools: &Pools, users: &[String]) -> Condition {
    let from = |indexes: &[Index], pool: &[String]| -> Vec<String> {
        indexes
            .iter()
            .map(|index| pick(index, pool).to_owned())
            .collect()
    };
    match plan {
        ConditionPlan::Everyone => Condition::Everyone,
        ConditionPlan::Users(indexes) => Condition::Users(from(indexes, users)),
        ConditionPlan::Groups(indexes) => Condition::Groups(from(indexes, &pools.groups)),
        ConditionPlan::Attributes(wanted) => Condition::Attributes(
            wanted
                .iter()
                .map(|(key, values)| {
                    (
                        pick(key, &pools.keys).to_owned(),
                        from(values, &pools.values),
                    )
                })
                .collect(),
        ),
        ConditionPlan::Purposes(indexes) => Condition::Purposes(from(indexes, &pools.purposes)),
        ConditionPlan::All(inner) => Condition::All(
            inner
                .iter()
                .map(|inner| build_condition(inner, pools, users))
                .collect(),
        ),
        ConditionPlan::Any(inner) => Condition::Any(
            inner
                .iter()
                .map(|inner| build_condition(inner, pools, users))
                .collect(),
        ),
        ConditionPlan::Not(inner) => Condition::Not(Box::new(build_condition(inner, pools, users))),
    }
}
