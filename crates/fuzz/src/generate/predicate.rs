//! Predicates from a small SQL grammar, printed with the literals they hold, and the texts
//! the template property parses.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

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

pub(super) const OPERATORS: &[&str] = &["=", "<>", "<", ">=", "AND", "OR", "||", "+", "LIKE"];
pub(super) const FUNCTIONS: &[&str] = &["lower", "upper", "length", "coalesce", "concat", "substr"];
pub(super) const ODD_PREFIXES: &[&str] = &["E", "U&", "N", "X", "B", "R"];

pub(super) fn predicate() -> impl Strategy<Value = Predicate> {
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
pub(super) fn quote(text: &str, quote: char) -> String {
    let doubled = format!("{quote}{quote}");
    format!("{quote}{}{quote}", text.replace(quote, &doubled))
}

/// Picks from a pool, or a fixed word when the pool is empty.
pub(super) fn pick<'a>(index: &Index, pool: &'a [String]) -> &'a str {
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
