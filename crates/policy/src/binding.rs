//! Binding: which policies bear on each data source, resolved once at load, and the mask
//! conflict rules that order the masks competing for a column.

use std::cmp::Ordering;

use crate::bundle::TargetSpec;
use crate::decision::PassReason;
use crate::model::{DataSource, Policy, PolicyId, Rule};
use crate::tag::{deepest_match, glob_matches};

/// The policies that bear on one data source, resolved once at load.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub subscriptions: Vec<PolicyId>,
    /// Per column, the masks that target it, best first by the conflict rules.
    pub masks: Vec<Vec<MaskCandidate>>,
    pub row_filters: Vec<PolicyId>,
}

/// A mask that targets a column, with what ranks it against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskCandidate {
    pub policy: PolicyId,
    /// The policy names the column (`columns:`) rather than reaching it by tag.
    pub names_column: bool,
    /// Segments of the deepest policy tag that matched the column's tags (0 for `columns:`).
    pub tag_depth: usize,
}

/// Whether a policy's `on:` reaches a data source (ignoring columns).
pub fn targets_data_source(target: &TargetSpec, data_source: &DataSource) -> bool {
    let by_name = target.data_sources.is_empty()
        || target
            .data_sources
            .iter()
            .any(|pattern| glob_matches(pattern, &data_source.name));
    let by_tag = target.tags.is_empty() || deepest_match(&target.tags, &data_source.tags).is_some();
    by_name && by_tag
}

/// The conflict rules, and the one place they are written: a mask naming the column beats one
/// reaching it by tag, then the deeper tag wins, then the more restrictive method, then the
/// policy name that sorts first. Returns how `a` orders against `b` (`Less`: `a` wins) and the
/// rule that decided.
pub(crate) fn compare_masks(
    policies: &[Policy],
    a: &MaskCandidate,
    b: &MaskCandidate,
) -> (Ordering, PassReason) {
    let restrictiveness = |candidate: &MaskCandidate| match &policies[candidate.policy].rule {
        Rule::Mask(mask) => mask.method.restrictiveness(),
        _ => 0,
    };
    if a.names_column != b.names_column {
        (
            b.names_column.cmp(&a.names_column),
            PassReason::NamedColumnWins,
        )
    } else if a.tag_depth != b.tag_depth {
        (b.tag_depth.cmp(&a.tag_depth), PassReason::DeeperTagWins)
    } else if restrictiveness(a) != restrictiveness(b) {
        (
            restrictiveness(b).cmp(&restrictiveness(a)),
            PassReason::MoreRestrictiveWins,
        )
    } else {
        (
            policies[a.policy].name.cmp(&policies[b.policy].name),
            PassReason::NameOrder,
        )
    }
}

/// The policies that bear on `data_source`, each column's masks sorted by the conflict rules.
pub(crate) fn bind(data_source: &DataSource, policies: &[Policy]) -> Bindings {
    let mut bindings = Bindings {
        masks: vec![Vec::new(); data_source.columns.len()],
        ..Bindings::default()
    };
    for (id, policy) in policies.iter().enumerate() {
        match contribution(data_source, id, policy) {
            Contribution::None => {}
            Contribution::Subscription => bindings.subscriptions.push(id),
            Contribution::RowFilter => bindings.row_filters.push(id),
            Contribution::Masks(candidates) => {
                for (column, candidate) in candidates {
                    bindings.masks[column].push(candidate);
                }
            }
        }
    }
    // Held for as long as the estate: without the room the pushes left spare.
    for candidates in &mut bindings.masks {
        candidates.sort_by(|a, b| compare_masks(policies, a, b).0);
        candidates.shrink_to_fit();
    }
    bindings.subscriptions.shrink_to_fit();
    bindings.row_filters.shrink_to_fit();
    bindings
}

/// What policy `id` adds to the bindings of one data source.
pub(crate) enum Contribution {
    None,
    Subscription,
    RowFilter,
    /// The columns (by index) the mask targets, each with its candidate.
    Masks(Vec<(usize, MaskCandidate)>),
}

