//! Incremental user edits (`Compiler::edit_users`) give exactly what a fresh load of the edited
//! bundle gives: random sequences of edits, applied one by one both ways, compared after each
//! edit by outcome (the same error, or none), export, and every user's view of every data source
//! (decision, the SQL rendered from it, and reveal) — the users of the estate, the users the
//! edits touch and one nobody knows, alone and under each project.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use veil_compiler::Compiler;
use veil_policy::{Bundle, EntityKind, Identity, UserEdit, UserSpec};

const BASE: &str = r#"
data_sources:
  - name: s.customers
    table: c.s.customers
    tags: [Finance]
    columns:
      - {name: id, type: bigint}
      - {name: region, type: varchar}
      - {name: email, type: varchar, tags: [PII.Email]}
      - {name: balance, type: 'decimal(12,2)'}
  - name: s.orders
    table: c.s.orders
    columns:
      - {name: id, type: bigint}
      - {name: owner, type: varchar}
      - {name: total, type: double}
users:
  - {name: ana, groups: [analysts], attributes: {region: [EU]}}
  - {name: ben, groups: [analysts, support], attributes: {region: [US, "x' OR 1=1 --"]}}
  - {name: cid, groups: [auditors]}
  - {name: named, groups: [analysts]}
  - {name: member, groups: []}
purposes: [{name: audit}]
projects: [{name: p-audit, purposes: [audit], members: [member]}]
policies:
  - {name: sub-finance, kind: subscription, on: {tags: [Finance]}, allow: {any: [{groups: [analysts]}, {purposes: [audit]}]}}
  - {name: sub-orders, kind: subscription, on: {data_sources: [s.orders]}, allow: {not: {groups: [blocked]}}}
  - {name: sub-named, kind: subscription, on: {data_sources: [s.orders]}, allow: {any: [{users: [named]}, {groups: [analysts, auditors, support]}]}}
  - {name: email-token, kind: mask, on: {column_tags: [PII.Email]}, method: reversible, except: {groups: [support]}, reveal: {groups: [auditors, support]}}
  - {name: round-balance, kind: mask, on: {data_sources: [s.customers], columns: [balance]}, method: round, digits: -2, for: {attributes: {region: [EU]}}}
  - {name: own-region, kind: row_filter, on: {data_sources: [s.customers]}, match: {column: region, attribute: region}, except: {groups: [auditors]}}
  - {name: own-orders, kind: row_filter, on: {data_sources: [s.orders]}, where: "owner = user_name() OR user_in_group('auditors') OR user_attribute_contains('region', owner)"}
"#;

/// Names an edit may use: the estate's users, ones a project or a policy names, new ones, an
/// empty one and hostile ones.
const NAMES: &[&str] = &[
    "ana",
    "ben",
    "cid",
    "named",
    "member",
    "new-1",
    "new-2",
    "",
    "o'brien",
    "x' OR 1=1 --",
];
const GROUPS: &[&str] = &["analysts", "support", "auditors", "blocked", "other"];
const REGIONS: &[&str] = &["EU", "US", "x' OR 1=1 --", ""];

fn user() -> impl Strategy<Value = UserSpec> {
    (
        proptest::sample::select(NAMES),
        proptest::sample::subsequence(GROUPS, 0..=3),
        proptest::sample::subsequence(REGIONS, 0..=2),
        any::<bool>(),
    )
        .prop_map(|(name, groups, regions, deactivated)| UserSpec {
            name: name.to_owned(),
            groups: groups.into_iter().map(str::to_owned).collect(),
            attributes: if regions.is_empty() {
                veil_policy::Attributes::new()
            } else {
                veil_policy::Attributes::from([(
                    "region".to_owned(),
                    regions.into_iter().map(str::to_owned).collect(),
                )])
            },
            deactivated,
            ..UserSpec::default()
        })
}

