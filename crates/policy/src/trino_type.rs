//! Trino column types: parsed from their text so that a type can be written into SQL safely and
//! its family (string, numeric, temporal, ...) decides which masks fit.

use std::fmt;

/// A parsed Trino type, printed back in Trino's canonical lowercase form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrinoType {
    /// The base name, lowercase: `varchar`, `decimal`, `timestamp`, `array`, ...
    pub name: String,
    pub parameters: Vec<TypeParameter>,
    /// `timestamp(3) with time zone`, `time with time zone`.
    pub with_time_zone: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeParameter {
    Number(u32),
    Type(TrinoType),
    /// A `row` field: a name and its type.
    Field(String, TrinoType),
}

/// The family a type belongs to, which decides what a mask may do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFamily {
    Boolean,
    /// `tinyint` .. `bigint`, with the largest magnitude they hold.
    Integer {
        bits: u32,
    },
    Decimal {
        precision: u32,
        scale: u32,
    },
    Float,
    /// `varchar` (no length: unbounded) and `char(n)`.
    String {
        length: Option<u32>,
        fixed: bool,
    },
    Date,
    /// `timestamp` and `time`, with or without a zone.
    Timestamp,
    Time,
    Varbinary,
    Json,
    Uuid,
    /// `array`, `map`, `row` and anything else that does not cast from a string literal.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Trino type `{text}`: {reason}")]
pub struct TypeError {
    pub text: String,
    pub reason: String,
}

const SIMPLE_TYPES: &[&str] = &[
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "int",
    "bigint",
    "real",
    "double",
    "decimal",
    "varchar",
    "char",
    "varbinary",
    "json",
    "date",
    "time",
    "timestamp",
    "interval",
    "uuid",
    "ipaddress",
    "hyperloglog",
    "array",
    "map",
    "row",
];

impl TrinoType {
    pub fn parse(text: &str) -> Result<TrinoType, TypeError> {
        let error = |reason: &str| TypeError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parser = Parser {
            tokens: tokenize(text).map_err(|reason| error(&reason))?,
            position: 0,
        };
        let parsed = parser.parse_type().map_err(|reason| error(&reason))?;
        if parser.position != parser.tokens.len() {
            return Err(error("unexpected text after the type"));
        }
        Ok(parsed)
    }

    pub fn family(&self) -> TypeFamily {
        let number = |index: usize| match self.parameters.get(index) {
            Some(TypeParameter::Number(number)) => Some(*number),
            _ => None,
        };
        match self.name.as_str() {
            "boolean" => TypeFamily::Boolean,
            "tinyint" => TypeFamily::Integer { bits: 8 },
            "smallint" => TypeFamily::Integer { bits: 16 },
            "integer" | "int" => TypeFamily::Integer { bits: 32 },
            "bigint" => TypeFamily::Integer { bits: 64 },
            "real" | "double" => TypeFamily::Float,
            "decimal" => TypeFamily::Decimal {
                precision: number(0).unwrap_or(38),
                scale: number(1).unwrap_or(0),
            },
            "varchar" => TypeFamily::String {
                length: number(0),
                fixed: false,
            },
            "char" => TypeFamily::String {
                length: Some(number(0).unwrap_or(1)),
                fixed: true,
            },
            "date" => TypeFamily::Date,
            "timestamp" => TypeFamily::Timestamp,
            "time" => TypeFamily::Time,
            "varbinary" => TypeFamily::Varbinary,
            "json" => TypeFamily::Json,
            "uuid" => TypeFamily::Uuid,
            _ => TypeFamily::Other,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self.family(), TypeFamily::String { .. })
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self.family(),
            TypeFamily::Integer { .. } | TypeFamily::Decimal { .. } | TypeFamily::Float
        )
    }
}

