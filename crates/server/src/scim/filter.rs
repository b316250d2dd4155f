//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): parsed into [`Filter`] and
//! [`Path`], and evaluated against a resource as JSON. Attribute names are matched without
//! regard to case, as are string values except the case-exact `id` and `externalId`.
//!
//! Written here rather than taken from a crate: the crates on offer either filter whole
//! serialized collections without exposing the tree PATCH paths need, or bring their own
//! resource models; this grammar is small.

use serde_json::Value;

/// `[urn:…:]attribute[.subAttribute]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributePath {
    /// The schema URN prefix, when written (`urn:ietf:params:scim:schemas:extension:…:User`).
    pub schema: Option<String>,
    pub attribute: String,
    pub sub_attribute: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equal,
    NotEqual,
    Contains,
    StartsWith,
    EndsWith,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttributePath,
        operator: Operator,
        value: Value,
    },
    Present(AttributePath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some value of the attribute matches the inner filter.
    ValuePath {
        attribute: AttributePath,
        filter: Box<Filter>,
    },
}

/// A PATCH target: `attribute`, `attribute.sub`, `attribute[filter]` or `attribute[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Without a sub-attribute when `filter` is given (the sub-attribute follows the `]`).
    pub attribute: AttributePath,
    pub filter: Option<Filter>,
    pub sub_attribute: Option<String>,
}

