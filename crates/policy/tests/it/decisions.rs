//! Decisions as data: each `decisions/*.yaml` is a bundle whose `# case:` lines name a user (an
//! optional project and Trino groups) and a table, or a schema; `*.decisions` beside it holds,
//! per case, the subject as resolved, each subscription's verdict and, when the user may see the
//! table, each column's winning mask with the masks passed over and why, and the row filters.

use std::collections::BTreeSet;
use std::fmt::Write;

use veil_policy::{Estate, MaskMethod, Reveal, Rule, Subject};

use veil_test_cases::{Case, cases, check_cases};

fn check(name: &str, text: &str) -> String {
    let estate = Estate::from_yaml(text).unwrap_or_else(|errors| panic!("{name}: {errors}"));
    let mut out = String::new();
    for case in cases(text) {
        writeln!(out, "-- case: {}", case.line).unwrap();
        match estate.subject(case.identity(), case.trust) {
            Ok(subject) => run(&estate, &case, &subject, &mut out),
            Err(error) => writeln!(out, "error: {error}").unwrap(),
        }
        out.push('\n');
    }
    out
}

fn run(estate: &Estate, case: &Case<'_>, subject: &Subject<'_>, out: &mut String) {
    // Every group and purpose the case could involve, and which of them the subject holds.
    let stored = estate.user(case.user).map(|user| user.groups.clone());
    let groups: BTreeSet<&String> = case
        .groups
        .iter()
        .chain(stored.iter().flatten())
        .filter(|group| subject.in_group(group))
        .collect();
    let purposes: BTreeSet<&String> = estate
        .projects()
        .flat_map(|project| &project.purposes)
        .filter(|purpose| subject.has_purpose(purpose))
        .collect();
    writeln!(out, "subject: groups {groups:?}, purposes {purposes:?}").unwrap();
    let name = |policy: usize| &estate.policies[policy].name;
    let Some((schema, table)) = case.table else {
        let visible: Vec<&str> = estate
            .visible(subject, case.schema)
            .map(|id| estate.data_sources[id].name.as_str())
            .collect();
        writeln!(out, "visible: {visible:?}").unwrap();
        return;
    };
    let Some(id) = estate.data_source_id(schema, table) else {
        writeln!(out, "not found").unwrap();
        return;
    };
    let decision = estate.decide(id, subject);
    let explanation = estate.explain(id, subject);
    assert_eq!(explanation.decision, decision, "{}", case.line);
    assert_eq!(estate.can_see(id, subject), decision.is_some());
    for &(policy, held) in &explanation.subscriptions {
        let verdict = if held { "allows" } else { "does not allow" };
        writeln!(out, "subscription {}: {verdict}", name(policy)).unwrap();
    }
    let Some(decision) = decision else {
        writeln!(out, "not visible").unwrap();
        let source = &estate.data_sources[id];
        if let Reveal::Refused {
            reason,
            data_source,
        } = estate.reveal(&source.name, &source.columns[0].name, subject)
        {
            assert_eq!(data_source, None, "{}", case.line);
            writeln!(out, "reveal: refused: {reason}").unwrap();
        } else {
            panic!(
                "{}: revealed a data source the subject may not see",
                case.line
            );
        }
        return;
    };
    for (index, column) in estate.data_sources[id].columns.iter().enumerate() {
        match decision.masks[index] {
            None => writeln!(out, "column {}: unmasked", column.name).unwrap(),
            Some(policy) => writeln!(out, "column {}: {}", column.name, name(policy)).unwrap(),
        }
        // Reveal, asked both by data source name and by backing table, wherever a reversible
        // mask applies or was passed over.
        let reversible = |policy: usize| matches!(&estate.policies[policy].rule, Rule::Mask(mask) if mask.method == MaskMethod::Reversible);
        if decision.masks[index].is_some_and(reversible)
            || explanation.columns[index]
                .iter()
                .any(|passed| reversible(passed.policy))
        {
            let source = &estate.data_sources[id];
            let by_name = estate.reveal(&source.name, &column.name, subject);
            let by_table = estate.reveal(&source.backing.join("."), &column.name, subject);
            match by_name {
                Reveal::Allowed { policy, .. } => {
                    writeln!(out, "    reveal: allowed under {}", name(policy)).unwrap()
                }
                Reveal::Refused { ref reason, .. } => {
                    writeln!(out, "    reveal: refused: {reason}").unwrap()
                }
            }
            if estate
                .data_sources_over(&source.backing[0], &source.backing[1], &source.backing[2])
                .len()
                == 1
            {
                assert_eq!(by_table, by_name, "{}: by backing table", case.line);
            }
        }
        for passed in &explanation.columns[index] {
            writeln!(
                out,
                "    passed {}: {:?}",
                name(passed.policy),
                passed.reason
            )
            .unwrap();
        }
    }
    for &policy in &decision.row_filters {
        writeln!(out, "row filter {}: applies", name(policy)).unwrap();
    }
    for &policy in &explanation.skipped_row_filters {
        writeln!(out, "row filter {}: does not apply", name(policy)).unwrap();
    }
}

#[test]
fn decisions() {
    check_cases(env!("CARGO_MANIFEST_DIR"), "decisions", "decisions", check);
}
