//! Mask methods as Trino expressions, and whether a method fits a column's type.

use veil_policy::{Column, DataSource, MaskMethod, TimeUnit, TrinoType, TypeFamily};

use crate::sql::{push_identifier, push_literal, quote_identifier};

/// Whether Trino compares values of the family with `=` (quasi-identifiers are matched so).
fn comparable(family: TypeFamily) -> bool {
    !matches!(family, TypeFamily::Json | TypeFamily::Other)
}

/// Whether a value of the family casts to varchar, so it can seed a row's random draw.
fn seeds(family: TypeFamily) -> bool {
    !matches!(
        family,
        TypeFamily::Varbinary | TypeFamily::Json | TypeFamily::Other
    )
}

/// Why a method cannot be applied to a column of `data_source` as written; the column is
/// nullified instead.
pub fn misfit(method: &MaskMethod, column: &Column, data_source: &DataSource) -> Option<String> {
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
        // The token is longer than the value: only an unbounded varchar holds it.
        MaskMethod::Reversible => {
            family
                == TypeFamily::String {
                    length: None,
                    fixed: false,
                }
        }
        MaskMethod::FormatPreserving => matches!(family, TypeFamily::String { .. }),
        MaskMethod::RandomizedValues { values, .. } => {
            if !matches!(family, TypeFamily::String { .. }) {
                false
            } else if let Some(value) = values
                .iter()
                .find(|value| cast_problem(value, data_type).is_some())
            {
                return Some(format!(
                    "value `{value}` of `values` cannot be cast to `{data_type}`"
                ));
            } else {
                true
            }
        }
        MaskMethod::RandomizedNoise { .. } => matches!(
            family,
            TypeFamily::Integer { .. }
                | TypeFamily::Float
                | TypeFamily::Date
                | TypeFamily::Timestamp
        ),
        MaskMethod::KAnonymize {
            quasi_identifiers, ..
        } => {
            for name in quasi_identifiers {
                match data_source.column(name) {
                    None => {
                        return Some(format!(
                            "quasi-identifier `{name}` is no column of `{}`",
                            data_source.name
                        ));
                    }
                    Some(quasi) if !comparable(quasi.data_type.family()) => {
                        return Some(format!(
                            "quasi-identifier `{name}` has type `{}`, which Trino cannot compare",
                            quasi.data_type
                        ));
                    }
                    Some(_) => {}
                }
            }
            family != TypeFamily::Other
        }
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

/// What a mask may need beyond its column: the keyed functions, the data source (a row's other
/// columns, its backing table), the mask policy's name and the row filters applied to the user.
pub struct MaskContext<'a> {
    pub keyed: Keyed<'a>,
    pub data_source: &'a DataSource,
    pub policy: &'a str,
    /// Each applied row filter's predicate, rendered, over the table's unqualified columns.
    pub row_filters: &'a [String],
}

