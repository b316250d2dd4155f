//! Generators: hostile strings, whole bundles that mostly load (names drawn from shared pools,
//! so references resolve), predicates from a small SQL grammar, and mutated YAML text.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;
use veil_policy::{
    Bundle, ColumnSpec, Condition, DataSourceSpec, MatchSpec, PolicyKind, PolicySpec, ProjectSpec,
    PurposeSpec, SampleSpec, SettingsSpec, TargetSpec, TimeWindowSpec, UserSpec,
};

/// Values that broke (or could break) quoting somewhere: quotes, backslashes, comments, line
/// breaks, the compiler's own placeholder, non-ASCII.
pub const HOSTILE: &[&str] = &[
    "x' OR 1=1 --",
    "a''b",
    r"\'",
    r"\",
    "\"quoted\"",
    "semi; DROP TABLE t; --",
    "line\nbreak",
    "cr\r\nlf",
    "/* comment */",
    "ünïcødé ✓ 日本",
    "'",
    "\"",
    "__veil_slot_0",
    "$$dollar$$",
    "`tick`",
    "[bracket]",
    "E'\\''",
    "tab\there",
    " leading and trailing ",
    "#hash",
    "- dash",
    "key: value",
    "{a: b}",
    "&anchor *alias",
    "!!str",
    "null",
    "true",
    "0x1F",
    "É",
    "\u{feff}bom",
    "🙂",
];

/// Characters random strings are made of: the quoting and YAML specials, and some letters.
const CHARACTERS: &[char] = &[
    '\'', '"', '\\', '\n', ' ', '-', '/', '*', ';', ':', '#', '&', '!', '`', '$', '[', ']', '{',
    '}', ',', '_', '.', '%', '?', 'a', 'b', 'z', 'A', 'Z', '0', '1', 'é', 'É', '日', '\t', '\r',
    '\u{0}', '\u{7f}', '\u{85}', '🙂',
];
// Not U+2028 or U+2029: serde_norway writes them raw in a single-quoted scalar followed by an
// indentation that reads back as part of the value (a known finding, see docs/testing.md).

/// A string that may be hostile: a known one, a plain word, or random special characters.
pub fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(HOSTILE).prop_map(str::to_owned),
        3 => "[a-z]{1,6}",
        4 => proptest::collection::vec(proptest::sample::select(CHARACTERS), 0..8)
            .prop_map(|characters| characters.into_iter().collect()),
    ]
}

/// A string that is never empty (names must not be).
pub fn name() -> impl Strategy<Value = String> {
    hostile().prop_map(|text| {
        if text.is_empty() {
            "n".to_owned()
        } else {
            text
        }
    })
}

const TYPES: &[&str] = &[
    "bigint",
    "integer",
    "smallint",
    "tinyint",
    "varchar",
    "varchar(5)",
    "char(3)",
    "decimal(12,2)",
    "decimal(3,0)",
    "double",
    "real",
    "boolean",
    "date",
    "timestamp(3)",
    "timestamp(6) with time zone",
    "time",
    "time with time zone",
    "uuid",
    "json",
    "varbinary",
    "array(varchar)",
    "map(varchar, bigint)",
    "row(a bigint, \"b c\" varchar)",
    "interval day to second",
];

fn column_type() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => proptest::sample::select(TYPES).prop_map(str::to_owned),
        1 => hostile(),
    ]
}

/// The names a bundle's entities draw from, so references mostly resolve.
#[derive(Debug, Clone)]
pub struct Pools {
    pub columns: Vec<String>,
    pub groups: Vec<String>,
    pub keys: Vec<String>,
    pub values: Vec<String>,
    pub tags: Vec<String>,
    pub purposes: Vec<String>,
}

fn pools() -> impl Strategy<Value = Pools> {
    (
        proptest::collection::vec(name(), 1..6),
        proptest::collection::vec(hostile(), 1..4),
        proptest::collection::vec(hostile(), 1..3),
        proptest::collection::vec(hostile(), 1..5),
        proptest::collection::vec(
            prop_oneof!["[A-Z][a-z]{0,3}(\\.[A-Z][a-z]{0,3})?", hostile()],
            1..4,
        ),
        proptest::collection::vec(hostile(), 0..3),
    )
        .prop_map(|(columns, groups, keys, values, tags, purposes)| Pools {
            columns,
            groups,
            keys,
            values,
            tags,
            purposes,
        })
}