/// A filter or path that does not parse: what, and at which character (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {position} of `{text}`")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Text(String),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let error = |message: &str, position| ParseError {
        message: message.to_owned(),
        position,
        text: text.to_owned(),
    };
    let mut tokens = Vec::new();
    let mut characters = text.char_indices().peekable();
    while let Some(&(start, character)) = characters.peek() {
        match character {
            _ if character.is_whitespace() => {
                characters.next();
            }
            '(' | ')' | '[' | ']' => {
                characters.next();
                let token = match character {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                };
                tokens.push((start, token));
            }
            '"' => {
                // A JSON string, escapes and all.
                characters.next();
                let mut end = None;
                let mut escaped = false;
                for (index, inner) in characters.by_ref() {
                    match inner {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(index);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| error("unterminated string", start))?;
                let value: String = serde_json::from_str(&text[start..=end])
                    .map_err(|_| error("invalid string escape", start))?;
                tokens.push((start, Token::Text(value)));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(index, inner)) = characters.peek() {
                    if inner.is_whitespace() || matches!(inner, '(' | ')' | '[' | ']' | '"') {
                        end = index;
                        break;
                    }
                    characters.next();
                }
                tokens.push((start, Token::Word(text[start..end].to_owned())));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<(usize, Token)>,
    next: usize,
    /// Parentheses, `not (` and `[` open around the current token.
    depth: usize,
}

/// The deepest nesting a filter may have: far beyond any identity provider's, and shallow
/// enough that parsing (recursive descent) cannot exhaust a thread's stack.
const MAX_DEPTH: usize = 32;
/// The most tokens a filter may have: `and`/`or` chains nest too (each joins two filters), and
/// evaluating or dropping a filter recurses through them.
const MAX_TOKENS: usize = 1_000;

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: self
                .tokens
                .get(self.next)
                .map_or(self.text.len(), |(position, _)| *position),
            text: self.text.to_owned(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).map(|(_, token)| token.clone());
        self.next += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(found)) if found.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&wanted) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    /// A nested filter: `or` one level deeper.
    fn nested(&mut self) -> Result<Filter, ParseError> {
        if self.depth == MAX_DEPTH {
            return Err(self.error(format!("filters nest at most {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let inner = self.or();
        self.depth -= 1;
        inner
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.next += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.next += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.keyword("not") {
            self.next += 1;
            self.expect(Token::Open, "`(` after `not`")?;
            let inner = self.nested()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next += 1;
            let inner = self.nested()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(inner);
        }
        let attribute = match self.take() {
            Some(Token::Word(word)) => attribute_path(&word).map_err(|message| {
                self.next -= 1;
                self.error(message)
            })?,
            _ => {
                self.next = self.next.saturating_sub(1);
                return Err(self.error("expected an attribute"));
            }
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.next += 1;
            let filter = self.nested()?;
            self.expect(Token::CloseBracket, "`]`")?;
            return Ok(Filter::ValuePath {
                attribute,
                filter: Box::new(filter),
            });
        }
        let operator = match self.take() {
            Some(Token::Word(word)) => word.to_ascii_lowercase(),
            _ => {
                self.next -= 1;
                return Err(
                    self.error("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
                );
            }
        };
        let operator = match operator.as_str() {
            "pr" => return Ok(Filter::Present(attribute)),
            "eq" => Operator::Equal,
            "ne" => Operator::NotEqual,
            "co" => Operator::Contains,
            "sw" => Operator::StartsWith,
            "ew" => Operator::EndsWith,
            "gt" => Operator::Greater,
            "ge" => Operator::GreaterOrEqual,
            "lt" => Operator::Less,
            "le" => Operator::LessOrEqual,
            other => {
                self.next -= 1;
                return Err(self.error(format!("unknown operator `{other}`")));
            }
        };
        let value = match self.take() {
            Some(Token::Text(text)) => Value::String(text),
            Some(Token::Word(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => match serde_json::from_str::<serde_json::Number>(&word) {
                    Ok(number) => Value::Number(number),
                    Err(_) => {
                        self.next -= 1;
                        return Err(self.error(format!(
                            "expected a value (a \"string\", number, true, false or null), not `{word}`"
                        )));
                    }
                },
            },
            _ => {
                self.next = self.next.saturating_sub(1);
                return Err(self.error("expected a value"));
            }
        };
        Ok(Filter::Compare {
            path: attribute,
            operator,
            value,
        })
    }
}

fn is_name(text: &str) -> bool {
    let mut characters = text.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '$')
        && characters.all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '_' | '-' | '$')
        })
}

/// `[urn:…:]attribute[.sub]`; the URN is everything up to the last `:`.
pub fn attribute_path(text: &str) -> Result<AttributePath, String> {
    let (schema, rest) = match text.rfind(':') {
        Some(colon) if text[..4.min(text.len())].eq_ignore_ascii_case("urn:") => {
            (Some(text[..colon].to_owned()), &text[colon + 1..])
        }
        _ => (None, text),
    };
    let (attribute, sub_attribute) = match rest.split_once('.') {
        Some((attribute, sub)) => (attribute, Some(sub)),
        None => (rest, None),
    };
    if !is_name(attribute) || sub_attribute.is_some_and(|sub| !is_name(sub)) {
        return Err(format!("`{text}` is not an attribute path"));
    }
    Ok(AttributePath {
        schema,
        attribute: attribute.to_owned(),
        sub_attribute: sub_attribute.map(str::to_owned),
    })
}

/// Parses a whole filter expression.
pub fn parse(text: &str) -> Result<Filter, ParseError> {
    let mut parser = Parser {
        text,
        tokens: tokenize(text)?,
        next: 0,
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Err(parser.error("the filter is empty"));
    }
    if parser.tokens.len() > MAX_TOKENS {
        parser.next = MAX_TOKENS;
        return Err(parser.error(format!("a filter has at most {MAX_TOKENS} tokens")));
    }
    let filter = parser.or()?;
    if parser.next < parser.tokens.len() {
        return Err(parser.error("unexpected text after the filter"));
    }
    Ok(filter)
}

/// Parses a PATCH path.
pub fn parse_path(text: &str) -> Result<Path, ParseError> {
    let error = |message: String, position| ParseError {
        message,
        position,
        text: text.to_owned(),
    };
    let Some(open) = text.find('[') else {
        let attribute = attribute_path(text.trim()).map_err(|message| error(message, 0))?;
        return Ok(Path {
            attribute,
            filter: None,
            sub_attribute: None,
        });
    };
    let close = text
        .rfind(']')
        .ok_or_else(|| error("expected `]`".into(), text.len()))?;
    let attribute = attribute_path(text[..open].trim()).map_err(|message| error(message, 0))?;
    if attribute.sub_attribute.is_some() {
        return Err(error(
            "a value filter follows the attribute, not a sub-attribute".into(),
            open,
        ));
    }
    let filter = parse(&text[open + 1..close])
        .map_err(|inner| error(inner.message, open + 1 + inner.position))?;
    let tail = &text[close + 1..];
    let sub_attribute = match tail.strip_prefix('.') {
        Some(sub) if is_name(sub) => Some(sub.to_owned()),
        None if tail.is_empty() => None,
        _ => return Err(error(format!("unexpected `{tail}` after `]`"), close + 1)),
    };
    Ok(Path {
        attribute,
        filter: Some(filter),
        sub_attribute,
    })
}

/// A key of `object` without regard to case.
pub fn get<'v>(object: &'v Value, key: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

/// The object an attribute path's schema names: the resource itself for its core schema (or
/// none written), the extension's object otherwise.
pub fn schema_object<'v>(resource: &'v Value, schema: Option<&str>) -> Option<&'v Value> {
    match schema {
        Some(urn) if !urn.to_ascii_lowercase().contains(":core:") => get(resource, urn),
        _ => Some(resource),
    }
}