/// Appends the masked value of `column` (without `when`); `expression` is the already rendered
/// SQL of an `expression` mask. A method that does not fit renders as `nullify`.
pub fn push_mask(
    out: &mut String,
    method: &MaskMethod,
    column: &Column,
    context: &MaskContext<'_>,
    expression: &str,
) {
    let keyed = &context.keyed;
    let data_type = column.data_type.to_string();
    let method = if misfit(method, column, context.data_source).is_some() {
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
        MaskMethod::Nullify => push_null(out, column),
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
        MaskMethod::Reversible => {
            // The policy's name is the token's associated data: a reveal granted by one policy
            // opens that policy's tokens only.
            keyed.push_call(out, "encrypt");
            push_literal(out, context.policy);
            out.push_str(", CAST(");
            push_identifier(out, name);
            out.push_str(" AS varchar))");
        }
        MaskMethod::FormatPreserving => {
            // Length and classes are kept, so the result fits the column's own type.
            out.push_str("CAST(");
            keyed.push_call(out, "fpe");
            out.push_str("CAST(");
            push_identifier(out, name);
            out.push_str(&format!(" AS varchar)) AS {data_type})"));
        }
        MaskMethod::RandomizedValues {
            probability,
            values,
        } => {
            // One draw u per row: replaced when u < p; then u / p, uniform in [0, 1) again,
            // picks another of `values` (the original's position, if among them, is skipped).
            let quoted = quote_identifier(name);
            let draw = draw(context, name);
            let mut array = String::from("ARRAY[");
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    array.push_str(", ");
                }
                push_literal(&mut array, value);
            }
            array.push(']');
            let count = values.len();
            let position = format!("array_position({array}, CAST({quoted} AS varchar))");
            let pick =
                |among: usize| format!("CAST(floor({draw} / {probability:?} * {among}) AS bigint)");
            out.push_str(&format!(
                "CASE WHEN {quoted} IS NOT NULL AND {draw} < {probability:?} THEN CAST(element_at({array}, \
                 CASE WHEN {position} = 0 THEN 1 + {any} WHEN 1 + {other} < {position} THEN 1 + {other} \
                 ELSE 2 + {other} END) AS {data_type}) ELSE {quoted} END",
                any = pick(count),
                other = pick(count - 1),
            ));
        }
        MaskMethod::RandomizedNoise { probability, noise } => {
            // As above: replaced when u < p, moved by (2 u / p - 1) * noise.
            let quoted = quote_identifier(name);
            let draw = draw(context, name);
            let shift = format!("(2 * {draw} / {probability:?} - 1) * {noise:?}");
            let moved = match column.data_type.family() {
                // Truncated toward zero, so a whole number never moves further than `noise`.
                TypeFamily::Integer { .. } => {
                    format!("CAST({quoted} + CAST(truncate({shift}) AS bigint) AS {data_type})")
                }
                TypeFamily::Date => {
                    format!("date_add('day', CAST(truncate({shift}) AS bigint), {quoted})")
                }
                // Trino's date_add adds at most 2^31 - 1 of a unit (24.8 days of milliseconds):
                // whole minutes first, then the milliseconds left, which sum exactly (a minute is
                // the same time in every zone, where a day need not be).
                TypeFamily::Timestamp => {
                    let millis = format!("CAST(truncate({shift} * 86400000) AS bigint)");
                    format!(
                        "date_add('millisecond', {millis} % 60000, \
                         date_add('minute', {millis} / 60000, {quoted}))"
                    )
                }
                _ => format!("CAST({quoted} + {shift} AS {data_type})"),
            };
            out.push_str(&format!(
                "CASE WHEN {quoted} IS NOT NULL AND {draw} < {probability:?} THEN {moved} ELSE {quoted} END"
            ));
        }
        MaskMethod::KAnonymize {
            k,
            quasi_identifiers,
        } => {
            // The rows of the backing table the user may see (its row filters, over the inner
            // alias) that share this row's quasi-identifiers, this row named by the table's
            // full name; a NULL quasi-identifier matches nothing, so it is suppressed too.
            // Trino plans it as one aggregation joined back; it runs as the view's owner (or,
            // natively, the run-as user), which no mask or filter governs.
            let mut table = String::new();
            for (index, part) in context.data_source.backing.iter().enumerate() {
                if index > 0 {
                    table.push('.');
                }
                push_identifier(&mut table, part);
            }
            out.push_str(&format!(
                "CASE WHEN (SELECT count(*) FROM {table} \"veil_k\" WHERE "
            ));
            for filter in context.row_filters {
                out.push('(');
                out.push_str(filter);
                out.push_str(") AND ");
            }
            for (index, quasi) in quasi_identifiers.iter().enumerate() {
                if index > 0 {
                    out.push_str(" AND ");
                }
                let quasi = quote_identifier(quasi);
                out.push_str(&format!("\"veil_k\".{quasi} = {table}.{quasi}"));
            }
            out.push_str(&format!(") < {k} THEN "));
            push_null(out, column);
            out.push_str(" ELSE ");
            push_identifier(out, name);
            out.push_str(" END");
        }
    }
}

/// `NULL` of the column's own type.
fn push_null(out: &mut String, column: &Column) {
    if column.data_type.family() == TypeFamily::Other {
        // `if(FALSE, col)` is NULL of the column's own type, whatever that type is.
        out.push_str("if(FALSE, ");
        push_identifier(out, &column.name);
        out.push(')');
    } else {
        out.push_str("CAST(NULL AS ");
        out.push_str(&column.data_type.to_string());
        out.push(')');
    }
}

/// A draw in [0, 1) that is fixed for the row, the key, the policy and the column: the plugin's
/// keyed `uniform` over the row's every column that casts to varchar, as a JSON array of their
/// text (NULL as `null`, so no two rows' texts run together).
fn draw(context: &MaskContext<'_>, column: &str) -> String {
    let mut out = String::new();
    context.keyed.push_call(&mut out, "uniform");
    out.push_str("concat(");
    push_literal(&mut out, &format!("{}/{column}/", context.policy));
    out.push_str(", json_format(CAST(ARRAY[");
    let seeds = context
        .data_source
        .columns
        .iter()
        .filter(|column| seeds(column.data_type.family()));
    for (index, seed) in seeds.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!(
            "CAST({} AS varchar)",
            quote_identifier(&seed.name)
        ));
    }
    out.push_str("] AS JSON))))");
    out
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
