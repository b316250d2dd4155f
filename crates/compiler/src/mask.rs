//! Mask methods as Trino expressions, and whether a method fits a column's type.

use veil_policy::{Column, MaskMethod, TimeUnit, TrinoType, TypeFamily};

use crate::sql::{push_identifier, push_literal};

/// Why a method cannot be applied to a column as written; the column is nullified instead.
pub fn misfit(method: &MaskMethod, column: &Column) -> Option<String> {
    let family = column.data_type.family();
    let data_type = &column.data_type;
    let fits = match method {
        MaskMethod::Nullify => true,
        // Container types cannot be written in a CAST that every SQL tool reads back.
        MaskMethod::Expression { .. } => family != TypeFamily::Other,
        // The hash keeps the column's type: hex text, or 64 of its bits as a bigint.
        MaskMethod::Hash => matches!(
            family,
            TypeFamily::String { .. } | TypeFamily::Integer { bits: 64 }
        ),
        MaskMethod::Constant { value } => {
            return cast_problem(value, data_type).map(|problem| {
                format!("value `{value}` cannot be cast to `{data_type}`: {problem}")
            });
        }
        MaskMethod::Regex { .. } | MaskMethod::Partial { .. } => {
            matches!(family, TypeFamily::String { .. })
        }
        MaskMethod::RoundDigits { .. } => data_type.is_numeric(),
        MaskMethod::RoundUnit { unit } => match family {
            TypeFamily::Date => !matches!(unit, TimeUnit::Hour | TimeUnit::Minute),
            TypeFamily::Timestamp => true,
            TypeFamily::Time => matches!(unit, TimeUnit::Hour | TimeUnit::Minute),
            _ => false,
        },
    };
    (!fits).then(|| format!("method `{}` does not fit type `{data_type}`", method.name()))
}

/// Where a keyed method's function lives and which key it uses. The key itself is held by the
/// Trino plugin: SQL names only its id, which is no secret.
pub struct Keyed<'a> {
    pub catalog: &'a str,
    pub key: &'a str,
}

impl Keyed<'_> {
    /// Appends `"<catalog>"."system"."<function>"('<key id>', `.
    fn push_call(&self, out: &mut String, function: &str) {
        push_identifier(out, self.catalog);
        out.push_str(".\"system\".");
        push_identifier(out, function);
        out.push('(');
        push_literal(out, self.key);
        out.push_str(", ");
    }
}

/// Appends the masked value of `column` (without `when`); `expression` is the already rendered
/// SQL of an `expression` mask. A method that does not fit renders as `nullify`.
pub fn push_mask(
    out: &mut String,
    method: &MaskMethod,
    column: &Column,
    keyed: &Keyed<'_>,
    expression: &str,
) {
    let data_type = column.data_type.to_string();
    let method = if misfit(method, column).is_some() {
        &MaskMethod::Nullify
    } else {
        method
    };
    let name = &column.name;
    match method {
        MaskMethod::Hash => {
            // HMAC-SHA256 of the value's text, lowercase hex, by the plugin's keyed function;
            // cut to the column's length (a string) or its first 64 bits (a bigint), so the
            // masked column keeps its type in a view and under Trino's column masks alike.
            let family = column.data_type.family();
            let bigint = family == (TypeFamily::Integer { bits: 64 });
            let unbounded = family
                == (TypeFamily::String {
                    length: None,
                    fixed: false,
                });
            if bigint {
                out.push_str("from_big_endian_64(from_hex(substr(");
            } else if !unbounded {
                out.push_str("CAST(");
            }
            keyed.push_call(out, "hash");
            out.push_str("CAST(");
            push_identifier(out, name);
            out.push_str(" AS varchar))");
            if bigint {
                out.push_str(", 1, 16)))");
            } else if !unbounded {
                out.push_str(" AS ");
                out.push_str(&data_type);
                out.push(')');
            }
        }
        MaskMethod::Nullify if column.data_type.family() == TypeFamily::Other => {
            // `if(FALSE, col)` is NULL of the column's own type, whatever that type is.
            out.push_str("if(FALSE, ");
            push_identifier(out, name);
            out.push(')');
        }
        MaskMethod::Nullify => {
            out.push_str("CAST(NULL AS ");
            out.push_str(&data_type);
            out.push(')');
        }
        MaskMethod::Constant { value } => {
            out.push_str("CAST(");
            push_literal(out, value);
            out.push_str(" AS ");
            out.push_str(&data_type);
            out.push(')');
        }
        MaskMethod::Regex {
            pattern,
            replacement,
        } => {
            out.push_str("CAST(regexp_replace(");
            push_identifier(out, name);
            out.push_str(", ");
            push_literal(out, pattern);
            out.push_str(", ");
            push_literal(out, replacement);
            out.push_str(") AS ");
            out.push_str(&data_type);
            out.push(')');
        }
        MaskMethod::RoundDigits { digits } => {
            out.push_str("CAST(round(");
            push_identifier(out, name);
            out.push_str(&format!(", {digits}) AS {data_type})"));
        }
        MaskMethod::RoundUnit { unit } => {
            out.push_str("CAST(date_trunc(");
            push_literal(out, unit.name());
            out.push_str(", ");
            push_identifier(out, name);
            out.push_str(&format!(") AS {data_type})"));
        }
        MaskMethod::Partial {
            keep_first,
            keep_last,
            mask_char,
        } => {
            let quoted = crate::sql::quote_identifier(name);
            let mut fill = String::new();
            push_literal(&mut fill, &mask_char.to_string());
            let kept = keep_first + keep_last;
            out.push_str(&format!(
                "CAST(CASE WHEN length({quoted}) <= {kept} THEN rpad('', length({quoted}), {fill}) \
                 ELSE concat(substr({quoted}, 1, {keep_first}), rpad('', length({quoted}) - {kept}, {fill}), \
                 substr({quoted}, length({quoted}) - {keep_last} + 1)) END AS {data_type})"
            ));
        }
        MaskMethod::Expression { .. } => {
            out.push_str("CAST((");
            out.push_str(expression);
            out.push_str(&format!(") AS {data_type})"));
        }
    }
}