/// A predicate as a tree; printed to SQL by [`Predicate::to_sql`], with the literals it holds.
#[derive(Debug, Clone)]
pub enum Predicate {
    Column(Index, bool),
    Literal(String),
    /// A literal in a form Trino reads differently from sqlparser's generic dialect.
    OddLiteral(&'static str, String),
    Number(i64),
    True,
    Null,
    UserName,
    InGroup(Index),
    HasPurpose(Index),
    AttributeContains(Index, Box<Predicate>),
    Compare(Box<Predicate>, &'static str, Box<Predicate>),
    Not(Box<Predicate>),
    IsNull(Box<Predicate>),
    In(Box<Predicate>, Vec<Predicate>),
    Call(&'static str, Vec<Predicate>),
    Case(Box<Predicate>, Box<Predicate>, Box<Predicate>),
    Cast(Box<Predicate>),
}

const OPERATORS: &[&str] = &["=", "<>", "<", ">=", "AND", "OR", "||", "+", "LIKE"];
const FUNCTIONS: &[&str] = &["lower", "upper", "length", "coalesce", "concat", "substr"];
const ODD_PREFIXES: &[&str] = &["E", "U&", "N", "X", "B", "R"];

fn predicate() -> impl Strategy<Value = Predicate> {
    let leaf = prop_oneof![
        4 => (any::<Index>(), any::<bool>()).prop_map(|(index, quoted)| Predicate::Column(index, quoted)),
        4 => hostile().prop_map(Predicate::Literal),
        1 => (proptest::sample::select(ODD_PREFIXES), prop_oneof![
                hostile(),
                proptest::sample::select(&["\\x5f_veil_slot_0", "\\'", "\\\\", "\\0041", "\\' OR TRUE --"][..]).prop_map(str::to_owned),
            ]).prop_map(|(prefix, text)| Predicate::OddLiteral(prefix, text)),
        1 => any::<i64>().prop_map(Predicate::Number),
        1 => Just(Predicate::True),
        1 => Just(Predicate::Null),
        2 => Just(Predicate::UserName),
        2 => any::<Index>().prop_map(Predicate::InGroup),
        1 => any::<Index>().prop_map(Predicate::HasPurpose),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (any::<Index>(), inner.clone())
                .prop_map(|(key, inner)| Predicate::AttributeContains(key, Box::new(inner))),
            (
                inner.clone(),
                proptest::sample::select(OPERATORS),
                inner.clone()
            )
                .prop_map(|(left, operator, right)| Predicate::Compare(
                    Box::new(left),
                    operator,
                    Box::new(right)
                )),
            inner
                .clone()
                .prop_map(|inner| Predicate::Not(Box::new(inner))),
            inner
                .clone()
                .prop_map(|inner| Predicate::IsNull(Box::new(inner))),
            (
                inner.clone(),
                proptest::collection::vec(inner.clone(), 1..3)
            )
                .prop_map(|(left, list)| Predicate::In(Box::new(left), list)),
            (
                proptest::sample::select(FUNCTIONS),
                proptest::collection::vec(inner.clone(), 1..3)
            )
                .prop_map(|(function, arguments)| Predicate::Call(function, arguments)),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(when, then, otherwise)| {
                Predicate::Case(Box::new(when), Box::new(then), Box::new(otherwise))
            }),
            inner.prop_map(|inner| Predicate::Cast(Box::new(inner))),
        ]
    })
}

/// SQL text exactly as a policy author would write it: literals with `'` doubled, identifiers
/// with `"` doubled.
fn quote(text: &str, quote: char) -> String {
    let doubled = format!("{quote}{quote}");
    format!("{quote}{}{quote}", text.replace(quote, &doubled))
}

/// Picks from a pool, or a fixed word when the pool is empty.
fn pick<'a>(index: &Index, pool: &'a [String]) -> &'a str {
    if pool.is_empty() {
        "none"
    } else {
        index.get(pool).as_str()
    }
}

