//! Load errors as values: where a problem is (its line, the entity it is in) and what it is (a
//! [`LoadProblem`] carrying the names involved). Rendered as `line N: policy `x`: <problem>`.

use std::fmt;

use crate::bundle::PolicyKind;
use crate::change::EntityKind;
use crate::trino_type::{TrinoType, TypeError};

/// One problem in a policy bundle: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    /// 1-based line in the policy file, when known.
    pub line: Option<usize>,
    /// The entity the problem is in; `None` when the file does not parse into a bundle.
    pub entity: Option<Entity>,
    pub problem: LoadProblem,
}

/// An entity of the bundle, by kind and name (the settings are named
/// [`crate::SETTINGS`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
}

impl Entity {
    pub fn new(kind: EntityKind, name: &str) -> Entity {
        Entity {
            kind,
            name: name.to_owned(),
        }
    }

    pub fn policy(name: &str) -> Entity {
        Entity::new(EntityKind::Policy, name)
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            EntityKind::Settings => formatter.write_str("settings"),
            kind => write!(formatter, "{} `{}`", kind.noun(), self.name),
        }
    }
}

/// What is wrong. Names the user wrote appear in backticks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadProblem {
    /// The text is not YAML of a bundle's shape; the message is the YAML reader's.
    #[error("{message}")]
    Yaml { message: String },

    // Any entity.
    #[error("duplicate {} name", .kind.noun())]
    DuplicateName { kind: EntityKind },
    #[error("a {} has an empty name", .kind.noun())]
    EmptyName { kind: EntityKind },
    #[error("unknown user `{user}`")]
    UnknownUser { user: String },
    #[error("unknown purpose `{purpose}`")]
    UnknownPurpose { purpose: String },

    // Data sources.
    #[error("a data source name is `<schema>.<table>`")]
    DataSourceNameNotSchemaTable,
    #[error("a data source name must be lowercase: Trino lowercases the names users type")]
    DataSourceNameNotLowercase,
    #[error("backing table `{table}` is not `catalog.schema.table`")]
    BackingTableNotCatalogSchemaTable { table: String },
    #[error("a data source needs at least one column")]
    NoColumns,
    #[error("a column has an empty name")]
    EmptyColumnName,
    #[error("duplicate column `{column}`")]
    DuplicateColumn { column: String },
    #[error("column `{column}`: {error}")]
    BadColumnType { column: String, error: TypeError },

    // What a policy targets.
    #[error("unknown data source `{data_source}`")]
    UnknownDataSource { data_source: String },
    #[error("unknown tag `{tag}`")]
    UnknownTag { tag: String },
    /// A column in `on.columns` that no targeted data source has.
    #[error("unknown column `{column}`")]
    UnknownTargetColumn { column: String },
    /// A column a policy names that a data source it reaches lacks.
    #[error("unknown column `{column}` in data source `{data_source}`")]
    UnknownColumn { column: String, data_source: String },
    #[error("a subscription targets data sources, not columns")]
    SubscriptionTargetsColumns,
    #[error("a row filter targets data sources, not columns")]
    RowFilterTargetsColumns,
    #[error("a mask needs `columns` or `column_tags` in `on`")]
    MaskWithoutColumns,
    #[error("a mask targets `columns` or `column_tags`, not both")]
    MaskWithColumnsAndColumnTags,

    // A policy's options.
    #[error("a subscription needs `allow`")]
    SubscriptionWithoutAllow,
    #[error("option `{option}` does not fit a {} policy", .kind.name())]
    OptionDoesNotFitKind {
        option: &'static str,
        kind: PolicyKind,
    },
    #[error("option `{option}` does not fit method `{method}`")]
    OptionDoesNotFitMethod {
        option: &'static str,
        method: String,
    },

    // Mask methods.
    #[error("a mask needs `method`")]
    MaskWithoutMethod,
    #[error(
        "unknown method `{method}` (one of hash, nullify, constant, regex, round, partial, expression, reversible, format_preserving, randomized_response, k_anonymize)"
    )]
    UnknownMethod { method: String },
    #[error("method `{method}` needs `{option}`")]
    MethodNeedsOption {
        method: String,
        option: &'static str,
    },
    #[error("`value` must be a string, number or boolean")]
    ValueNotScalar,
    #[error("method `round` needs exactly one of `digits` and `unit`")]
    RoundNeedsDigitsOrUnit,
    #[error("unknown unit `{unit}` (one of year, quarter, month, week, day, hour, minute)")]
    UnknownUnit { unit: String },
    #[error("`mask_char` must be one character, not `{mask_char}`")]
    MaskCharNotOneCharacter { mask_char: String },
    #[error("method `partial` needs `keep_last` or `keep_first`")]
    PartialNeedsKeep,
    #[error("`probability` must be between 0 and 1, not {probability}")]
    ProbabilityOutOfRange { probability: f64 },
    #[error(
        "method `randomized_response` needs exactly one of `values` (categories to answer with) and `noise` (how far a number or date may move)"
    )]
    RandomizedResponseNeedsValuesOrNoise,
    #[error("each of `values` must be a string, number or boolean")]
    ValuesNotScalar,
    #[error("`values` needs at least two different values")]
    TooFewValues,
    #[error("`values` lists `{value}` twice: a replaced value must be another of them")]
    RepeatedValue { value: String },
    #[error("`noise` must be a positive number, not {noise}")]
    NoiseNotPositive { noise: f64 },
    #[error("`k` must be at least 2, not {k}")]
    KTooSmall { k: u32 },
    #[error("`quasi_identifiers` needs at least one column")]
    NoQuasiIdentifiers,
    #[error("quasi-identifier `{column}` is a column of no data source the policy targets")]
    UnknownQuasiIdentifier { column: String },
    /// A `constant` mask on a column it names whose value does not fit the column's type; the
    /// problem is the compiler's.
    #[error("column `{column}` of data source `{data_source}`: {problem}")]
    ConstantDoesNotFit {
        column: String,
        data_source: String,
        problem: String,
    },

    // Row filters.
    #[error("a row filter needs exactly one of `where`, `match`, `time_window` and `sample`")]
    RowFilterNeedsOnePredicate,
    #[error(
        "column `{column}` in data source `{data_source}` is `{data_type}`, not a date or timestamp"
    )]
    ColumnNotTemporal {
        column: String,
        data_source: String,
        data_type: TrinoType,
    },
    #[error("`time_window` needs exactly one positive `days`, `hours` or `minutes`")]
    TimeWindowNeedsOneAmount,
    #[error("`sample.percent` must be above 0 and at most 100, not {percent}")]
    SamplePercentOutOfRange { percent: f64 },

    // SQL in a policy (`where`, `when`, `sql`), checked by the compiler.
    /// The SQL of `option` is refused; the problem is the compiler's.
    #[error("`{option}`: {problem}")]
    BadSql {
        option: &'static str,
        problem: String,
    },
    #[error("`{option}`: unknown purpose `{purpose}`")]
    UnknownPurposeInSql {
        option: &'static str,
        purpose: String,
    },

    // Settings.
    #[error("`mask_key` `{key}` is not a key id (1 to 64 of `A-Z a-z 0-9 _ . -`)")]
    BadMaskKey { key: String },
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(formatter, "line {line}: ")?;
        }
        if let Some(entity) = &self.entity {
            write!(formatter, "{entity}: ")?;
        }
        write!(formatter, "{}", self.problem)
    }
}

impl std::error::Error for LoadError {}

/// Every problem found in a bundle; a bundle with any is not loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}
