//! Decisions: who is asking ([`Subject`]), whether they may see a data source, and which mask and
//! row filters apply to them. A decision is a value; "denied" is an answer, not an error.

use std::cmp::Ordering;

use crate::Estate;
use crate::UserSpec;
use crate::binding::{MaskCandidate, compare_masks};
use crate::model::{DataSourceId, PolicyId, Rule};

/// What the caller says about the user: the plugin's view of the session.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub user: &'a str,
    /// Groups Trino resolved; used only when the server trusts them.
    pub groups: &'a [String],
    pub project: Option<&'a str>,
}

/// Why an identity cannot be turned into a subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("the user name is empty")]
    EmptyUser,
    #[error("user `{user}` may not act under project `{project}`")]
    ProjectNotAllowed { user: String, project: String },
}

/// The user a decision is about, resolved against the estate.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub name: &'a str,
    stored: Option<&'a UserSpec>,
    /// Groups from Trino, when trusted; merged with the stored ones.
    extra_groups: &'a [String],
    purposes: &'a [String],
    pub project: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// A deactivated user (SCIM's `active: false`) sees nothing: see [`Estate::can_see`].
    pub fn is_deactivated(&self) -> bool {
        self.stored.is_some_and(|user| user.deactivated)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.stored
            .is_some_and(|user| user.groups.iter().any(|held| held == group))
            || self.extra_groups.iter().any(|held| held == group)
    }

    pub fn has_purpose(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|held| held == purpose)
    }

    /// The subject's values of an attribute (empty when they have none).
    pub fn attribute(&self, key: &str) -> &'a [String] {
        self.stored
            .and_then(|user| user.attributes.get(key))
            .map_or(&[], Vec::as_slice)
    }
}

/// What applies to one user on one data source they may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decision {
    pub data_source: DataSourceId,
    /// Per column, the mask policy that applies, if any.
    pub masks: Vec<Option<PolicyId>>,
    /// The row filters that apply, all ANDed.
    pub row_filters: Vec<PolicyId>,
}

/// The full reasoning behind a decision, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Each subscription policy on the data source and whether its `allow` held.
    pub subscriptions: Vec<(PolicyId, bool)>,
    /// `None` when the user may not see the data source.
    pub decision: Option<Decision>,
    /// Per column: the masks that targeted it but lost or did not apply.
    pub columns: Vec<Vec<Passed>>,
    /// Row filters on the data source that did not apply to this user.
    pub skipped_row_filters: Vec<PolicyId>,
}

/// A mask that targeted a column but is not the one applied, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    pub policy: PolicyId,
    pub reason: PassReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    /// Its `for` did not hold or its `except` did.
    NotForThisUser,
    /// It applied, but the winner names the column while this one reaches it by tag.
    NamedColumnWins,
    /// The winner's tag is deeper.
    DeeperTagWins,
    /// The winner's method is more restrictive.
    MoreRestrictiveWins,
    /// Tied on everything else; the winner's name sorts first.
    NameOrder,
}

