//! Policy predicates and expressions (`where`, `when`, `expression`): parsed and checked once
//! when a policy is loaded, then kept as a template whose compile-time functions become escaped
//! literals for each user.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, Value, Visit, Visitor,
    visit_expressions_mut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use veil_policy::Subject;

use crate::sql::{push_literal, push_literal_list};

const SLOT_PREFIX: &str = "__veil_slot_";

/// A checked SQL expression with holes for the compile-time functions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// Column names the expression references, lowercase, for checking against data sources.
    pub columns: Vec<String>,
    /// Purposes named by `user_has_purpose`, for checking against the estate.
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// `user_name()`
    UserName,
    /// `user_in_group('g')`
    InGroup(String),
    /// `user_has_purpose('p')`
    HasPurpose(String),
    /// `user_attribute_contains('key', expression)`
    AttributeContains {
        key: String,
        expression: Vec<Piece>,
    },
}

/// A user fact a template consumed; the SQL is a function of these (and the decision) alone,
/// which is what lets users with equal facts share one compiled view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fact {
    Bool(bool),
    Text(String),
    Values(Vec<String>),
}

enum Slot {
    UserName,
    InGroup(String),
    HasPurpose(String),
    AttributeContains { key: String, expression: String },
}

/// Trino's aggregate functions, which a per-row expression cannot call (Trino would refuse the
/// view at query time; Veil refuses the policy at load).
const AGGREGATES: &[&str] = &[
    "any_value",
    "approx_distinct",
    "approx_most_frequent",
    "approx_percentile",
    "approx_set",
    "arbitrary",
    "array_agg",
    "avg",
    "bitwise_and_agg",
    "bitwise_or_agg",
    "bitwise_xor_agg",
    "bool_and",
    "bool_or",
    "checksum",
    "corr",
    "count",
    "count_if",
    "covar_pop",
    "covar_samp",
    "entropy",
    "every",
    "geometric_mean",
    "histogram",
    "kurtosis",
    "listagg",
    "map_agg",
    "map_union",
    "max",
    "max_by",
    "merge",
    "min",
    "min_by",
    "multimap_agg",
    "numeric_histogram",
    "qdigest_agg",
    "reduce_agg",
    "regr_intercept",
    "regr_slope",
    "set_agg",
    "set_union",
    "skewness",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "sum",
    "tdigest_agg",
    "var_pop",
    "var_samp",
    "variance",
];

