//! Static analysis of an estate, for `veil check`: warnings about policies that never apply,
//! conditions that never or always hold, data sources nobody sees, row filters that keep no
//! rows, names nothing in the estate has, and policies another makes redundant. Errors stay
//! [`crate::LoadErrors`]; these are findings, values for the caller to print.
//!
//! Every claim is decided over every subject the estate allows (see `analysis_condition.rs`),
//! so a finding is never a guess: where the analysis cannot be sure, it says nothing.

mod conditions; // items 2 and 3: conditions that never or always hold
mod masks; // item 1: masks that never win
mod names; // item 5: names nothing in the estate has
mod redundant; // item 6: policies another makes redundant
mod row_filters; // item 4: row filters that keep no rows

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use crate::analysis_condition::{Subjects, Verdict, condition_text};
use crate::analysis_predicate::{self, KnownCall};
use crate::binding::{MaskCandidate, compare_masks, targets_data_source};
use crate::change::EntityKind;
use crate::condition::Condition;
use crate::decision::PassReason;
use crate::error::Entity;
use crate::estate::Estate;
use crate::locate::entity_line;
use crate::model::{DataSourceId, PolicyId, Rule};
use crate::tag::glob_matches;

/// One warning: where it is (its entity and line) and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The policy (or, for [`FindingKind::NobodySees`], the data source) it is about.
    pub entity: Entity,
    /// 1-based line in the policy file, when known ([`Findings::locate`]).
    pub line: Option<usize>,
    pub kind: FindingKind,
    /// Lowercase, names in backticks.
    pub reason: String,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A mask that loses on every column it reaches, for everyone it applies to.
    MaskNeverWins,
    /// A condition (or `when`) that holds for no user, or a `for` and `except` nobody passes.
    NeverHolds,
    /// A condition that holds for every user, written as something other than `everyone`.
    AlwaysHolds,
    /// A subscription whose `allow` holds for no user.
    AdmitsNobody,
    /// A data source no subscription targets, or whose subscriptions together admit nobody.
    NobodySees,
    /// A row filter that keeps no rows for anyone it applies to.
    KeepsNoRows,
    /// A tag, group, attribute or data-source glob nothing in the estate has; likely a typo.
    UnknownName,
    /// A policy whose `on` reaches no data source, or a mask that reaches no column.
    ReachesNothing,
    /// A policy that changes nothing because of another.
    Redundant,
}

impl fmt::Display for Finding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(formatter, "line {line}: ")?;
        }
        write!(formatter, "{}: {}", self.entity, self.reason)
    }
}

/// Every finding of an estate, policies first in file order, then data sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    /// Points every finding at the line where its entity is written in `source`.
    pub fn locate(&mut self, source: &str) {
        for finding in &mut self.0 {
            if finding.line.is_none() {
                finding.line = entity_line(source, &finding.entity);
            }
        }
    }
}

/// Analyses an estate; no finding has a line until [`Findings::locate`].
pub fn analyze(estate: &Estate) -> Findings {
    let unknown_user = Subjects::unknown_user_name(estate);
    let mut named = HashSet::new();
    for policy in estate.policies.iter() {
        policy.rule.visit_conditions(&mut |condition| {
            condition.visit(&mut |inner| {
                if let Condition::Users(users) = inner {
                    named.extend(users.iter().map(String::as_str));
                }
            })
        });
    }
    let subjects = Subjects::new(estate, &unknown_user, &named);
    let mut analyzer = Analyzer::new(estate, subjects);
    for id in 0..estate.policies.len() {
        analyzer.policy(id);
    }
    analyzer.masks_that_never_win();
    analyzer.row_filter_pairs();
    analyzer.data_sources();
    analyzer.redundant();
    let mut findings = analyzer.findings;
    findings.sort_by_key(|(order, _)| *order);
    Findings(findings.into_iter().map(|(_, finding)| finding).collect())
}

/// Where a finding sorts: policies (by id) before data sources (by id).
type Order = (u8, usize);

struct Analyzer<'a> {
    estate: &'a Estate,
    subjects: Subjects<'a>,
    findings: Vec<(Order, Finding)>,
    /// Every group some stored user has.
    groups: BTreeSet<&'a str>,
    /// Every attribute some stored user has, with every value anyone has of it.
    attributes: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// Every purpose some project carries.
    carried_purposes: HashSet<&'a str>,
    /// Data source tags and column tags, each with every tag above it (`PII` for `PII.Email`).
    data_source_tags: BTreeSet<String>,
    column_tags: BTreeSet<String>,
    /// Policies that never take effect (they reach nothing, apply to nobody or never win):
    /// later checks treat them as absent, so that no two findings lean on each other.
    inert: HashSet<PolicyId>,
    /// Per policy, who it applies to: a subscription's `allow`, a mask's or row filter's `for`
    /// without `except`.
    applies_to: Vec<Condition>,
    verdicts: RefCell<HashMap<String, Verdict>>,
    /// Per policy, the (data source, column) pairs it competes for as a mask.
    mask_columns: Vec<Vec<(DataSourceId, usize)>>,
}