fn edit() -> impl Strategy<Value = UserEdit> {
    prop_oneof![
        3 => user().prop_map(UserEdit::Put),
        1 => proptest::sample::select(NAMES).prop_map(|name| UserEdit::Remove(name.to_owned())),
    ]
}

/// The bundle edited the way `PutEntity` and `DeleteEntity` edit it.
fn edited(mut file: Bundle, edit: &UserEdit) -> Result<Bundle, String> {
    match edit {
        UserEdit::Put(user) => {
            let yaml = serde_norway::to_string(user).unwrap();
            file.put(EntityKind::User, &yaml)
                .map_err(|error| error.to_string())?;
        }
        UserEdit::Remove(name) => file
            .remove(EntityKind::User, name)
            .map_err(|error| error.to_string())?,
    }
    Ok(file)
}

/// Everything a user can observe of a compiler, for the names that matter.
fn observed(compiler: &Compiler, names: &[&str]) -> Vec<String> {
    let estate = compiler.estate();
    let mut seen = Vec::new();
    let mut everyone: Vec<String> = estate.users().map(|user| user.name.clone()).collect();
    everyone.extend(names.iter().map(|name| name.to_string()));
    everyone.push("nobody-knows-me".into());
    for name in &everyone {
        for project in [None, Some("p-audit")] {
            let identity = Identity {
                user: name,
                groups: &[],
                project,
            };
            let subject = match estate.subject(identity, false) {
                Ok(subject) => subject,
                Err(error) => {
                    seen.push(format!("{name} {project:?}: {error}"));
                    continue;
                }
            };
            for (id, source) in estate.data_sources.iter().enumerate() {
                let Some(decision) = estate.decide(id, &subject) else {
                    seen.push(format!("{name} {project:?} {}: not visible", source.name));
                    continue;
                };
                let facts = compiler.facts(&decision, &subject);
                let view = compiler.render(&decision, &facts);
                let reveal = estate.reveal(&source.name, "email", &subject);
                seen.push(format!(
                    "{name} {project:?} {}: {decision:?} {} {reveal:?}",
                    source.name, view.sql
                ));
            }
        }
    }
    seen
}

#[test]
fn incremental_user_edits_equal_a_fresh_load() {
    let base = Compiler::from_yaml(BASE, "veil").unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(edit(), 1..12), |edits| {
            let mut incremental = base.clone();
            let mut file = base.estate().to_file();
            for (step, edit) in edits.iter().enumerate() {
                let fresh = edited(file.clone(), edit).and_then(|bundle| {
                    let compiler = veil_policy::Estate::new(bundle.clone(), None)
                        .map_err(|errors| format!("invalid bundle:\n{errors}"))
                        .and_then(|estate| {
                            Compiler::new(estate, "veil")
                                .map_err(|errors| format!("invalid bundle:\n{errors}"))
                        })?;
                    Ok((bundle, compiler))
                });
                let quick = incremental
                    .edit_users(std::slice::from_ref(edit))
                    .map_err(|error| error.to_string());
                match (fresh, quick) {
                    (Err(expected), Err(got)) => {
                        prop_assert_eq!(got, expected, "step {}: {:?}", step, edit)
                    }
                    (Ok((bundle, expected)), Ok(got)) => {
                        prop_assert_eq!(
                            got.estate().to_file(),
                            expected.estate().to_file(),
                            "step {}: the export after {:?}",
                            step,
                            edit
                        );
                        prop_assert_eq!(
                            observed(&got, NAMES),
                            observed(&expected, NAMES),
                            "step {}: what users see after {:?}",
                            step,
                            edit
                        );
                        file = bundle;
                        incremental = got;
                    }
                    (fresh, quick) => prop_assert!(
                        false,
                        "step {}: {:?}: a fresh load gives {:?}, the incremental edit {:?}",
                        step,
                        edit,
                        fresh.map(|_| ()),
                        quick.map(|_| ())
                    ),
                }
            }
            Ok(())
        })
        .unwrap();
}
