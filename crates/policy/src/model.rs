//! The checked policy model: data sources with parsed types, users, projects and typed policies.
//! Built from a [`crate::Bundle`] by [`crate::Estate::new`]; every value here is valid.

use std::collections::HashSet;

use crate::{Condition, TargetSpec, TrinoType};

/// Index of a data source in [`crate::Estate::data_sources`].
pub type DataSourceId = usize;
/// Index of a policy in [`crate::Estate::policies`].
pub type PolicyId = usize;

#[derive(Debug, Clone)]
pub struct DataSource {
    /// `schema.table` in the governed catalog.
    pub name: String,
    pub schema: String,
    pub table: String,
    /// The backing table: catalog, schema, table.
    pub backing: [String; 3],
    pub tags: Vec<String>,
    pub columns: Vec<Column>,
    pub description: Option<String>,
}

impl DataSource {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|column| column.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data_type: TrinoType,
    pub tags: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub purposes: Vec<String>,
    pub members: HashSet<String>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub target: TargetSpec,
    pub rule: Rule,
}

#[derive(Debug, Clone)]
pub enum Rule {
    Subscription { allow: Condition },
    Mask(Mask),
    RowFilter(RowFilter),
}

impl Rule {
    /// Every condition of the rule: `allow`; `for`, `except` and `reveal`.
    pub fn visit_conditions<'a>(&'a self, visit: &mut impl FnMut(&'a Condition)) {
        let audience = match self {
            Rule::Subscription { allow } => return visit(allow),
            Rule::Mask(mask) => {
                if let Some(reveal) = &mask.reveal {
                    visit(reveal);
                }
                &mask.audience
            }
            Rule::RowFilter(filter) => &filter.audience,
        };
        visit(&audience.for_condition);
        if let Some(except) = &audience.except_condition {
            visit(except);
        }
    }
}

/// `for` (default everyone) and `except` of a mask or row filter.
#[derive(Debug, Clone)]
pub struct Audience {
    pub for_condition: Condition,
    pub except_condition: Option<Condition>,
}

impl Audience {
    pub fn includes(&self, subject: &crate::Subject<'_>) -> bool {
        self.for_condition.holds(subject)
            && !self
                .except_condition
                .as_ref()
                .is_some_and(|except| except.holds(subject))
    }
}

#[derive(Debug, Clone)]
pub struct Mask {
    pub audience: Audience,
    pub method: MaskMethod,
    /// Mask only rows where this predicate holds.
    pub when: Option<String>,
    /// `reversible` only: who may reveal the policy's tokens (nobody when absent).
    pub reveal: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MaskMethod {
    Hash,
    Nullify,
    Constant {
        value: String,
    },
    Regex {
        pattern: String,
        replacement: String,
    },
    RoundDigits {
        digits: i32,
    },
    RoundUnit {
        unit: TimeUnit,
    },
    Partial {
        keep_first: u32,
        keep_last: u32,
        mask_char: char,
    },
    Expression {
        sql: String,
    },
    /// Deterministic authenticated encryption (AES-256-GCM-SIV) to a text token, by the
    /// plugin's keyed `encrypt`.
    Reversible,
    /// FF1 over each of the value's character classes, by the plugin's keyed `fpe`.
    FormatPreserving,
    /// With probability `probability`, another of `values` instead of the value; per row and
    /// key, by the plugin's keyed `uniform`.
    RandomizedValues {
        probability: f64,
        values: Vec<String>,
    },
    /// With probability `probability`, the value moved by at most `noise` (days for dates and
    /// timestamps); per row and key.
    RandomizedNoise {
        probability: f64,
        noise: f64,
    },
    /// NULL when fewer than `k` of the rows the user may see share the row's combination of
    /// `quasi_identifiers`.
    KAnonymize {
        k: u32,
        quasi_identifiers: Vec<String>,
    },
}

impl MaskMethod {
    pub fn name(&self) -> &'static str {
        match self {
            MaskMethod::Hash => "hash",
            MaskMethod::Nullify => "nullify",
            MaskMethod::Constant { .. } => "constant",
            MaskMethod::Regex { .. } => "regex",
            MaskMethod::RoundDigits { .. } | MaskMethod::RoundUnit { .. } => "round",
            MaskMethod::Partial { .. } => "partial",
            MaskMethod::Expression { .. } => "expression",
            MaskMethod::Reversible => "reversible",
            MaskMethod::FormatPreserving => "format_preserving",
            MaskMethod::RandomizedValues { .. } | MaskMethod::RandomizedNoise { .. } => {
                "randomized_response"
            }
            MaskMethod::KAnonymize { .. } => "k_anonymize",
        }
    }

    /// Higher is more restrictive, by how much of the value a user can learn: `nullify` >
    /// `constant` > `hash` > `reversible` > `format_preserving` > `partial` > `regex` > `round`
    /// > `randomized_response` > `k_anonymize` > `expression`.
    pub fn restrictiveness(&self) -> u8 {
        match self {
            MaskMethod::Nullify => 11,
            MaskMethod::Constant { .. } => 10,
            MaskMethod::Hash => 9,
            // Equality, like a hash, but those granted `reveal` can turn it back.
            MaskMethod::Reversible => 8,
            // Equality, and the value's length and character classes.
            MaskMethod::FormatPreserving => 7,
            MaskMethod::Partial { .. } => 6,
            MaskMethod::Regex { .. } => 5,
            MaskMethod::RoundDigits { .. } | MaskMethod::RoundUnit { .. } => 4,
            // The true value in most rows, each deniable.
            MaskMethod::RandomizedValues { .. } | MaskMethod::RandomizedNoise { .. } => 3,
            // The true value in every row whose combination is common enough.
            MaskMethod::KAnonymize { .. } => 2,
            MaskMethod::Expression { .. } => 1,
        }
    }
}

/// Units `round` truncates date/time values to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
}

impl TimeUnit {
    pub const ALL: [TimeUnit; 7] = [
        TimeUnit::Year,
        TimeUnit::Quarter,
        TimeUnit::Month,
        TimeUnit::Week,
        TimeUnit::Day,
        TimeUnit::Hour,
        TimeUnit::Minute,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Year => "year",
            TimeUnit::Quarter => "quarter",
            TimeUnit::Month => "month",
            TimeUnit::Week => "week",
            TimeUnit::Day => "day",
            TimeUnit::Hour => "hour",
            TimeUnit::Minute => "minute",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RowFilter {
    pub audience: Audience,
    pub predicate: RowPredicate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowPredicate {
    /// A SQL boolean expression over the row's columns.
    Where { sql: String },
    /// Rows whose `column` is one of the user's values of `attribute`.
    Match { column: String, attribute: String },
    /// Rows whose `column` is no older than `amount` units before now.
    TimeWindow {
        column: String,
        amount: u32,
        unit: WindowUnit,
    },
    /// A deterministic `percent`% of rows chosen by a hash of `column`.
    Sample { percent: f64, column: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowUnit {
    Day,
    Hour,
    Minute,
}

impl WindowUnit {
    pub fn name(self) -> &'static str {
        match self {
            WindowUnit::Day => "DAY",
            WindowUnit::Hour => "HOUR",
            WindowUnit::Minute => "MINUTE",
        }
    }
}
