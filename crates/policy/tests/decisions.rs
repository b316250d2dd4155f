//! Decisions as data: conditions, subscriptions, projects and mask conflicts.

use veil_policy::{Condition, Estate, Identity, PassReason, Rule, SubjectError};

const ESTATE: &str = r#"
data_sources:
  - name: s.people
    table: c.s.people
    tags: [HR.Core]
    columns:
      - {name: id, type: bigint}
      - {name: email, type: varchar, tags: [PII.Email]}
      - {name: ssn, type: varchar, tags: [PII]}
  - name: s.open
    table: c.s.open
    columns: [{name: id, type: bigint}]
  - name: t.nobody
    table: c.t.nobody
    columns: [{name: id, type: bigint}]
users:
  - {name: ana, groups: [hr], attributes: {region: [EU], level: ['3']}}
  - {name: ben, groups: [hr, payroll], attributes: {region: [US]}}
  - {name: cid, groups: [sales]}
purposes: [{name: audit}, {name: fraud}]
projects:
  - {name: p-audit, purposes: [audit], members: [ana]}
policies:
  - {name: sub-hr, kind: subscription, on: {tags: [HR]}, allow: {groups: [hr]}}
  - {name: sub-eu, kind: subscription, on: {data_sources: ['s.people']}, allow: {any: [{attributes: {region: [EU]}}, {groups: [payroll]}]}}
  - {name: sub-open, kind: subscription, on: {data_sources: [s.open]}, allow: everyone}
  - {name: z-hash, kind: mask, on: {column_tags: [PII]}, method: hash, except: {purposes: [audit]}}
  - {name: a-hash, kind: mask, on: {column_tags: [PII]}, method: hash}
  - {name: nullify-email, kind: mask, on: {column_tags: [PII.Email]}, method: regex, pattern: x, replacement: y}
  - {name: named-ssn, kind: mask, on: {data_sources: [s.people], columns: [ssn]}, method: round, digits: 1, for: {users: [ben]}}
  - {name: const-ssn, kind: mask, on: {column_tags: [PII]}, method: constant, value: 'x'}
  - {name: filter-not-payroll, kind: row_filter, on: {data_sources: ['s.*']}, where: "id > 0", for: {not: {groups: [payroll]}}}
"#;

fn estate() -> Estate {
    Estate::from_yaml(ESTATE).unwrap_or_else(|errors| panic!("{errors}"))
}

fn identity<'a>(user: &'a str, project: Option<&'a str>) -> Identity<'a> {
    Identity {
        user,
        groups: &[],
        project,
    }
}

#[test]
fn conditions() {
    let estate = estate();
    let ana = estate
        .subject(identity("ana", Some("p-audit")), false)
        .unwrap();
    let cid = estate.subject(identity("cid", None), false).unwrap();
    let yaml = |text: &str| -> Condition { serde_norway::from_str(text).unwrap() };
    let cases = [
        ("everyone", true, true),
        ("{users: [ana]}", true, false),
        ("{groups: [sales, x]}", false, true),
        ("{attributes: {region: [EU, US]}}", true, false),
        ("{attributes: {region: [EU], level: ['3']}}", true, false),
        ("{attributes: {region: [EU], level: ['4']}}", false, false),
        ("{purposes: [audit]}", true, false),
        ("{purposes: [fraud]}", false, false),
        ("{all: [{groups: [hr]}, {purposes: [audit]}]}", true, false),
        ("{all: []}", true, true),
        ("{any: []}", false, false),
        ("{any: [{groups: [sales]}, {users: [ana]}]}", true, true),
        ("{not: {groups: [hr]}}", false, true),
    ];
    for (text, for_ana, for_cid) in cases {
        let condition = yaml(text);
        assert_eq!(condition.holds(&ana), for_ana, "{text} for ana");
        assert_eq!(condition.holds(&cid), for_cid, "{text} for cid");
    }
}

#[test]
fn conditions_reject_bad_shapes() {
    for text in ["nobody", "{users: [a], groups: [b]}", "{teams: [a]}", "{}"] {
        assert!(serde_norway::from_str::<Condition>(text).is_err(), "{text}");
    }
}

#[test]
fn trino_groups_count_only_when_trusted() {
    let estate = estate();
    let groups = vec!["hr".to_owned()];
    let with_groups = Identity {
        user: "stranger",
        groups: &groups,
        project: None,
    };
    let open = estate.data_source_id("s", "open").unwrap();
    let people = estate.data_source_id("s", "people").unwrap();
    let untrusted = estate.subject(with_groups, false).unwrap();
    let trusted = estate.subject(with_groups, true).unwrap();
    assert!(!untrusted.in_group("hr"));
    assert!(trusted.in_group("hr"));
    assert!(estate.can_see(open, &untrusted));
    // every subscription must allow: sub-hr holds for trusted, sub-eu does not.
    assert!(!estate.can_see(people, &trusted));
}

#[test]
fn subscriptions_deny_by_default_and_need_every_allow() {
    let estate = estate();
    let people = estate.data_source_id("s", "people").unwrap();
    let nobody = estate.data_source_id("t", "nobody").unwrap();
    let see = |user: &str| {
        let subject = estate.subject(identity(user, None), false).unwrap();
        (
            estate.can_see(people, &subject),
            estate.can_see(nobody, &subject),
        )
    };
    assert_eq!(see("ana"), (true, false), "hr and EU");
    assert_eq!(see("ben"), (true, false), "hr and payroll");
    assert_eq!(see("cid"), (false, false), "not hr");
    assert_eq!(see("unknown"), (false, false));
    let ana = estate.subject(identity("ana", None), false).unwrap();
    let visible: Vec<_> = estate.visible(&ana, None).collect();
    assert_eq!(visible.len(), 2);
    assert_eq!(estate.visible(&ana, Some("t")).count(), 0);
}

