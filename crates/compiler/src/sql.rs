//! Escaping: the only way names and values reach generated SQL. Identifiers are double-quoted
//! with `"` doubled, literals single-quoted with `'` doubled; a backslash escapes nothing in
//! Trino, so it is copied as it is.

/// Appends `name` as a quoted Trino identifier.
pub fn push_identifier(out: &mut String, name: &str) {
    out.push('"');
    for character in name.chars() {
        if character == '"' {
            out.push('"');
        }
        out.push(character);
    }
    out.push('"');
}

/// Appends `value` as a Trino string literal.
pub fn push_literal(out: &mut String, value: &str) {
    out.push('\'');
    for character in value.chars() {
        if character == '\'' {
            out.push('\'');
        }
        out.push(character);
    }
    out.push('\'');
}

pub fn quote_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_identifier(&mut out, name);
    out
}

pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_literal(&mut out, value);
    out
}

/// Appends `(v1, v2, ...)` of literals.
pub fn push_literal_list(out: &mut String, values: &[String]) {
    out.push('(');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        push_literal(out, value);
    }
    out.push(')');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_quotes_and_nothing_else() {
        assert_eq!(quote_identifier(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("x' OR 1=1 --"), "'x'' OR 1=1 --'");
        assert_eq!(quote_literal(r"\'"), r"'\'''");
        assert_eq!(quote_literal("a''b"), "'a''''b'");
    }
}
