//! Item 1 of `veil check`: masks that never win — beaten on every column they reach, for
//! everyone they apply to, by a policy naming the column, a deeper tag or a more restrictive
//! method.

use super::*;

impl Analyzer<'_> {
    /// Item 1: masks that lose on every column they reach, for everyone they apply to.
    pub(super) fn masks_that_never_win(&mut self) {
        let estate = self.estate;
        for id in 0..estate.policies.len() {
            if !matches!(estate.policies[id].rule, Rule::Mask(_)) || self.inert.contains(&id) {
                continue;
            }
            let columns = self.mask_columns(id);
            let mut first = None;
            let never_wins = columns.iter().all(|&(source, column)| {
                let candidates = &estate.bindings[source].masks[column];
                let position = candidates
                    .iter()
                    .position(|candidate| candidate.policy == id)
                    .expect("the mask competes for the column");
                let above = &candidates[..position];
                let wins = all(vec![
                    self.applies_to[id].clone(),
                    not(Condition::Any(
                        above
                            .iter()
                            .map(|candidate| self.applies_to[candidate.policy].clone())
                            .collect(),
                    )),
                ]);
                let loses = !above.is_empty() && self.verdict(&wins) == Verdict::Never;
                if loses && first.is_none() {
                    first = Some((source, column, &candidates[position], above));
                }
                loses
            });
            let Some((source, column, candidate, above)) = first.filter(|_| never_wins) else {
                continue;
            };
            let where_ = format!(
                "`{}.{}`",
                estate.data_sources[source].name, estate.data_sources[source].columns[column].name
            );
            let alone = above.iter().find(|winner| {
                let wins = all(vec![
                    self.applies_to[id].clone(),
                    not(self.applies_to[winner.policy].clone()),
                ]);
                self.verdict(&wins) == Verdict::Never
            });
            let beaten_by = match alone {
                Some(winner) => format!(
                    "`{}`, as {}",
                    estate.policies[winner.policy].name,
                    pass_reason(compare_masks(&estate.policies, winner, candidate).1)
                ),
                None => format!(
                    "{} together",
                    names(
                        &above.iter().map(|winner| winner.policy).collect::<Vec<_>>(),
                        estate
                    )
                ),
            };
            let count = columns.len();
            let every = if count == 1 {
                "on the one column it reaches".to_owned()
            } else {
                format!("on every column it reaches ({count})")
            };
            self.report(
                id,
                FindingKind::MaskNeverWins,
                format!(
                    "never wins: {every}, masks ranked above it apply to everyone it does (on \
                     {where_}: {beaten_by})"
                ),
            );
            self.inert.insert(id);
        }
    }
}
