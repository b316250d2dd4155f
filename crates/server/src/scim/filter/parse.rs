//! Parsing filters and PATCH paths: a tokenizer and a recursive descent over RFC 7644's
//! grammar, bounded in depth and length so that no input can exhaust a thread's stack.

use serde_json::Value;

use super::{AttributePath, Filter, Operator, ParseError, Path};

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
fn attribute_path(text: &str) -> Result<AttributePath, String> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
