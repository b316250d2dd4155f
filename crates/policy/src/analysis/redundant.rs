//! Item 6 of `veil check`: policies whose removal changes no decision because another
//! policy already does what they do.

use super::*;

impl Analyzer<'_> {
    /// Item 6: policies whose removal changes no decision because of another. Checked latest
    /// first, each against the estate without those already found, so that of two equal
    /// policies only the later one is reported and all reported ones can go together.
    pub(super) fn redundant(&mut self) {
        let estate = self.estate;
        let mut removed: HashSet<PolicyId> = self.inert.clone();
        for id in (0..estate.policies.len()).rev() {
            if removed.contains(&id) {
                continue;
            }
            let because = match &estate.policies[id].rule {
                Rule::Subscription { .. } => self.redundant_subscription(id, &removed),
                Rule::RowFilter(_) => self.redundant_row_filter(id, &removed),
                Rule::Mask(_) => self.redundant_mask(id, &removed),
            };
            if let Some(reason) = because {
                self.report(id, FindingKind::Redundant, reason);
                removed.insert(id);
            }
        }
    }

    /// Every subscription must allow: one that admits everyone a stricter one beside it admits,
    /// on every data source it targets, changes nothing.
    pub(super) fn redundant_subscription(
        &self,
        id: PolicyId,
        removed: &HashSet<PolicyId>,
    ) -> Option<String> {
        let mut covering = BTreeSet::new();
        for source in self.reached(id) {
            let stricter = self.estate.bindings[source]
                .subscriptions
                .iter()
                .copied()
                .find(|&other| {
                    other != id
                        && !removed.contains(&other)
                        && self.verdict(&all(vec![
                            self.applies_to[other].clone(),
                            not(self.applies_to[id].clone()),
                        ])) == Verdict::Never
                })?;
            covering.insert(stricter);
        }
        let covering: Vec<PolicyId> = covering.into_iter().collect();
        Some(format!(
            "changes nothing: every subscription on a data source must allow, and on each one it \
             targets {} admits only users it admits too",
            names(&covering, self.estate)
        ))
    }

    /// Row filters are ANDed: one whose predicate another with the same predicate already
    /// applies, to everyone it applies to, on every data source it targets, changes nothing.
    pub(super) fn redundant_row_filter(
        &self,
        id: PolicyId,
        removed: &HashSet<PolicyId>,
    ) -> Option<String> {
        let Rule::RowFilter(filter) = &self.estate.policies[id].rule else {
            return None;
        };
        let mut covering = BTreeSet::new();
        for source in self.reached(id) {
            let same = self.estate.bindings[source]
                .row_filters
                .iter()
                .copied()
                .find(|&other| {
                    other != id
                        && !removed.contains(&other)
                        && matches!(&self.estate.policies[other].rule,
                            Rule::RowFilter(o) if o.predicate == filter.predicate)
                        && self.verdict(&all(vec![
                            self.applies_to[id].clone(),
                            not(self.applies_to[other].clone()),
                        ])) == Verdict::Never
                })?;
            covering.insert(same);
        }
        let covering: Vec<PolicyId> = covering.into_iter().collect();
        Some(format!(
            "changes nothing: {} applies the same predicate to everyone it applies to, on every \
             data source it targets",
            names(&covering, self.estate)
        ))
    }

    /// A mask that wins somewhere, but wherever it wins the mask that would win without it
    /// masks the same way, changes nothing.
    pub(super) fn redundant_mask(
        &self,
        id: PolicyId,
        removed: &HashSet<PolicyId>,
    ) -> Option<String> {
        let estate = self.estate;
        let Rule::Mask(mask) = &estate.policies[id].rule else {
            return None;
        };
        let mut covering = BTreeSet::new();
        for (source, column) in self.mask_columns(id) {
            let candidates: Vec<&MaskCandidate> = estate.bindings[source].masks[column]
                .iter()
                .filter(|candidate| candidate.policy == id || !removed.contains(&candidate.policy))
                .collect();
            let position = candidates.iter().position(|c| c.policy == id)?;
            let auds = |slice: &[&MaskCandidate]| -> Vec<Condition> {
                slice
                    .iter()
                    .map(|candidate| self.applies_to[candidate.policy].clone())
                    .collect()
            };
            let wins = all(vec![
                self.applies_to[id].clone(),
                not(Condition::Any(auds(&candidates[..position]))),
            ]);
            let below = &candidates[position + 1..];
            let mut same_takes_over = Vec::new();
            for (index, candidate) in below.iter().enumerate() {
                let Rule::Mask(other) = &estate.policies[candidate.policy].rule else {
                    continue;
                };
                if other.method == mask.method && other.when == mask.when {
                    covering.insert(candidate.policy);
                    same_takes_over.push(all(vec![
                        self.applies_to[candidate.policy].clone(),
                        not(Condition::Any(auds(&below[..index]))),
                    ]));
                }
            }
            if same_takes_over.is_empty() {
                return None;
            }
            let changes = all(vec![wins, not(Condition::Any(same_takes_over))]);
            if self.verdict(&changes) != Verdict::Never {
                return None;
            }
        }
        let covering: Vec<PolicyId> = covering.into_iter().collect();
        Some(format!(
            "changes nothing: wherever it wins, {} would mask the same way without it",
            names(&covering, estate)
        ))
    }
}