/// Why a literal cannot be cast to a type, or `None` when it can.
pub fn cast_problem(value: &str, data_type: &TrinoType) -> Option<String> {
    let ok = match data_type.family() {
        TypeFamily::Boolean => ["true", "false"].contains(&value.to_ascii_lowercase().as_str()),
        TypeFamily::Integer { bits } => value.trim().parse::<i64>().is_ok_and(|number| {
            let limit = 1i128 << (bits - 1);
            (-limit..limit).contains(&(number as i128))
        }),
        TypeFamily::Decimal { precision, scale } => decimal_fits(value.trim(), precision, scale),
        TypeFamily::Float => value.trim().parse::<f64>().is_ok(),
        TypeFamily::String { length, .. } => {
            length.is_none_or(|length| value.chars().count() <= length as usize)
        }
        TypeFamily::Date => is_date(value.trim()),
        TypeFamily::Timestamp => {
            let value = value.trim();
            let (date, time) = value.split_once(' ').unwrap_or((value, ""));
            is_date(date) && (time.is_empty() || is_time_prefix(time))
        }
        TypeFamily::Time => is_time_prefix(value.trim()),
        TypeFamily::Varbinary | TypeFamily::Json => true,
        TypeFamily::Uuid => {
            let parts: Vec<&str> = value.split('-').collect();
            parts.iter().map(|part| part.len()).eq([8, 4, 4, 4, 12])
                && parts
                    .iter()
                    .all(|part| part.chars().all(|c| c.is_ascii_hexdigit()))
        }
        TypeFamily::Other => return Some("no literal casts to this type".to_owned()),
    };
    (!ok).then(|| "not a valid value of that type".to_owned())
}

fn decimal_fits(value: &str, precision: u32, scale: u32) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
        && whole.trim_start_matches('0').len() as u32 <= precision - scale
}

fn is_date(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let number = |text: &str, width: usize| {
        (text.len() == width && text.chars().all(|c| c.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (number(year, 4), number(month, 2), number(day, 2)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

/// `HH:MM[:SS[.fraction]]`, optionally followed by a zone.
fn is_time_prefix(value: &str) -> bool {
    let clock = value.split(' ').next().unwrap_or("");
    let mut parts = clock.splitn(3, ':');
    let two = |part: Option<&str>, max: u32| {
        part.is_some_and(|text| text.len() == 2 && text.parse::<u32>().is_ok_and(|n| n <= max))
    };
    if !(two(parts.next(), 23) && two(parts.next(), 59)) {
        return false;
    }
    match parts.next() {
        None => true,
        Some(seconds) => {
            let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
            two(Some(whole), 59)
                && !fraction.is_empty()
                && fraction.chars().all(|c| c.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TrinoType {
        TrinoType::parse(text).unwrap()
    }

    #[test]
    fn casts() {
        assert!(cast_problem("42", &parse("integer")).is_none());
        assert!(cast_problem("4000000000", &parse("integer")).is_some());
        assert!(cast_problem("-128", &parse("tinyint")).is_none());
        assert!(cast_problem("-129", &parse("tinyint")).is_some());
        assert!(cast_problem("abc", &parse("bigint")).is_some());
        assert!(cast_problem("1234.56", &parse("decimal(6,2)")).is_none());
        assert!(cast_problem("12345.6", &parse("decimal(6,2)")).is_some());
        assert!(cast_problem("TRUE", &parse("boolean")).is_none());
        assert!(cast_problem("yes", &parse("boolean")).is_some());
        assert!(cast_problem("abcd", &parse("varchar(3)")).is_some());
        assert!(cast_problem("abc", &parse("varchar(3)")).is_none());
        assert!(cast_problem("2026-13-01", &parse("date")).is_some());
        assert!(cast_problem("2026-01-01 10:00:00.123", &parse("timestamp(3)")).is_none());
        assert!(cast_problem("2026-01-01 25:00", &parse("timestamp(3)")).is_some());
        assert!(cast_problem("1.5e3", &parse("double")).is_none());
        assert!(cast_problem("x", &parse("array(varchar)")).is_some());
    }
}