/// Every value a path reaches, multi-valued attributes flattened.
fn resolve<'v>(resource: &'v Value, path: &AttributePath) -> Vec<&'v Value> {
    let Some(value) = schema_object(resource, path.schema.as_deref())
        .and_then(|object| get(object, &path.attribute))
    else {
        return Vec::new();
    };
    let values: Vec<&Value> = match value {
        Value::Array(values) => values.iter().collect(),
        value => vec![value],
    };
    match &path.sub_attribute {
        None => values,
        Some(sub) => values
            .into_iter()
            .filter_map(|value| get(value, sub))
            .flat_map(|value| match value {
                Value::Array(values) => values.iter().collect(),
                value => vec![value],
            })
            .collect(),
    }
}

fn case_exact(path: &AttributePath) -> bool {
    path.sub_attribute.is_none()
        && (path.attribute.eq_ignore_ascii_case("id")
            || path.attribute.eq_ignore_ascii_case("externalId"))
}

fn compare(held: &Value, operator: Operator, wanted: &Value, exact: bool) -> bool {
    // A complex value compares by its `value` sub-attribute (`emails eq "a@b"`).
    let held = match held {
        Value::Object(_) => match get(held, "value") {
            Some(value) => value,
            None => return false,
        },
        held => held,
    };
    match (held, wanted) {
        (Value::String(held), Value::String(wanted)) => {
            let (held, wanted) = if exact {
                (held.clone(), wanted.clone())
            } else {
                (held.to_lowercase(), wanted.to_lowercase())
            };
            match operator {
                Operator::Equal => held == wanted,
                Operator::NotEqual => held != wanted,
                Operator::Contains => held.contains(&wanted),
                Operator::StartsWith => held.starts_with(&wanted),
                Operator::EndsWith => held.ends_with(&wanted),
                Operator::Greater => held > wanted,
                Operator::GreaterOrEqual => held >= wanted,
                Operator::Less => held < wanted,
                Operator::LessOrEqual => held <= wanted,
            }
        }
        (Value::Number(held), Value::Number(wanted)) => {
            let (Some(held), Some(wanted)) = (held.as_f64(), wanted.as_f64()) else {
                return false;
            };
            match operator {
                Operator::Equal => held == wanted,
                Operator::NotEqual => held != wanted,
                Operator::Greater => held > wanted,
                Operator::GreaterOrEqual => held >= wanted,
                Operator::Less => held < wanted,
                Operator::LessOrEqual => held <= wanted,
                _ => false,
            }
        }
        (Value::Bool(held), Value::Bool(wanted)) => match operator {
            Operator::Equal => held == wanted,
            Operator::NotEqual => held != wanted,
            _ => false,
        },
        // A boolean held as text, as some clients send `"active": "False"`.
        (Value::String(held), Value::Bool(wanted)) => {
            let held = held.eq_ignore_ascii_case("true");
            match operator {
                Operator::Equal => held == *wanted,
                Operator::NotEqual => held != *wanted,
                _ => false,
            }
        }
        _ => false,
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(values) => !values.is_empty(),
        Value::Object(members) => !members.is_empty(),
        _ => true,
    }
}