#[test]
fn projects_are_enforced() {
    let estate = estate();
    assert!(matches!(
        estate.subject(identity("ben", Some("p-audit")), false),
        Err(SubjectError::ProjectNotAllowed { .. })
    ));
    assert!(matches!(
        estate.subject(identity("ana", Some("no-such-project")), false),
        Err(SubjectError::ProjectNotAllowed { .. })
    ));
    assert_eq!(
        estate.subject(identity("", None), false).unwrap_err(),
        SubjectError::EmptyUser
    );
    let ana = estate
        .subject(identity("ana", Some("p-audit")), false)
        .unwrap();
    assert!(ana.has_purpose("audit"));
}

fn mask_names(estate: &Estate, user: &str, project: Option<&str>) -> Vec<Option<String>> {
    let subject = estate.subject(identity(user, project), false).unwrap();
    let people = estate.data_source_id("s", "people").unwrap();
    let decision = estate.decide(people, &subject).unwrap();
    decision
        .masks
        .iter()
        .map(|policy| policy.map(|policy| estate.policies[policy].name.clone()))
        .collect()
}

#[test]
fn mask_conflicts() {
    let estate = estate();
    let name = |text: &str| Some(text.to_owned());
    // email: deeper tag (PII.Email regex) beats PII masks even though regex is weaker.
    // ssn: for ana, named-ssn does not apply (for: ben); among PII tag masks constant beats hash.
    assert_eq!(
        mask_names(&estate, "ana", None),
        vec![None, name("nullify-email"), name("const-ssn")]
    );
    // ssn: for ben, the policy naming the column beats every tag policy.
    assert_eq!(
        mask_names(&estate, "ben", None),
        vec![None, name("nullify-email"), name("named-ssn")]
    );
}

#[test]
fn mask_conflict_reasons() {
    let estate = estate();
    let people = estate.data_source_id("s", "people").unwrap();
    let ben = estate.subject(identity("ben", None), false).unwrap();
    let explanation = estate.explain(people, &ben);
    let reasons: Vec<(String, PassReason)> = explanation.columns[2]
        .iter()
        .map(|passed| (estate.policies[passed.policy].name.clone(), passed.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("const-ssn".to_owned(), PassReason::NamedColumnWins),
            ("a-hash".to_owned(), PassReason::NamedColumnWins),
            ("z-hash".to_owned(), PassReason::NamedColumnWins),
        ]
    );
    let ana = estate
        .subject(identity("ana", Some("p-audit")), false)
        .unwrap();
    let explanation = estate.explain(people, &ana);
    let reasons: Vec<(String, PassReason)> = explanation.columns[2]
        .iter()
        .map(|passed| (estate.policies[passed.policy].name.clone(), passed.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("named-ssn".to_owned(), PassReason::NotForThisUser),
            ("a-hash".to_owned(), PassReason::MoreRestrictiveWins),
            ("z-hash".to_owned(), PassReason::NotForThisUser),
        ]
    );
}

#[test]
fn equal_methods_are_ordered_by_name() {
    let text = ESTATE
        .replace("  - {name: const-ssn,", "  - {name: unused-ssn,")
        .replace("method: constant, value: 'x'", "method: hash");
    let estate = Estate::from_yaml(&text).unwrap();
    // a-hash and z-hash and unused-ssn tie on tag depth and method: the first name wins.
    assert_eq!(
        mask_names(&estate, "ana", None)[2].as_deref(),
        Some("a-hash")
    );
    let people = estate.data_source_id("s", "people").unwrap();
    let ana = estate.subject(identity("ana", None), false).unwrap();
    let explanation = estate.explain(people, &ana);
    assert!(
        explanation.columns[2]
            .iter()
            .any(|passed| passed.reason == PassReason::NameOrder)
    );
}

#[test]
fn row_filters_apply_by_audience() {
    let estate = estate();
    let open = estate.data_source_id("s", "open").unwrap();
    let filters = |user: &str| {
        let subject = estate.subject(identity(user, None), false).unwrap();
        estate.decide(open, &subject).unwrap().row_filters.len()
    };
    assert_eq!(filters("ana"), 1);
    assert_eq!(filters("ben"), 0, "payroll is exempt");
    assert!(matches!(estate.policies[8].rule, Rule::RowFilter(_)));
}

/// A changed policy affects every data source it reached before or reaches now, whatever part
/// of the bindings names it, and nothing else.
#[test]
fn a_changed_policy_affects_what_it_reached_and_what_it_reaches() {
    let old = estate();
    let mut file = old.to_file();
    // A PII mask moves from `column_tags: [PII]` (only s.people has PII columns) to the `id`
    // column of s.open.
    for policy in &mut file.policies {
        if policy.name == "a-hash" {
            policy.on.column_tags.clear();
            policy.on.data_sources = vec!["s.open".into()];
            policy.on.columns = vec!["id".into()];
        }
    }
    let new = Estate::new(file.clone(), None).unwrap_or_else(|errors| panic!("{errors}"));
    let changes = veil_policy::diff(&old.to_file(), &file);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let affected = veil_policy::affected(&old, &new, &changes);
    assert!(!affected.everything);
    assert!(affected.users.is_empty());
    assert_eq!(
        affected.data_sources.into_iter().collect::<Vec<_>>(),
        vec!["s.open".to_string(), "s.people".to_string()]
    );
}