pub(crate) fn contribution(
    data_source: &DataSource,
    id: PolicyId,
    policy: &Policy,
) -> Contribution {
    if !targets_data_source(&policy.target, data_source) {
        return Contribution::None;
    }
    match &policy.rule {
        Rule::Subscription { .. } => Contribution::Subscription,
        Rule::RowFilter(_) => Contribution::RowFilter,
        Rule::Mask(_) => {
            let candidates: Vec<(usize, MaskCandidate)> = data_source
                .columns
                .iter()
                .enumerate()
                .filter_map(|(index, column)| {
                    let candidate = if policy
                        .target
                        .columns
                        .iter()
                        .any(|name| name.eq_ignore_ascii_case(&column.name))
                    {
                        Some(MaskCandidate {
                            policy: id,
                            names_column: true,
                            tag_depth: 0,
                        })
                    } else {
                        deepest_match(&policy.target.column_tags, &column.tags).map(|depth| {
                            MaskCandidate {
                                policy: id,
                                names_column: false,
                                tag_depth: depth,
                            }
                        })
                    };
                    candidate.map(|candidate| (index, candidate))
                })
                .collect();
            if candidates.is_empty() {
                Contribution::None
            } else {
                Contribution::Masks(candidates)
            }
        }
    }
}

impl Bindings {
    /// Whether policy `id` appears anywhere in these bindings.
    pub(crate) fn names(&self, id: PolicyId) -> bool {
        self.policies().any(|policy| policy == id)
    }

    /// Every policy id these bindings hold, with repeats.
    fn policies(&self) -> impl Iterator<Item = PolicyId> + '_ {
        self.subscriptions
            .iter()
            .chain(&self.row_filters)
            .copied()
            .chain(
                self.masks
                    .iter()
                    .flatten()
                    .map(|candidate| candidate.policy),
            )
    }

    /// Takes policy `id` out, keeping every other id.
    pub(crate) fn without(&mut self, id: PolicyId) {
        self.subscriptions.retain(|&policy| policy != id);
        self.row_filters.retain(|&policy| policy != id);
        for candidates in &mut self.masks {
            candidates.retain(|candidate| candidate.policy != id);
        }
    }

    /// Adds what policy `id` contributes where [`bind`] would have put it: lists of ids stay in
    /// ascending order (the policies' order), masks in the conflict rules' order. `policies`
    /// are those the bindings are for, policy `id` included; the others' order among themselves
    /// does not depend on it.
    pub(crate) fn with(&mut self, id: PolicyId, contribution: Contribution, policies: &[Policy]) {
        let insert = |ids: &mut Vec<PolicyId>| {
            let place = ids.partition_point(|&other| other < id);
            ids.insert(place, id);
        };
        match contribution {
            Contribution::None => {}
            Contribution::Subscription => insert(&mut self.subscriptions),
            Contribution::RowFilter => insert(&mut self.row_filters),
            Contribution::Masks(candidates) => {
                for (column, candidate) in candidates {
                    let list = &mut self.masks[column];
                    let place = list.partition_point(|other| {
                        compare_masks(policies, other, &candidate).0 == Ordering::Less
                    });
                    list.insert(place, candidate);
                }
            }
        }
    }

    /// Whether policy `removed` or one after it appears: what its removal renumbers.
    pub(crate) fn names_from(&self, removed: PolicyId) -> bool {
        self.policies().any(|policy| policy >= removed)
    }

    /// These bindings once policy `removed` left the list: it is gone and every later id is one
    /// lower (order is kept: no two policies swap).
    pub(crate) fn renumbered(&self, removed: PolicyId) -> Bindings {
        let renumber = |ids: &[PolicyId]| -> Vec<PolicyId> {
            ids.iter()
                .filter(|&&policy| policy != removed)
                .map(|&policy| if policy > removed { policy - 1 } else { policy })
                .collect()
        };
        Bindings {
            subscriptions: renumber(&self.subscriptions),
            row_filters: renumber(&self.row_filters),
            masks: self
                .masks
                .iter()
                .map(|candidates| {
                    candidates
                        .iter()
                        .filter(|candidate| candidate.policy != removed)
                        .map(|&candidate| MaskCandidate {
                            policy: if candidate.policy > removed {
                                candidate.policy - 1
                            } else {
                                candidate.policy
                            },
                            ..candidate
                        })
                        .collect()
                })
                .collect(),
        }
    }
}
