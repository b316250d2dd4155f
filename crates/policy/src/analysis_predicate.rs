//! Row predicates that can never be true: a `where` read with sqlparser (the dialect the compiler
//! parses it with) and evaluated over SQL's three values without any row. A predicate that is
//! never TRUE keeps no rows. Only what is certain is claimed; anything else is "maybe".

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, UnaryOperator,
    Value, visit_expressions,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// One SQL expression, or `None` when it does not parse as one (the compiler reports that).
pub(crate) fn parse(sql: &str) -> Option<Expr> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(sql).ok()?;
    let expression = parser.parse_expr().ok()?;
    (parser.peek_token().token == Token::EOF).then_some(expression)
}

/// What the estate says of the compile-time functions: `Some(false)` when a call is `FALSE` for
/// every user (an attribute nobody has, a purpose no project carries), `None` when it depends.
pub(crate) type KnownCall<'a> = &'a dyn Fn(&str, &[String]) -> Option<bool>;

/// The compile-time calls in an expression: the function's lowercase name and its string
/// literal arguments.
pub(crate) fn calls(expression: &Expr) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let _ = visit_expressions(expression, |node| {
        if let Some(call) = call(node) {
            found.push(call);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}

fn call(node: &Expr) -> Option<(String, Vec<String>)> {
    let Expr::Function(function) = node else {
        return None;
    };
    let name = function.name.to_string().to_lowercase();
    let FunctionArguments::List(list) = &function.args else {
        return Some((name, Vec::new()));
    };
    let arguments = list
        .args
        .iter()
        .filter_map(|argument| match argument {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(value))) => match &value.value {
                Value::SingleQuotedString(text) => Some(text.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Some((name, arguments))
}

/// Why a predicate is never TRUE, or `None` when it may be.
pub(crate) fn never_true(expression: &Expr, known: KnownCall<'_>) -> Option<String> {
    let values = evaluate(expression, known);
    (!values.true_).then(|| values.why.unwrap_or_else(|| "it is never true".to_owned()))
}

/// The values an expression may take: TRUE, FALSE, NULL (anything else counts as all three).
#[derive(Clone, Debug)]
struct Values {
    true_: bool,
    false_: bool,
    null: bool,
    /// What made TRUE impossible, when something did.
    why: Option<String>,
}

impl Values {
    const ANY: Values = Values {
        true_: true,
        false_: true,
        null: true,
        why: None,
    };

    fn exactly(true_: bool, false_: bool, null: bool, why: String) -> Values {
        Values {
            true_,
            false_,
            null,
            why: Some(why),
        }
    }
}

/// A literal as compared: numbers by value, strings without trailing spaces (a `char(n)` pads).
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
    Boolean(bool),
    Null,
}

fn literal(expression: &Expr) -> Option<Literal> {
    match expression {
        Expr::Nested(inner) => literal(inner),
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => text.parse().ok().map(Literal::Number),
            Value::SingleQuotedString(text) => Some(Literal::Text(text.trim_end().to_owned())),
            Value::Boolean(flag) => Some(Literal::Boolean(*flag)),
            Value::Null => Some(Literal::Null),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            Literal::Number(number) => Some(Literal::Number(-number)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether two literals are certainly equal (`Some(true)`), certainly different, or not
/// comparable here (different kinds: Trino would coerce or refuse).
fn same(a: &Literal, b: &Literal) -> Option<bool> {
    match (a, b) {
        (Literal::Number(a), Literal::Number(b)) => Some(a == b),
        (Literal::Text(a), Literal::Text(b)) => Some(a == b),
        (Literal::Boolean(a), Literal::Boolean(b)) => Some(a == b),
        _ => None,
    }
}

fn column(expression: &Expr) -> Option<String> {
    match expression {
        Expr::Nested(inner) => column(inner),
        Expr::Identifier(ident) => Some(ident.value.to_lowercase()),
        _ => None,
    }
}

fn evaluate(expression: &Expr, known: KnownCall<'_>) -> Values {
    let text = expression.to_string();
    if let Some(value) = literal(expression) {
        return match value {
            Literal::Boolean(true) => Values::exactly(true, false, false, text),
            Literal::Boolean(false) => Values::exactly(false, true, false, format!("`{text}`")),
            Literal::Null => Values::exactly(false, false, true, "`NULL`".to_owned()),
            _ => Values::ANY,
        };
    }
    match expression {
        Expr::Nested(inner) => evaluate(inner, known),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => {
            let inner = evaluate(expr, known);
            Values {
                true_: inner.false_,
                false_: inner.true_,
                null: inner.null,
                why: Some(format!("`{text}`")),
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let (a, b) = (evaluate(left, known), evaluate(right, known));
            if let Some(why) = contradiction(expression) {
                return Values::exactly(false, true, true, why);
            }
            Values {
                true_: a.true_ && b.true_,
                false_: a.false_ || b.false_,
                null: (a.null && (b.true_ || b.null)) || (b.null && (a.true_ || a.null)),
                why: if !a.true_ { a.why } else { b.why },
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            let (a, b) = (evaluate(left, known), evaluate(right, known));
            Values {
                true_: a.true_ || b.true_,
                false_: a.false_ && b.false_,
                null: (a.null && (b.false_ || b.null)) || (b.null && (a.false_ || a.null)),
                why: match (a.why, b.why) {
                    (Some(a), Some(b)) => Some(format!("neither side is: {a}; {b}")),
                    _ => None,
                },
            }
        }
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            match (literal(left), literal(right)) {
                (Some(Literal::Null), _) | (_, Some(Literal::Null)) => Values::exactly(
                    false,
                    false,
                    true,
                    format!("`{text}` compares with NULL, which is never true"),
                ),
                (Some(a), Some(b)) if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) => {
                    match same(&a, &b) {
                        Some(equal) => {
                            let holds = equal == (*op == BinaryOperator::Eq);
                            Values::exactly(holds, !holds, false, format!("`{text}`"))
                        }
                        None => Values::ANY,
                    }
                }
                _ => Values::ANY,
            }
        }
        Expr::Function(_) => match call(expression) {
            Some((name, arguments)) if known(&name, &arguments) == Some(false) => Values::exactly(
                false,
                true,
                false,
                format!("`{text}` is FALSE for every user"),
            ),
            _ => Values::ANY,
        },
        _ => Values::ANY,
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    )
}

/// What one conjunct says of one column.
enum Constraint {
    Equals(Literal),
    NotEquals(Literal),
    In(Vec<Literal>),
    IsNull,
}

/// The conjuncts of an AND chain that constrain a column to literals, and whether two of them
/// cannot both hold: `x = 1 AND x = 2`, `x = 1 AND x <> 1`, `x IN (1, 2) AND x = 3`,
/// `x = 1 AND x IS NULL`.
fn contradiction(expression: &Expr) -> Option<String> {
    let mut conjuncts = Vec::new();
    flatten_and(expression, &mut conjuncts);
    let constraints: Vec<(String, Constraint, String)> = conjuncts
        .iter()
        .filter_map(|conjunct| constraint(conjunct).map(|(c, k)| (c, k, conjunct.to_string())))
        .collect();
    for (index, (column_a, a, text_a)) in constraints.iter().enumerate() {
        for (column_b, b, text_b) in &constraints[index + 1..] {
            if column_a == column_b && conflict(a, b) {
                return Some(format!("`{text_a}` and `{text_b}` cannot both hold"));
            }
        }
    }
    None
}

fn flatten_and<'e>(expression: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expression {
        Expr::Nested(inner) => flatten_and(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        other => out.push(other),
    }
}

fn constraint(expression: &Expr) -> Option<(String, Constraint)> {
    match expression {
        Expr::BinaryOp { left, op, right }
            if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) =>
        {
            let (name, value) = match (column(left), literal(right)) {
                (Some(name), Some(value)) => (name, value),
                _ => (column(right)?, literal(left)?),
            };
            if value == Literal::Null {
                return None;
            }
            Some(match op {
                BinaryOperator::Eq => (name, Constraint::Equals(value)),
                _ => (name, Constraint::NotEquals(value)),
            })
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            global: false,
        } => {
            let values: Option<Vec<Literal>> = list.iter().map(literal).collect();
            let values = values?;
            if values.contains(&Literal::Null) {
                return None;
            }
            Some((column(expr)?, Constraint::In(values)))
        }
        Expr::IsNull(inner) => Some((column(inner)?, Constraint::IsNull)),
        _ => None,
    }
}

/// Whether two constraints on one column cannot both hold; `false` when unsure.
fn conflict(a: &Constraint, b: &Constraint) -> bool {
    let differs = |x: &Literal, y: &Literal| same(x, y) == Some(false);
    let outside = |x: &Literal, list: &[Literal]| list.iter().all(|y| differs(x, y));
    match (a, b) {
        (Constraint::Equals(x), Constraint::Equals(y)) => differs(x, y),
        (Constraint::Equals(x), Constraint::NotEquals(y))
        | (Constraint::NotEquals(y), Constraint::Equals(x)) => same(x, y) == Some(true),
        (Constraint::Equals(x), Constraint::In(list))
        | (Constraint::In(list), Constraint::Equals(x)) => outside(x, list),
        (Constraint::In(first), Constraint::In(second)) => first.iter().all(|x| outside(x, second)),
        (Constraint::IsNull, Constraint::Equals(_) | Constraint::In(_))
        | (Constraint::Equals(_) | Constraint::In(_), Constraint::IsNull) => true,
        _ => false,
    }
}