impl Filter {
    /// Whether the resource (or, inside a value path, one value) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::Compare {
                path,
                operator,
                value,
            } => {
                let held = resolve(resource, path);
                match (operator, value) {
                    // `ne` holds when no value equals, an absent attribute included.
                    (Operator::NotEqual, _) => !held
                        .iter()
                        .any(|held| compare(held, Operator::Equal, value, case_exact(path))),
                    (Operator::Equal, Value::Null) => !held.iter().any(|held| present(held)),
                    _ => held
                        .iter()
                        .any(|held| compare(held, *operator, value, case_exact(path))),
                }
            }
            Filter::Present(path) => resolve(resource, path).into_iter().any(present),
            Filter::And(left, right) => left.matches(resource) && right.matches(resource),
            Filter::Or(left, right) => left.matches(resource) || right.matches(resource),
            Filter::Not(inner) => !inner.matches(resource),
            Filter::ValuePath { attribute, filter } => resolve(resource, attribute)
                .into_iter()
                .any(|value| filter.matches(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223-7f76",
            "externalId": "Okta-17",
            "userName": "Bjensen@example.com",
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090"}
            },
            "meta": {"lastModified": "2026-05-13T04:42:34Z"}
        })
    }

    fn holds(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|error| panic!("{error}"))
            .matches(&user())
    }

    #[test]
    fn operators_match_as_rfc_7644_says() {
        for filter in [
            r#"userName eq "bjensen@example.com""#,
            r#"USERNAME Eq "BJENSEN@example.com""#,
            r#"userName sw "bjen""#,
            r#"userName ew "example.com""#,
            r#"displayName co "s J""#,
            r#"emails.value eq "babs@jensen.org""#,
            r#"emails co "jensen.org""#,
            r#"emails[type eq "work" and value co "@example.com"]"#,
            r#"id eq "2819c223-7f76""#,
            r#"externalId eq "Okta-17""#,
            "active eq true",
            "externalId pr",
            "emails pr",
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
            r#"title ne "Boss""#,
            r#"not (title pr)"#,
            r#"userName eq "nobody" or displayName sw "Babs""#,
            r#"(userName eq "nobody" or active eq true) and not (emails[type eq "other"])"#,
            "title eq null",
        ] {
            assert!(holds(filter), "{filter}");
        }
        for filter in [
            r#"userName eq "bjensen""#,
            r#"id eq "2819C223-7F76""#,
            r#"externalId eq "okta-17""#,
            "active eq false",
            "title pr",
            r#"emails[type eq "home" and primary eq true]"#,
            r#"userName eq "bjensen@example.com" and active eq false"#,
            r#"not (userName pr)"#,
            r#"userName gt "c""#,
        ] {
            assert!(!holds(filter), "{filter}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // Read as `a or (b and c)`: true by `a`.
        assert!(holds(
            r#"active eq true or userName eq "x" and active eq false"#
        ));
        assert!(!holds(
            r#"(active eq true or userName eq "x") and active eq false"#
        ));
    }

    #[test]
    fn bad_filters_say_where() {
        for (filter, message, position) in [
            ("userName eq", "expected a value", 11),
            ("userName equals \"x\"", "unknown operator `equals`", 9),
            ("userName eq \"x", "unterminated string", 12),
            ("(userName pr", "expected `)`", 12),
            ("userName pr extra", "unexpected text after the filter", 12),
            ("not userName pr", "expected `(` after `not`", 4),
            ("", "the filter is empty", 0),
            ("userName eq bob", "expected a value", 12),
            ("9lives pr", "`9lives` is not an attribute path", 0),
            ("emails[type eq \"work\"", "expected `]`", 21),
        ] {
            let error = parse(filter).unwrap_err();
            assert!(error.message.contains(message), "{filter}: {error}");
            assert_eq!(error.position, position, "{filter}: {error}");
        }
    }

    #[test]
    fn deep_or_long_filters_are_refused_without_exhausting_the_stack() {
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        let error = parse(&deep).unwrap_err();
        assert!(
            error.message.contains("at most 32 deep"),
            "{}",
            error.message
        );
        let huge = format!("{}userName pr{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&huge).is_err());
        let long = vec!["userName pr"; 100_000].join(" and ");
        let error = parse(&long).unwrap_err();
        assert!(
            error.message.contains("at most 1000 tokens"),
            "{}",
            error.message
        );
        let nested = format!("{}userName pr{}", "not (".repeat(32), ")".repeat(32));
        parse(&nested).unwrap();
        let members = format!(
            "members[{}value eq \"x\"{}]",
            "(".repeat(40),
            ")".repeat(40)
        );
        assert!(parse(&members).is_err());
    }

    #[test]
    fn patch_paths_parse() {
        let path = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(path.attribute.attribute, "members");
        assert!(path.filter.unwrap().matches(&json!({"value": "2819c223"})));
        let path = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.sub_attribute.as_deref(), Some("value"));
        let path = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
        assert_eq!(
            path.attribute.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.attribute.attribute, "manager");
        assert_eq!(
            parse_path("name.givenName")
                .unwrap()
                .attribute
                .sub_attribute
                .as_deref(),
            Some("givenName")
        );
        for bad in [
            "members[value eq]",
            "emails[type eq \"work\"]value",
            "",
            "a b",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