impl Template {
    /// Parses one SQL expression and checks it: a single expression, no subqueries, no window
    /// or aggregate functions, no qualified names, compile-time functions with literal arguments.
    pub fn parse(sql: &str) -> Result<Template, String> {
        if sql.contains(SLOT_PREFIX) {
            return Err(format!("`{SLOT_PREFIX}` is reserved"));
        }
        let dialect = GenericDialect {};
        let mut parser = Parser::new(&dialect)
            .try_with_sql(sql)
            .map_err(|error| format!("`{sql}` does not parse: {error}"))?;
        let mut expression = parser
            .parse_expr()
            .map_err(|error| format!("`{sql}` does not parse: {error}"))?;
        let rest = parser.peek_token();
        if rest.token != Token::EOF {
            return Err(format!(
                "`{sql}` must be a single expression; unexpected `{}` at {}",
                rest.token, rest.span.start
            ));
        }
        check_no_query(&expression, sql)?;
        // The views carry sqlparser's printing of the expression, so it must read back as the
        // very same expression. It does not always: a literal holding `''` prints as `''`, not
        // `''''` (sqlparser takes the pair for an escape), and reads back with one quote.
        if !prints_back(&expression) {
            let printed = expression.to_string();
            return Err(format!(
                "`{sql}` does not print back as written (`{printed}`): write each literal and \
                 name without two quotes in a row"
            ));
        }
        let mut columns = Vec::new();
        let mut problems = Vec::new();
        let mut slots = Vec::new();
        let _ = visit_expressions_mut(&mut expression, |node| {
            match node {
                Expr::Value(value) if !trino_reads_alike(&value.value) => problems.push(format!(
                    "literal `{value}` is not Trino SQL: write strings as '...', with '' for a quote"
                )),
                Expr::Identifier(ident) if !is_trino_quote(ident) => problems.push(format!(
                    "identifier `{ident}` is not Trino SQL: quote names with \"...\""
                )),
                Expr::Identifier(ident) if !ident.value.starts_with(SLOT_PREFIX) => {
                    columns.push(ident.value.to_lowercase())
                }
                // `x.f()`, `x.field`, `x[1]`, `x:key`: a compile-time function after a dot would
                // become a literal after a dot, and Trino reads none of these as sqlparser does.
                Expr::CompoundFieldAccess { .. } | Expr::JsonAccess { .. } => problems.push(
                    format!("field access or method call `{node}` is not allowed"),
                ),
                Expr::CompoundIdentifier(parts) => problems.push(format!(
                    "qualified name `{}` is not allowed: name the data source's columns only",
                    parts
                        .iter()
                        .map(|part| part.value.as_str())
                        .collect::<Vec<_>>()
                        .join(".")
                )),
                Expr::Function(function) => {
                    if function.over.is_some() {
                        problems.push(format!(
                            "window function `{}` is not allowed",
                            function.name
                        ));
                    }
                    let lowercase = function.name.to_string().to_lowercase();
                    if AGGREGATES.contains(&lowercase.as_str())
                        || function.filter.is_some()
                        || !function.within_group.is_empty()
                    {
                        problems.push(format!(
                            "aggregate function `{}` is not allowed: the expression is evaluated \
                             per row",
                            function.name
                        ));
                    }
                    if !function.name.0.iter().all(|part| part.as_ident().is_some_and(is_trino_quote)) {
                        problems.push(format!(
                            "function name `{}` is not Trino SQL: quote names with \"...\"",
                            function.name
                        ));
                    }
                    if function.name.0.len() != 1 {
                        problems.push(format!(
                            "qualified function name `{}` is not allowed",
                            function.name
                        ));
                    }
                    let name = function.name.to_string().to_lowercase();
                    let arguments = match &function.args {
                        FunctionArguments::List(list) => list
                            .args
                            .iter()
                            .map(|argument| match argument {
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) => Some(inner),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                        _ => Vec::new(),
                    };
                    let slot = match name.as_str() {
                        "user_name" if arguments.is_empty() => Some(Ok(Slot::UserName)),
                        "user_in_group" => Some(one_literal(&name, &arguments).map(Slot::InGroup)),
                        "user_has_purpose" => {
                            Some(one_literal(&name, &arguments).map(Slot::HasPurpose))
                        }
                        "user_attribute_contains" => Some(match arguments.as_slice() {
                            [Some(key), Some(expression)] if !prints_back(expression) => Err(format!(
                                "`{expression}` in `user_attribute_contains` does not print back as written"
                            )),
                            [Some(key), Some(expression)] => string_literal(key)
                                .map(|key| Slot::AttributeContains {
                                    key,
                                    expression: expression.to_string(),
                                })
                                .ok_or_else(|| {
                                    "`user_attribute_contains` takes a string literal key and an expression"
                                        .to_owned()
                                }),
                            _ => Err("`user_attribute_contains` takes a string literal key and an expression".to_owned()),
                        }),
                        "user_name" => Some(Err("`user_name` takes no arguments".to_owned())),
                        _ => None,
                    };
                    match slot {
                        Some(Ok(slot)) => {
                            *node = Expr::Identifier(Ident::new(format!(
                                "{SLOT_PREFIX}{}",
                                slots.len()
                            )));
                            slots.push(slot);
                        }
                        Some(Err(problem)) => problems.push(problem),
                        None => {}
                    }
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
        if let Some(problem) = problems.into_iter().next() {
            return Err(format!("`{sql}`: {problem}"));
        }
        let purposes = slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::HasPurpose(purpose) => Some(purpose.clone()),
                _ => None,
            })
            .collect();
        columns.sort();
        columns.dedup();
        let pieces = split(
            &expression.to_string(),
            &mut slots.into_iter().map(Some).collect::<Vec<_>>(),
        );
        Ok(Template {
            pieces,
            columns,
            purposes,
        })
    }

    /// Whether rendering needs anything from the user.
    pub fn has_slots(&self) -> bool {
        self.pieces
            .iter()
            .any(|piece| !matches!(piece, Piece::Text(_)))
    }

    /// Appends the facts this template needs from `subject`, in rendering order.
    pub fn collect_facts(&self, subject: &Subject<'_>, facts: &mut Vec<Fact>) {
        collect(&self.pieces, subject, facts);
    }

    /// Appends the SQL, taking the facts in the order [`Template::collect_facts`] produced them.
    pub fn render<'f>(&self, facts: &mut impl Iterator<Item = &'f Fact>, out: &mut String) {
        render(&self.pieces, facts, out);
    }
}

fn collect(pieces: &[Piece], subject: &Subject<'_>, facts: &mut Vec<Fact>) {
    for piece in pieces {
        match piece {
            Piece::Text(_) => {}
            Piece::UserName => facts.push(Fact::Text(subject.name.to_owned())),
            Piece::InGroup(group) => facts.push(Fact::Bool(subject.in_group(group))),
            Piece::HasPurpose(purpose) => facts.push(Fact::Bool(subject.has_purpose(purpose))),
            Piece::AttributeContains { key, expression } => {
                facts.push(Fact::Values(subject.attribute(key).to_vec()));
                collect(expression, subject, facts);
            }
        }
    }
}

fn render<'f>(pieces: &[Piece], facts: &mut impl Iterator<Item = &'f Fact>, out: &mut String) {
    for piece in pieces {
        let fact = match piece {
            Piece::Text(text) => {
                out.push_str(text);
                continue;
            }
            _ => facts.next().expect("facts come from the same template"),
        };
        match (piece, fact) {
            (Piece::UserName, Fact::Text(name)) => push_literal(out, name),
            (Piece::InGroup(_) | Piece::HasPurpose(_), Fact::Bool(held)) => {
                out.push_str(if *held { "TRUE" } else { "FALSE" })
            }
            (Piece::AttributeContains { expression, .. }, Fact::Values(values)) => {
                if values.is_empty() {
                    // Still consume the inner facts so the order stays aligned.
                    let mut discard = String::new();
                    render(expression, facts, &mut discard);
                    out.push_str("FALSE");
                } else {
                    out.push('(');
                    render(expression, facts, out);
                    out.push_str(") IN ");
                    push_literal_list(out, values);
                }
            }
            _ => panic!("facts do not match the template"),
        }
    }
}

/// Whether sqlparser's printing of `expression` reads back, alone, as the very same expression.
/// The views carry that printing (an attribute test's expression is printed on its own).
fn prints_back(expression: &Expr) -> bool {
    Parser::new(&GenericDialect {})
        .try_with_sql(&expression.to_string())
        .and_then(|mut parser| parser.parse_expr())
        .is_ok_and(|again| again == *expression)
}

/// Cuts printed SQL at the slot placeholders.
fn split(text: &str, slots: &mut [Option<Slot>]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(position) = rest.find(SLOT_PREFIX) {
        if position > 0 {
            pieces.push(Piece::Text(rest[..position].to_owned()));
        }
        let after = &rest[position + SLOT_PREFIX.len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let index: usize = after[..digits]
            .parse()
            .expect("placeholders carry their index");
        let slot = slots[index].take().expect("each placeholder appears once");
        pieces.push(match slot {
            Slot::UserName => Piece::UserName,
            Slot::InGroup(group) => Piece::InGroup(group),
            Slot::HasPurpose(purpose) => Piece::HasPurpose(purpose),
            Slot::AttributeContains { key, expression } => Piece::AttributeContains {
                key,
                expression: split(&expression, slots),
            },
        });
        rest = &after[digits..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    pieces
}

/// Literals whose text Trino reads as sqlparser's generic dialect does, and which sqlparser
/// prints back as they were read. Escape strings (`E'\''`), Unicode, national, byte and
/// dollar-quoted strings are not: sqlparser prints `E'\''`, which Trino reads as the string `\`
/// followed by whatever the policy put after it.
fn trino_reads_alike(value: &Value) -> bool {
    matches!(
        value,
        Value::SingleQuotedString(_)
            | Value::Number(..)
            | Value::Boolean(_)
            | Value::Null
            | Value::HexStringLiteral(_)
    )
}

/// Trino quotes identifiers only with `"`; sqlparser's generic dialect also reads backticks
/// and brackets, and prints them back.
fn is_trino_quote(ident: &Ident) -> bool {
    matches!(ident.quote_style, None | Some('"'))
}

fn string_literal(expression: &Expr) -> Option<String> {
    match expression {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn one_literal(name: &str, arguments: &[Option<&Expr>]) -> Result<String, String> {
    match arguments {
        [Some(argument)] => string_literal(argument),
        _ => None,
    }
    .ok_or_else(|| format!("`{name}` takes one string literal"))
}

fn check_no_query(expression: &Expr, sql: &str) -> Result<(), String> {
    struct FindQuery;
    impl Visitor for FindQuery {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    match expression.visit(&mut FindQuery) {
        ControlFlow::Break(()) => Err(format!("`{sql}`: subqueries are not allowed")),
        ControlFlow::Continue(()) => Ok(()),
    }
}
