//! Reveal: who may turn the tokens of a `reversible` mask back into values. A user may reveal a
//! column of a data source when they may see the data source, the mask that applies to them on
//! that column is a `reversible` one, and its policy's `reveal` condition holds for them. The
//! answer names that policy: tokens are bound to it, so a grant opens that policy's tokens only.

use std::fmt;

use crate::model::{DataSourceId, PolicyId, Rule};
use crate::{Estate, MaskMethod, Subject};

/// The answer to "may this subject reveal this column?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reveal {
    Allowed {
        data_source: DataSourceId,
        policy: PolicyId,
    },
    Refused {
        /// Known only when the subject may see the data source.
        data_source: Option<DataSourceId>,
        reason: RevealRefusal,
    },
}

/// Why a reveal is refused, in words safe to show the user who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealRefusal {
    /// No such data source, or one the user may not see: the two read alike.
    NoSuchDataSource {
        name: String,
    },
    /// A backing table that several data sources the user may see are defined on.
    Ambiguous {
        name: String,
    },
    NoSuchColumn {
        data_source: String,
        column: String,
    },
    /// The mask that applies to the user on the column is not `reversible`, or there is none.
    NotReversible {
        data_source: String,
        column: String,
    },
    /// The reversible mask's policy has no `reveal`, or it does not hold for the user.
    NotGranted {
        policy: String,
    },
}

impl fmt::Display for RevealRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevealRefusal::NoSuchDataSource { name } => write!(f, "no data source `{name}` exists"),
            RevealRefusal::Ambiguous { name } => write!(
                f,
                "several data sources are defined on table `{name}`: name the data source"
            ),
            RevealRefusal::NoSuchColumn {
                data_source,
                column,
            } => write!(f, "data source `{data_source}` has no column `{column}`"),
            RevealRefusal::NotReversible {
                data_source,
                column,
            } => write!(
                f,
                "no reversible mask applies to you on column `{column}` of `{data_source}`"
            ),
            RevealRefusal::NotGranted { policy } => {
                write!(f, "policy `{policy}` does not grant you reveal")
            }
        }
    }
}

impl Estate {
    /// Whether `subject` may reveal `column` of the data source `name` — a data source name
    /// (`support.customers`) or the backing table it is defined on (`memory.crm.customers`).
    pub fn reveal(&self, name: &str, column: &str, subject: &Subject<'_>) -> Reveal {
        let refused = |data_source, reason| Reveal::Refused {
            data_source,
            reason,
        };
        let data_source = match self.resolve_visible(name, subject) {
            Ok(data_source) => data_source,
            Err(reason) => return refused(None, reason),
        };
        let source = &self.data_sources[data_source];
        let Some(index) = source
            .columns
            .iter()
            .position(|candidate| candidate.name.eq_ignore_ascii_case(column))
        else {
            return refused(
                Some(data_source),
                RevealRefusal::NoSuchColumn {
                    data_source: source.name.clone(),
                    column: column.to_owned(),
                },
            );
        };
        let decision = self
            .decide(data_source, subject)
            .expect("the subject may see the data source");
        let mask = decision.masks[index].and_then(|policy| match &self.policies[policy].rule {
            Rule::Mask(mask) if mask.method == MaskMethod::Reversible => Some((policy, mask)),
            _ => None,
        });
        let Some((policy, mask)) = mask else {
            return refused(
                Some(data_source),
                RevealRefusal::NotReversible {
                    data_source: source.name.clone(),
                    column: source.columns[index].name.clone(),
                },
            );
        };
        if mask
            .reveal
            .as_ref()
            .is_some_and(|reveal| reveal.holds(subject))
        {
            Reveal::Allowed {
                data_source,
                policy,
            }
        } else {
            refused(
                Some(data_source),
                RevealRefusal::NotGranted {
                    policy: self.policies[policy].name.clone(),
                },
            )
        }
    }

    /// The one data source `name` means that the subject may see.
    fn resolve_visible(
        &self,
        name: &str,
        subject: &Subject<'_>,
    ) -> Result<DataSourceId, RevealRefusal> {
        let parts: Vec<&str> = name.split('.').collect();
        let mut found: Vec<DataSourceId> = Vec::new();
        // Names may hold dots inside a part: try every split.
        for split in 1..parts.len() {
            let (schema, table) = (parts[..split].join("."), parts[split..].join("."));
            found.extend(self.data_source_id(&schema, &table));
            for second in split + 1..parts.len() {
                let catalog = parts[..split].join(".");
                let schema = parts[split..second].join(".");
                let table = parts[second..].join(".");
                found.extend_from_slice(self.data_sources_over(&catalog, &schema, &table));
            }
        }
        found.sort_unstable();
        found.dedup();
        found.retain(|&data_source| self.can_see(data_source, subject));
        match found[..] {
            [data_source] => Ok(data_source),
            [] => Err(RevealRefusal::NoSuchDataSource {
                name: name.to_owned(),
            }),
            _ => Err(RevealRefusal::Ambiguous {
                name: name.to_owned(),
            }),
        }
    }
}