impl fmt::Display for TrinoType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name)?;
        if !self.parameters.is_empty() {
            // Trino's own spelling: `decimal(12,2)` but `map(varchar, bigint)`.
            let all_numbers = self
                .parameters
                .iter()
                .all(|parameter| matches!(parameter, TypeParameter::Number(_)));
            let separator = if all_numbers { "," } else { ", " };
            formatter.write_str("(")?;
            for (index, parameter) in self.parameters.iter().enumerate() {
                if index > 0 {
                    formatter.write_str(separator)?;
                }
                match parameter {
                    TypeParameter::Number(number) => write!(formatter, "{number}")?,
                    TypeParameter::Type(inner) => write!(formatter, "{inner}")?,
                    TypeParameter::Field(name, inner) if is_plain_name(name) => {
                        write!(formatter, "{name} {inner}")?
                    }
                    TypeParameter::Field(name, inner) => {
                        write!(formatter, "\"{}\" {inner}", name.replace('"', "\"\""))?
                    }
                }
            }
            formatter.write_str(")")?;
        }
        if self.with_time_zone {
            formatter.write_str(" with time zone")?;
        }
        Ok(())
    }
}

fn is_plain_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && characters.all(|rest| rest.is_ascii_lowercase() || rest.is_ascii_digit() || rest == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Number(u32),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut characters = text.chars().peekable();
    while let Some(&character) = characters.peek() {
        match character {
            ' ' | '\t' => {
                characters.next();
            }
            '(' | ')' | ',' => {
                characters.next();
                tokens.push(match character {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '0'..='9' => {
                let mut digits = String::new();
                while let Some(&digit @ '0'..='9') = characters.peek() {
                    digits.push(digit);
                    characters.next();
                }
                let number = digits
                    .parse()
                    .map_err(|_| format!("number `{digits}` is too large"))?;
                tokens.push(Token::Number(number));
            }
            '"' => {
                characters.next();
                let mut name = String::new();
                loop {
                    match characters.next() {
                        Some('"') if characters.peek() == Some(&'"') => {
                            characters.next();
                            name.push('"');
                        }
                        Some('"') => break,
                        Some(other) => name.push(other),
                        None => return Err("unterminated quoted field name".to_owned()),
                    }
                }
                tokens.push(Token::Quoted(name));
            }
            character if character.is_ascii_alphabetic() || character == '_' => {
                let mut word = String::new();
                while let Some(&letter) = characters.peek() {
                    if !(letter.is_ascii_alphanumeric() || letter == '_') {
                        break;
                    }
                    word.push(letter.to_ascii_lowercase());
                    characters.next();
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn word(&mut self, expected: &str) -> bool {
        if self.peek() == Some(&Token::Word(expected.to_owned())) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn parse_type(&mut self) -> Result<TrinoType, String> {
        let name = match self.next() {
            Some(Token::Word(word)) => word,
            _ => return Err("expected a type name".to_owned()),
        };
        if !SIMPLE_TYPES.contains(&name.as_str()) {
            return Err(format!("unknown type `{name}`"));
        }
        let mut parsed = TrinoType {
            name,
            parameters: Vec::new(),
            with_time_zone: false,
        };
        if parsed.name == "double" {
            self.word("precision");
        }
        if parsed.name == "interval" {
            // `interval day to second` / `interval year to month`
            let (from, to) = match (self.next(), self.next(), self.next()) {
                (Some(Token::Word(from)), Some(Token::Word(to_word)), Some(Token::Word(to)))
                    if to_word == "to" =>
                {
                    (from, to)
                }
                _ => {
                    return Err(
                        "expected `interval day to second` or `interval year to month`".to_owned(),
                    );
                }
            };
            parsed.name = match (from.as_str(), to.as_str()) {
                ("day", "second") => "interval day to second".to_owned(),
                ("year", "month") => "interval year to month".to_owned(),
                _ => return Err(format!("unknown interval `{from} to {to}`")),
            };
            return Ok(parsed);
        }
        if self.peek() == Some(&Token::Open) {
            self.position += 1;
            loop {
                let parameter = match self.peek() {
                    Some(Token::Number(_)) => match self.next() {
                        Some(Token::Number(number)) => TypeParameter::Number(number),
                        _ => unreachable!("peeked a number"),
                    },
                    _ if parsed.name == "row" => {
                        let field = match self.next() {
                            Some(Token::Word(word)) => word,
                            Some(Token::Quoted(word)) => word,
                            _ => return Err("expected a row field name".to_owned()),
                        };
                        TypeParameter::Field(field, self.parse_type()?)
                    }
                    _ => TypeParameter::Type(self.parse_type()?),
                };
                parsed.parameters.push(parameter);
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    _ => return Err("expected `,` or `)`".to_owned()),
                }
            }
        }
        self.check_parameters(&parsed)?;
        // A column holds its type for as long as the estate: without what the pushes left spare.
        parsed.name.shrink_to_fit();
        parsed.parameters.shrink_to_fit();
        if matches!(parsed.name.as_str(), "timestamp" | "time") {
            if self.word("with") {
                if !(self.word("time") && self.word("zone")) {
                    return Err("expected `with time zone`".to_owned());
                }
                parsed.with_time_zone = true;
            } else if self.word("without") && !(self.word("time") && self.word("zone")) {
                return Err("expected `without time zone`".to_owned());
            }
        }
        Ok(parsed)
    }

    fn check_parameters(&self, parsed: &TrinoType) -> Result<(), String> {
        let numbers = parsed
            .parameters
            .iter()
            .filter(|parameter| matches!(parameter, TypeParameter::Number(_)))
            .count();
        let count = parsed.parameters.len();
        let fits = match parsed.name.as_str() {
            "varchar" | "char" | "timestamp" | "time" => count <= 1 && numbers == count,
            "decimal" => count <= 2 && numbers == count,
            "array" => count == 1 && numbers == 0,
            "map" => count == 2 && numbers == 0,
            "row" => count >= 1 && numbers == 0,
            _ => count == 0,
        };
        if !fits {
            return Err(format!("wrong parameters for `{}`", parsed.name));
        }
        if let [
            TypeParameter::Number(precision),
            TypeParameter::Number(scale),
        ] = parsed.parameters.as_slice()
            && (scale > precision || *precision == 0 || *precision > 38)
        {
            return Err(format!(
                "invalid decimal precision and scale ({precision}, {scale})"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, canonical: &str) {
        assert_eq!(TrinoType::parse(text).unwrap().to_string(), canonical);
    }

    #[test]
    fn parses_and_prints_canonical_types() {
        check("bigint", "bigint");
        check("VARCHAR(25)", "varchar(25)");
        check("decimal(12, 2)", "decimal(12,2)");
        check("timestamp(3) with time zone", "timestamp(3) with time zone");
        check("array(varchar)", "array(varchar)");
        check("map(varchar, array(bigint))", "map(varchar, array(bigint))");
        check(
            "row(a bigint, \"b c\" varchar)",
            "row(a bigint, \"b c\" varchar)",
        );
        check("interval day to second", "interval day to second");
    }

    #[test]
    fn rejects_anything_that_is_not_a_type() {
        for text in [
            "",
            "varchar); DROP TABLE x; --",
            "bigint bigint",
            "decimal(2, 5)",
            "varchar(a)",
            "map(varchar)",
            "unknown_type",
            "varchar(",
            "row(\"a bigint)",
        ] {
            assert!(
                TrinoType::parse(text).is_err(),
                "`{text}` should be rejected"
            );
        }
    }

    #[test]
    fn families() {
        let family = |text: &str| TrinoType::parse(text).unwrap().family();
        assert_eq!(family("integer"), TypeFamily::Integer { bits: 32 });
        assert_eq!(
            family("decimal(12,2)"),
            TypeFamily::Decimal {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(
            family("char(3)"),
            TypeFamily::String {
                length: Some(3),
                fixed: true
            }
        );
        assert_eq!(family("array(bigint)"), TypeFamily::Other);
    }
}