impl Estate {
    /// Resolves who is asking. Unknown users have no groups and no attributes; a project the
    /// user is not a member of (or that does not exist) is an error, never silently ignored.
    pub fn subject<'a>(
        &'a self,
        identity: Identity<'a>,
        trust_trino_groups: bool,
    ) -> Result<Subject<'a>, SubjectError> {
        if identity.user.is_empty() {
            return Err(SubjectError::EmptyUser);
        }
        let purposes: &[String] = match identity.project.filter(|project| !project.is_empty()) {
            None => &[],
            Some(name) => match self.project(name) {
                Some(project) if project.members.contains(identity.user) => &project.purposes,
                _ => {
                    return Err(SubjectError::ProjectNotAllowed {
                        user: identity.user.to_owned(),
                        project: name.to_owned(),
                    });
                }
            },
        };
        Ok(Subject {
            name: identity.user,
            stored: self.user(identity.user),
            extra_groups: if trust_trino_groups {
                identity.groups
            } else {
                &[]
            },
            purposes,
            project: identity.project.filter(|project| !project.is_empty()),
        })
    }

    /// Deny by default: visible only when at least one subscription targets the data source and
    /// every one that does allows the subject. The one home of that rule. A deactivated user
    /// sees nothing: not even `everyone`, a `not` condition or groups Trino sends let them in.
    pub fn can_see(&self, data_source: DataSourceId, subject: &Subject<'_>) -> bool {
        let subscriptions = &self.bindings[data_source].subscriptions;
        !subject.is_deactivated()
            && !subscriptions.is_empty()
            && subscriptions
                .iter()
                .all(|&policy| self.allows(policy, subject))
    }

    /// Whether a subscription's `allow` holds for the subject.
    fn allows(&self, policy: PolicyId, subject: &Subject<'_>) -> bool {
        match &self.policies[policy].rule {
            Rule::Subscription { allow } => allow.holds(subject),
            _ => false,
        }
    }

    /// The mask that wins a column: the first candidate, in conflict-rule order, whose audience
    /// includes the subject.
    fn winning_mask<'c>(
        &self,
        candidates: &'c [MaskCandidate],
        subject: &Subject<'_>,
    ) -> Option<&'c MaskCandidate> {
        candidates
            .iter()
            .find(|candidate| self.applies(candidate.policy, subject))
    }

    /// The decision for a subject on a data source; `None` when they may not see it.
    pub fn decide(&self, data_source: DataSourceId, subject: &Subject<'_>) -> Option<Decision> {
        if !self.can_see(data_source, subject) {
            return None;
        }
        let bindings = &self.bindings[data_source];
        let masks = bindings
            .masks
            .iter()
            .map(|candidates| {
                self.winning_mask(candidates, subject)
                    .map(|candidate| candidate.policy)
            })
            .collect();
        let row_filters = bindings
            .row_filters
            .iter()
            .copied()
            .filter(|&policy| self.applies(policy, subject))
            .collect();
        Some(Decision {
            data_source,
            masks,
            row_filters,
        })
    }

    /// The decision with every reason: which subscriptions held, and for each column which masks
    /// were overridden or did not apply.
    pub fn explain(&self, data_source: DataSourceId, subject: &Subject<'_>) -> Explanation {
        let bindings = &self.bindings[data_source];
        let subscriptions = bindings
            .subscriptions
            .iter()
            .map(|&policy| (policy, self.allows(policy, subject)))
            .collect();
        let decision = self.decide(data_source, subject);
        let columns = bindings
            .masks
            .iter()
            .map(|candidates| self.passed_masks(candidates, subject))
            .collect();
        let skipped_row_filters = bindings
            .row_filters
            .iter()
            .copied()
            .filter(|&policy| !self.applies(policy, subject))
            .collect();
        Explanation {
            subscriptions,
            decision,
            columns,
            skipped_row_filters,
        }
    }

    fn passed_masks(&self, candidates: &[MaskCandidate], subject: &Subject<'_>) -> Vec<Passed> {
        let winner = self.winning_mask(candidates, subject);
        candidates
            .iter()
            .filter(|candidate| winner.is_none_or(|winner| winner.policy != candidate.policy))
            .map(|candidate| Passed {
                policy: candidate.policy,
                reason: match winner {
                    Some(winner) if self.applies(candidate.policy, subject) => {
                        let (ordering, reason) = compare_masks(&self.policies, winner, candidate);
                        debug_assert_eq!(ordering, Ordering::Less);
                        reason
                    }
                    _ => PassReason::NotForThisUser,
                },
            })
            .collect()
    }

    /// Whether a mask or row filter's `for`/`except` includes the subject.
    fn applies(&self, policy: PolicyId, subject: &Subject<'_>) -> bool {
        match &self.policies[policy].rule {
            Rule::Mask(mask) => mask.audience.includes(subject),
            Rule::RowFilter(filter) => filter.audience.includes(subject),
            Rule::Subscription { .. } => false,
        }
    }

    /// Data sources the subject may see, in one schema or all, in policy-file order.
    pub fn visible<'s>(
        &'s self,
        subject: &'s Subject<'_>,
        schema: Option<&'s str>,
    ) -> impl Iterator<Item = DataSourceId> + 's {
        (0..self.data_sources.len()).filter(move |&id| {
            schema.is_none_or(|schema| self.data_sources[id].schema == schema)
                && self.can_see(id, subject)
        })
    }
}