fn with_ancestors<'t>(tags: impl Iterator<Item = &'t String>) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for tag in tags {
        let mut end = 0;
        for segment in tag.split('.') {
            end += segment.len();
            all.insert(tag[..end].to_owned());
            end += 1;
        }
    }
    all
}

/// The closest candidate within edit distance 2 (ignoring case), for "did you mean".
fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lowercase = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| {
            let distance = strsim::levenshtein(&lowercase, &candidate.to_lowercase());
            (distance, candidate)
        })
        // Within 2 edits, and fewer than half the name's characters: `3` does not suggest `1`.
        .filter(|(distance, _)| *distance <= 2 && distance * 2 < name.chars().count())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |name| format!(" (did you mean `{name}`?)"))
}

fn names(policies: &[PolicyId], estate: &Estate) -> String {
    policies
        .iter()
        .map(|&id| format!("`{}`", estate.policies[id].name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pass_reason(reason: PassReason) -> &'static str {
    match reason {
        PassReason::NamedColumnWins => "it names the column",
        PassReason::DeeperTagWins => "its tag is deeper",
        PassReason::MoreRestrictiveWins => "its method is more restrictive",
        PassReason::NameOrder | PassReason::NotForThisUser => "its name sorts first",
    }
}

fn all(conditions: Vec<Condition>) -> Condition {
    Condition::All(conditions)
}

fn not(condition: Condition) -> Condition {
    Condition::Not(Box::new(condition))
}

impl<'a> Analyzer<'a> {
    fn new(estate: &'a Estate, subjects: Subjects<'a>) -> Analyzer<'a> {
        let mut groups = BTreeSet::new();
        let mut attributes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for user in estate.users() {
            groups.extend(user.groups.iter().map(String::as_str));
            for (key, values) in &user.attributes {
                attributes
                    .entry(key.as_str())
                    .or_default()
                    .extend(values.iter().map(String::as_str));
            }
        }
        let carried_purposes = estate
            .projects()
            .flat_map(|project| project.purposes.iter().map(String::as_str))
            .collect();
        let data_source_tags =
            with_ancestors(estate.data_sources.iter().flat_map(|source| &source.tags));
        let column_tags = with_ancestors(
            estate
                .data_sources
                .iter()
                .flat_map(|source| &source.columns)
                .flat_map(|column| &column.tags),
        );
        let applies_to = estate
            .policies
            .iter()
            .map(|policy| match &policy.rule {
                Rule::Subscription { allow } => allow.clone(),
                Rule::Mask(mask) => audience(&mask.audience),
                Rule::RowFilter(filter) => audience(&filter.audience),
            })
            .collect();
        let mut mask_columns = vec![Vec::new(); estate.policies.len()];
        for (source, bindings) in estate.bindings.iter().enumerate() {
            for (column, candidates) in bindings.masks.iter().enumerate() {
                for candidate in candidates {
                    mask_columns[candidate.policy].push((source, column));
                }
            }
        }
        Analyzer {
            mask_columns,
            estate,
            subjects,
            findings: Vec::new(),
            groups,
            attributes,
            carried_purposes,
            data_source_tags,
            column_tags,
            inert: HashSet::new(),
            applies_to,
            verdicts: RefCell::default(),
        }
    }

    fn report(&mut self, id: PolicyId, kind: FindingKind, reason: String) {
        let entity = Entity::policy(&self.estate.policies[id].name);
        self.findings.push((
            (0, id),
            Finding {
                entity,
                line: None,
                kind,
                reason,
            },
        ));
    }

    /// Decided once per distinct condition: a global mask asks the same question per column.
    fn verdict(&self, condition: &Condition) -> Verdict {
        let key = format!("{condition:?}");
        if let Some(&verdict) = self.verdicts.borrow().get(&key) {
            return verdict;
        }
        let verdict = self.subjects.verdict(condition);
        self.verdicts.borrow_mut().insert(key, verdict);
        verdict
    }

    /// The data sources a policy's `on` reaches.
    fn reached(&self, id: PolicyId) -> Vec<DataSourceId> {
        let target = &self.estate.policies[id].target;
        (0..self.estate.data_sources.len())
            .filter(|&source| targets_data_source(target, &self.estate.data_sources[source]))
            .collect()
    }

    /// The (data source, column) pairs a mask competes for.
    fn mask_columns(&self, id: PolicyId) -> Vec<(DataSourceId, usize)> {
        self.mask_columns[id].clone()
    }

    /// The checks of one policy on its own: names, reach, conditions, predicates.
    fn policy(&mut self, id: PolicyId) {
        let estate = self.estate;
        let policy = &estate.policies[id];
        let target_findings = self.target_names(id);
        self.condition_names(id);
        let kind = match &policy.rule {
            Rule::Subscription { .. } => "subscription",
            Rule::Mask(_) => "mask",
            Rule::RowFilter(_) => "row filter",
        };
        let applies = match &policy.rule {
            Rule::Subscription { allow } => self.subscription_allow(id, allow),
            Rule::Mask(mask) => self.audience(id, kind, &mask.audience),
            Rule::RowFilter(filter) => self.audience(id, kind, &filter.audience),
        };
        if applies == Verdict::Never {
            self.inert.insert(id);
        }
        if self.reached(id).is_empty() {
            if !target_findings {
                self.report(
                    id,
                    FindingKind::ReachesNothing,
                    "`on` reaches no data source: the policy never applies".to_owned(),
                );
            }
            self.inert.insert(id);
            return;
        }
        match &policy.rule {
            Rule::Subscription { .. } => {}
            Rule::Mask(mask) => {
                if self.mask_columns(id).is_empty() {
                    if !target_findings {
                        self.report(
                            id,
                            FindingKind::ReachesNothing,
                            "reaches no column: no data source it targets has a column it names \
                             or tags"
                                .to_owned(),
                        );
                    }
                    self.inert.insert(id);
                    return;
                }
                if let Some(when) = &mask.when
                    && applies != Verdict::Never
                {
                    self.sql_names(id, "when", when);
                    if let Some(why) = self.never_true(when) {
                        self.report(
                            id,
                            FindingKind::NeverHolds,
                            format!(
                                "`when` is never true ({why}): the mask masks no row, yet still \
                                 keeps masks ranked below it from applying"
                            ),
                        );
                    }
                }
                if let crate::model::MaskMethod::Expression { sql } = &mask.method {
                    self.sql_names(id, "sql", sql);
                }
            }
            Rule::RowFilter(filter) => {
                if applies != Verdict::Never {
                    self.row_predicate(id, &filter.predicate);
                }
            }
        }
    }

    /// Item 3 for data sources: none subscribes them, or their subscriptions admit nobody.
    fn data_sources(&mut self) {
        let estate = self.estate;
        for (source, bindings) in estate.bindings.iter().enumerate() {
            let reason = if bindings.subscriptions.is_empty() {
                "no subscription targets it: no one sees it".to_owned()
            } else {
                let each_admits = bindings
                    .subscriptions
                    .iter()
                    .all(|&id| self.verdict(&self.applies_to[id]) != Verdict::Never);
                let together = all(bindings
                    .subscriptions
                    .iter()
                    .map(|&id| self.applies_to[id].clone())
                    .collect());
                if !(each_admits
                    && bindings.subscriptions.len() > 1
                    && self.verdict(&together) == Verdict::Never)
                {
                    continue;
                }
                format!(
                    "its subscriptions {} each admit someone but no user is admitted by all, as \
                     seeing it needs: no one sees it",
                    names(&bindings.subscriptions, estate)
                )
            };
            self.findings.push((
                (1, source),
                Finding {
                    entity: Entity::new(EntityKind::DataSource, &estate.data_sources[source].name),
                    line: None,
                    kind: FindingKind::NobodySees,
                    reason,
                },
            ));
        }
    }
}

/// Who a mask or row filter applies to, as one condition.
fn audience(audience: &crate::Audience) -> Condition {
    match &audience.except_condition {
        None => audience.for_condition.clone(),
        Some(except) => all(vec![audience.for_condition.clone(), not(except.clone())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names() {
        let names = ["PII.Email", "PII", "Finance"];
        assert_eq!(closest("PII.Emial", names), Some("PII.Email"));
        assert_eq!(closest("pii.email", names), Some("PII.Email"));
        assert_eq!(closest("Marketing", names), None);
        assert_eq!(closest("PII", names), None);
        assert_eq!(closest("3", ["1", "2"]), None);
    }

    #[test]
    fn tags_with_ancestors() {
        let tags = ["PII.Email.Work".to_owned()];
        let all: Vec<String> = with_ancestors(tags.iter()).into_iter().collect();
        assert_eq!(all, ["PII", "PII.Email", "PII.Email.Work"]);
    }
}