impl Predicate {
    /// The SQL text; `literals` receives every plain literal written (not the compile-time
    /// functions' arguments), which must come out of the compiler unchanged.
    pub fn to_sql(&self, pools: &Pools, literals: &mut Vec<String>) -> String {
        match self {
            Predicate::Column(index, quoted) => {
                let column = pick(index, &pools.columns);
                let bare = column
                    .chars()
                    .next()
                    .is_some_and(|first| first.is_ascii_lowercase())
                    && column
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if bare && !quoted {
                    column.to_owned()
                } else {
                    quote(column, '"')
                }
            }
            Predicate::Literal(text) => {
                literals.push(text.clone());
                quote(text, '\'')
            }
            Predicate::OddLiteral(prefix, text) => format!("{prefix}{}", quote(text, '\'')),
            Predicate::Number(number) => number.to_string(),
            Predicate::True => "TRUE".to_owned(),
            Predicate::Null => "NULL".to_owned(),
            Predicate::UserName => "user_name()".to_owned(),
            Predicate::InGroup(index) => {
                format!("user_in_group({})", quote(pick(index, &pools.groups), '\''))
            }
            Predicate::HasPurpose(index) => format!(
                "user_has_purpose({})",
                quote(pick(index, &pools.purposes), '\'')
            ),
            Predicate::AttributeContains(index, inner) => format!(
                "user_attribute_contains({}, {})",
                quote(pick(index, &pools.keys), '\''),
                inner.to_sql(pools, literals)
            ),
            Predicate::Compare(left, operator, right) => format!(
                "({} {operator} {})",
                left.to_sql(pools, literals),
                right.to_sql(pools, literals)
            ),
            Predicate::Not(inner) => format!("NOT ({})", inner.to_sql(pools, literals)),
            Predicate::IsNull(inner) => format!("({}) IS NULL", inner.to_sql(pools, literals)),
            Predicate::In(left, list) => {
                let left = left.to_sql(pools, literals);
                let list: Vec<String> = list
                    .iter()
                    .map(|item| item.to_sql(pools, literals))
                    .collect();
                format!("({left}) IN ({})", list.join(", "))
            }
            Predicate::Call(function, arguments) => {
                let arguments: Vec<String> = arguments
                    .iter()
                    .map(|argument| argument.to_sql(pools, literals))
                    .collect();
                format!("{function}({})", arguments.join(", "))
            }
            Predicate::Case(when, then, otherwise) => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                when.to_sql(pools, literals),
                then.to_sql(pools, literals),
                otherwise.to_sql(pools, literals)
            ),
            Predicate::Cast(inner) => format!("CAST({} AS varchar)", inner.to_sql(pools, literals)),
        }
    }
}

/// A predicate with the pools its names come from: the input of the template property.
#[derive(Debug, Clone)]
pub struct PredicateCase {
    pub pools: Pools,
    pub predicate: Predicate,
    pub user: String,
    pub groups: Vec<Index>,
    pub attributes: Vec<(Index, Vec<String>)>,
}

pub fn predicate_case() -> impl Strategy<Value = PredicateCase> {
    (
        pools(),
        predicate(),
        name(),
        proptest::collection::vec(any::<Index>(), 0..3),
        proptest::collection::vec(
            (any::<Index>(), proptest::collection::vec(hostile(), 0..3)),
            0..3,
        ),
    )
        .prop_map(
            |(pools, predicate, user, groups, attributes)| PredicateCase {
                pools,
                predicate,
                user,
                groups,
                attributes,
            },
        )
}

/// Raw text for the template parser: mostly grammar output, sometimes mutated or random.
pub fn template_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (pools(), predicate(), proptest::collection::vec(mutation(), 0..3)).prop_map(
            |(pools, predicate, mutations)| {
                mutate(&predicate.to_sql(&pools, &mut Vec::new()), &mutations)
            }
        ),
        1 => hostile(),
        1 => any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum ConditionPlan {
    Everyone,
    Users(Vec<Index>),
    Groups(Vec<Index>),
    Attributes(Vec<(Index, Vec<Index>)>),
    Purposes(Vec<Index>),
    All(Vec<ConditionPlan>),
    Any(Vec<ConditionPlan>),
    Not(Box<ConditionPlan>),
}

