//! Static analysis as data: each `analysis/*.yaml` is a bundle that loads without errors, and
//! `*.findings` beside it what `analyze` warns of (each finding as printed, then its kind), or
//! `no findings`. The example estate is a case too (`analysis_example.findings`).
//!
//! Every claim is also checked against the decision path (`Estate::decide`, `explain`) over
//! every stored user, project and a spread of Trino groups, and a redundant policy is removed
//! to see that no decision changes: a finding the PDP contradicts fails the test.

use std::collections::BTreeSet;
use std::fmt::Write;

use veil_policy::{Condition, EntityKind, Estate, FindingKind, Identity, Rule, analyze};

use veil_test_cases::{check_cases, check_file};

fn check(name: &str, text: &str) -> String {
    let estate = Estate::from_yaml(text).unwrap_or_else(|errors| panic!("{name}: {errors}"));
    let mut findings = analyze(&estate);
    findings.locate(text);
    if findings.0.is_empty() {
        return "no findings\n".to_owned();
    }
    let mut out = String::new();
    for finding in &findings.0 {
        writeln!(out, "{finding}").unwrap();
        writeln!(out, "    {:?}", finding.kind).unwrap();
        // Every finding points at the line that names its entity.
        confirm(name, &estate, finding);
        let line = finding
            .line
            .unwrap_or_else(|| panic!("{name}: `{finding}` has no line"));
        let written = text.lines().nth(line - 1).unwrap();
        assert!(
            written.contains(&format!("name: {}", finding.entity.name)),
            "{name}: line {line} `{written}` does not name {}",
            finding.entity
        );
    }
    out
}

/// Groups a condition names, to send as Trino's.
fn condition_groups(condition: &Condition, out: &mut BTreeSet<String>) {
    match condition {
        Condition::Groups(groups) => out.extend(groups.iter().cloned()),
        Condition::All(inner) | Condition::Any(inner) => {
            inner.iter().for_each(|inner| condition_groups(inner, out))
        }
        Condition::Not(inner) => condition_groups(inner, out),
        _ => {}
    }
}

/// Every stored user (under no project and each of theirs) and an unknown one, each with no
/// Trino groups, each single group and all groups the estate names.
fn identities(estate: &Estate) -> Vec<(String, Option<String>, Vec<String>)> {
    let mut groups = BTreeSet::new();
    for user in estate.users() {
        groups.extend(user.groups.iter().cloned());
    }
    for policy in estate.policies.iter() {
        match &policy.rule {
            Rule::Subscription { allow } => condition_groups(allow, &mut groups),
            Rule::Mask(mask) => {
                condition_groups(&mask.audience.for_condition, &mut groups);
                mask.audience
                    .except_condition
                    .iter()
                    .for_each(|except| condition_groups(except, &mut groups));
            }
            Rule::RowFilter(filter) => {
                condition_groups(&filter.audience.for_condition, &mut groups);
                filter
                    .audience
                    .except_condition
                    .iter()
                    .for_each(|except| condition_groups(except, &mut groups));
            }
        }
    }
    let mut group_sets: Vec<Vec<String>> = vec![Vec::new(), groups.iter().cloned().collect()];
    group_sets.extend(groups.iter().map(|group| vec![group.clone()]));
    let mut subjects: Vec<(String, Option<String>)> = vec![("someone-unknown".to_owned(), None)];
    for user in estate.users() {
        subjects.push((user.name.clone(), None));
        for project in estate.projects() {
            if project.members.contains(&user.name) {
                subjects.push((user.name.clone(), Some(project.name.clone())));
            }
        }
    }
    let mut out = Vec::new();
    for (user, project) in subjects {
        for groups in &group_sets {
            out.push((user.clone(), project.clone(), groups.clone()));
        }
    }
    out
}

/// What every identity gets on every data source, as effects rather than policy names: each
/// column's mask method and `when`, and the set of row predicates ANDed.
type Effects = Option<(Vec<Option<String>>, BTreeSet<String>)>;

fn decisions(estate: &Estate) -> Vec<Effects> {
    let mask = |id: usize| match &estate.policies[id].rule {
        Rule::Mask(mask) => format!("{:?} when {:?}", mask.method, mask.when),
        _ => unreachable!("a column's mask is a mask"),
    };
    let row_filter = |id: usize| match &estate.policies[id].rule {
        Rule::RowFilter(filter) => format!("{:?}", filter.predicate),
        _ => unreachable!("a row filter is a row filter"),
    };
    let mut out = Vec::new();
    for (user, project, groups) in identities(estate) {
        let identity = Identity {
            user: &user,
            groups: &groups,
            project: project.as_deref(),
        };
        let subject = estate.subject(identity, true).unwrap();
        for id in 0..estate.data_sources.len() {
            out.push(estate.decide(id, &subject).map(|decision| {
                (
                    decision.masks.iter().map(|id| id.map(mask)).collect(),
                    decision
                        .row_filters
                        .iter()
                        .map(|&id| row_filter(id))
                        .collect(),
                )
            }));
        }
    }
    out
}

/// What the decision path says of a finding's claim; panics when it contradicts it.
fn confirm(case: &str, estate: &Estate, finding: &veil_policy::Finding) {
    let policy = estate
        .policies
        .iter()
        .position(|policy| policy.name == finding.entity.name);
    let never_applies = matches!(
        finding.kind,
        FindingKind::MaskNeverWins | FindingKind::ReachesNothing
    ) || finding.reason.ends_with("never applies");
    for (user, project, groups) in identities(estate) {
        let identity = Identity {
            user: &user,
            groups: &groups,
            project: project.as_deref(),
        };
        let subject = estate.subject(identity, true).unwrap();
        for data_source in 0..estate.data_sources.len() {
            let explanation = estate.explain(data_source, &subject);
            let context = format!("{case}: `{finding}` but not for {user} {project:?} {groups:?}");
            if finding.entity.kind == EntityKind::DataSource {
                if estate.data_sources[data_source].name == finding.entity.name {
                    assert!(explanation.decision.is_none(), "{context}");
                }
                continue;
            }
            let policy = policy.unwrap();
            if finding.kind == FindingKind::AdmitsNobody {
                assert!(
                    !explanation.subscriptions.contains(&(policy, true)),
                    "{context}"
                );
            }
            if never_applies && let Some(decision) = &explanation.decision {
                assert!(!decision.masks.contains(&Some(policy)), "{context}");
                assert!(!decision.row_filters.contains(&policy), "{context}");
            }
        }
    }
    if finding.kind == FindingKind::Redundant {
        let mut bundle = estate.to_file();
        bundle
            .policies
            .retain(|policy| policy.name != finding.entity.name);
        let without = Estate::new(bundle, None).unwrap();
        assert!(
            decisions(estate) == decisions(&without),
            "{case}: `{finding}` but removing it changes a decision"
        );
    }
}

#[test]
fn analysis() {
    check_cases(env!("CARGO_MANIFEST_DIR"), "analysis", "findings", check);
}

#[test]
fn example_estate() {
    check_file(
        env!("CARGO_MANIFEST_DIR"),
        "../../examples/tpch.yaml",
        "analysis_example.findings",
        check,
    );
}
