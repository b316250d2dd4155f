//! Items 2 and 3 of `veil check`: conditions that never or always hold (an `allow`, a `for`,
//! an `except`, and the parts nested in them), and subscriptions that admit nobody.

use super::*;

impl Analyzer<'_> {
    /// Items 2 and 3 for a subscription's `allow`.
    pub(super) fn subscription_allow(&mut self, id: PolicyId, allow: &Condition) -> Verdict {
        let verdict = self.verdict(allow);
        let text = condition_text(allow);
        match verdict {
            Verdict::Never => self.report(
                id,
                FindingKind::AdmitsNobody,
                format!(
                    "`allow` {text} holds for no user: the subscription admits nobody, so no one \
                     sees the data sources it targets"
                ),
            ),
            Verdict::Always if *allow != Condition::Everyone => self.report(
                id,
                FindingKind::AlwaysHolds,
                format!("`allow` {text} holds for every user; `everyone` says so plainly"),
            ),
            Verdict::Sometimes => self.nested(id, "allow", allow),
            _ => {}
        }
        verdict
    }

    /// Item 2 for a mask's or row filter's `for` and `except`; returns whom it applies to.
    pub(super) fn audience(
        &mut self,
        id: PolicyId,
        kind: &str,
        audience: &crate::Audience,
    ) -> Verdict {
        let for_condition = &audience.for_condition;
        let for_verdict = self.verdict(for_condition);
        let for_text = condition_text(for_condition);
        match for_verdict {
            Verdict::Never => self.report(
                id,
                FindingKind::NeverHolds,
                format!("`for` {for_text} holds for no user: the {kind} never applies"),
            ),
            Verdict::Always if *for_condition != Condition::Everyone => self.report(
                id,
                FindingKind::AlwaysHolds,
                format!("`for` {for_text} holds for every user; `everyone` (the default) says so plainly"),
            ),
            Verdict::Sometimes => self.nested(id, "for", for_condition),
            _ => {}
        }
        let Some(except) = &audience.except_condition else {
            return for_verdict;
        };
        let except_verdict = self.verdict(except);
        let except_text = condition_text(except);
        match except_verdict {
            Verdict::Always => self.report(
                id,
                FindingKind::AlwaysHolds,
                format!("`except` {except_text} holds for every user: the {kind} never applies"),
            ),
            Verdict::Never => self.report(
                id,
                FindingKind::NeverHolds,
                format!("`except` {except_text} holds for no user: it excepts nobody"),
            ),
            Verdict::Sometimes => self.nested(id, "except", except),
            Verdict::Unknown => {}
        }
        let verdict = self.verdict(&self.applies_to[id]);
        if verdict == Verdict::Never
            && for_verdict != Verdict::Never
            && except_verdict != Verdict::Always
        {
            self.report(
                id,
                FindingKind::NeverHolds,
                format!(
                    "every user `for` {for_text} holds for is in `except` {except_text}: the \
                     {kind} never applies"
                ),
            );
        }
        verdict
    }

    /// Parts of a condition that sometimes holds which themselves never or always hold.
    pub(super) fn nested(&mut self, id: PolicyId, slot: &str, condition: &Condition) {
        let children: Vec<&Condition> = match condition {
            Condition::All(inner) | Condition::Any(inner) => inner.iter().collect(),
            Condition::Not(inner) => vec![inner],
            _ => return,
        };
        for child in children {
            if *child == Condition::Everyone {
                continue;
            }
            match self.verdict(child) {
                Verdict::Never => self.report(
                    id,
                    FindingKind::NeverHolds,
                    format!("in `{slot}`, {} holds for no user", condition_text(child)),
                ),
                Verdict::Always => self.report(
                    id,
                    FindingKind::AlwaysHolds,
                    format!(
                        "in `{slot}`, {} holds for every user",
                        condition_text(child)
                    ),
                ),
                Verdict::Sometimes => self.nested(id, slot, child),
                Verdict::Unknown => {}
            }
        }
    }
}