fn condition() -> impl Strategy<Value = ConditionPlan> {
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
enum Method {
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

fn method() -> impl Strategy<Value = Method> {
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
enum RowPlan {
    Where(Predicate),
    Match(Index, Index),
    TimeWindow(Index, u32, u8),
    Sample(f64, Index),
}

fn row_plan() -> impl Strategy<Value = RowPlan> {
    prop_oneof![
        3 => predicate().prop_map(RowPlan::Where),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(column, key)| RowPlan::Match(column, key)),
        1 => (any::<Index>(), 0u32..100, 0u8..3).prop_map(|(column, amount, unit)| RowPlan::TimeWindow(column, amount, unit)),
        1 => (prop_oneof![0.0f64..=100.0, Just(0.001), Just(99.999)], any::<Index>())
            .prop_map(|(percent, column)| RowPlan::Sample(percent, column)),
    ]
}

#[derive(Debug, Clone)]
struct TargetPlan {
    data_sources: Vec<Index>,
    glob: bool,
    tags: Vec<Index>,
    columns: Vec<Index>,
    by_column_tags: bool,
}

fn target() -> impl Strategy<Value = TargetPlan> {
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
enum RulePlan {
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

fn rule() -> impl Strategy<Value = RulePlan> {
    prop_oneof![
        2 => condition().prop_map(RulePlan::Subscription),
        3 => (method(), proptest::option::weighted(0.3, predicate()), proptest::option::weighted(0.3, condition()), proptest::option::weighted(0.3, condition()))
            .prop_map(|(method, when, for_condition, except)| RulePlan::Mask { method, when, for_condition, except }),
        2 => (row_plan(), proptest::option::weighted(0.3, condition()), proptest::option::weighted(0.3, condition()))
            .prop_map(|(plan, for_condition, except)| RulePlan::RowFilter { plan, for_condition, except }),
    ]
}

#[derive(Debug, Clone)]
struct DataSourcePlan {
    name: String,
    backing: [String; 3],
    tags: Vec<Index>,
    /// Columns as (index into the column pool, type, tags).
    columns: Vec<(Index, String, Vec<Index>)>,
}

fn data_source() -> impl Strategy<Value = DataSourcePlan> {
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
fn yaml_value(text: &str) -> serde_norway::Value {
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
                    .collect::<BTreeMap<_, _>>(),
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
        }
    }
}

fn policy(name: String, kind: PolicyKind) -> PolicySpec {
    PolicySpec {
        name,
        kind,
        on: TargetSpec::default(),
        description: None,
        allow: None,
        for_condition: None,
        except_condition: None,
        when: None,
        method: None,
        value: None,
        pattern: None,
        replacement: None,
        digits: None,
        unit: None,
        keep_first: None,
        keep_last: None,
        mask_char: None,
        sql: None,
        probability: None,
        values: None,
        noise: None,
        k: None,
        quasi_identifiers: None,
        where_predicate: None,
        match_attribute: None,
        time_window: None,
        sample: None,
    }
}

fn set_method(spec: &mut PolicySpec, method: &Method, pools: &Pools) {
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

fn build_condition(plan: &ConditionPlan, pools: &Pools, users: &[String]) -> Condition {
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

/// One edit of a text: at a relative position, delete some characters and insert a token.
#[derive(Debug, Clone)]
pub struct Mutation {
    at: Index,
    delete: usize,
    insert: &'static str,
}

const TOKENS: &[&str] = &[
    "",
    "'",
    "\"",
    "\\",
    "\n",
    " ",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "---\n",
    "...\n",
    "? ",
    "|\n",
    ">\n",
    "\t",
    "~",
    "null",
    "0x",
    "1e999",
    "-1",
    "user_name()",
    "user_in_group('",
    "user_attribute_contains('k', ",
    "(",
    ")",
    "SELECT 1",
    "__veil_slot_",
    "E'\\x5f",
    "U&'",
    "--",
    "/*",
    "\u{feff}",
    "\u{0}",
    "é",
    "<<: *a\n",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    (any::<Index>(), 0usize..4, proptest::sample::select(TOKENS))
        .prop_map(|(at, delete, insert)| Mutation { at, delete, insert })
}

/// Applies the mutations in order, at character boundaries.
pub fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut characters: Vec<char> = text.chars().collect();
    for mutation in mutations {
        let at = mutation.at.index(characters.len() + 1);
        let end = (at + mutation.delete).min(characters.len());
        characters.splice(at..end, mutation.insert.chars());
    }
    characters.into_iter().collect()
}

/// Policy files that load, to mutate: the compiler's golden files.
const SEEDS: &[&str] = &[
    include_str!("../../compiler/tests/it/golden/methods.yaml"),
    include_str!("../../compiler/tests/it/golden/row_filters.yaml"),
    include_str!("../../compiler/tests/it/golden/conflicts.yaml"),
];

/// YAML text for the loader: a seed file or a generated bundle's YAML, mutated; or random text.
pub fn yaml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (proptest::sample::select(SEEDS), proptest::collection::vec(mutation(), 1..6))
            .prop_map(|(seed, mutations)| mutate(seed, &mutations)),
        3 => (bundle_plan(), proptest::collection::vec(mutation(), 0..6))
            .prop_map(|(plan, mutations)| mutate(&plan.build().to_yaml(), &mutations)),
        1 => any::<String>(),
        1 => proptest::collection::vec(proptest::sample::select(TOKENS), 0..30)
            .prop_map(|tokens| tokens.concat()),
    ]
}
