//! Incremental edits (`Compiler::edit`: users, policies, data sources) give exactly what a fresh
//! load of the edited bundle gives: random sequences of edits, applied one by one both ways,
//! compared after each edit by outcome (the same error, or none), export, the indexes, and every
//! user's view of every data source (decision, the SQL rendered from it, explain and reveal) —
//! the users of the estate, the users the edits touch and one nobody knows, alone and under each
//! project. Edits are drawn to break things too: unknown names, tags and columns, removing what a
//! policy names, SQL over columns a data source lacks, constants that do not fit.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use veil_compiler::Compiler;
use veil_policy::{
    Bundle, DataSourceSpec, Edit, GroupSpec, Identity, PolicySpec, UserEdit, UserSpec,
};

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
  - name: s.spare
    table: c.s.spare
    tags: [Finance]
    columns:
      - {name: id, type: bigint}
      - {name: region, type: varchar, tags: [PII]}
      - {name: total, type: double}
  - name: t.more
    table: c.t.more
    columns:
      - {name: id, type: bigint}
      - {name: updated, type: date}
  - name: s.events
    table: c.s.events
    tags: [Ops]
    columns:
      - {name: id, type: bigint}
      - {name: region, type: varchar, tags: [PII]}
      - {name: updated, type: 'timestamp(3)'}
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
  - {name: sub-ops, kind: subscription, on: {tags: [Ops]}, allow: {groups: [analysts, auditors]}}
  - {name: pii-hash, kind: mask, on: {data_sources: ["s.*"], column_tags: [PII]}, method: hash, for: {groups: [support]}}
  - {name: recent, kind: row_filter, on: {data_sources: [s.events]}, time_window: {column: updated, days: 30}, for: {users: [ana]}}
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

/// Policy names an edit may use: the estate's (first and last, so that removing one renumbers
/// the rest), new ones and an empty one.
const POLICIES: &[&str] = &[
    "sub-finance",
    "sub-orders",
    "email-token",
    "round-balance",
    "own-region",
    "own-orders",
    "recent",
    "new-a",
    "new-b",
    "",
];

/// Policy bodies, `{}` the group they name: valid ones of every kind and way of targeting,
/// and ones a data source or the estate can make invalid.
const POLICY_BODIES: &[&str] = &[
    "kind: subscription, on: {tags: [Finance]}, allow: {groups: [{}]}",
    "kind: subscription, on: {data_sources: [s.orders]}, allow: {not: {groups: [{}]}}",
    "kind: subscription, on: {data_sources: [\"s.*\"]}, allow: {any: [{groups: [{}]}, {users: [ben]}]}",
    "kind: subscription, on: {data_sources: [s.missing]}, allow: {groups: [{}]}",
    "kind: subscription, on: {tags: [Nope]}, allow: {groups: [{}]}",
    "kind: mask, on: {column_tags: [PII.Email]}, method: nullify, for: {groups: [{}]}",
    "kind: mask, on: {column_tags: [PII]}, method: partial, keep_last: 2, except: {groups: [{}]}",
    "kind: mask, on: {tags: [Finance], column_tags: [PII]}, method: hash, for: {groups: [{}]}",
    "kind: mask, on: {data_sources: [s.customers], columns: [balance]}, method: nullify, for: {groups: [{}]}",
    "kind: mask, on: {data_sources: [\"s.*\"], columns: [total, region]}, method: constant, value: '0', except: {groups: [{}]}",
    "kind: mask, on: {data_sources: [\"s.*\"], columns: [id]}, method: constant, value: abc, for: {groups: [{}]}",
    "kind: mask, on: {data_sources: [\"s.*\"], columns: [email]}, method: expression, sql: upper(email), when: \"region <> 'EU'\", for: {groups: [{}]}",
    "kind: mask, on: {data_sources: [\"s.*\"], columns: [region]}, method: k_anonymize, k: 3, quasi_identifiers: [region, owner], for: {groups: [{}]}",
    "kind: mask, on: {data_sources: [\"s.*\"], columns: [nothere]}, method: hash, for: {groups: [{}]}",
    "kind: mask, on: {column_tags: [PII]}, method: reversible, reveal: {users: [cid]}, for: {groups: [{}]}",
    "kind: row_filter, on: {data_sources: [s.customers]}, match: {column: region, attribute: region}, for: {groups: [{}]}",
    "kind: row_filter, on: {data_sources: [\"s.*\"]}, where: \"id > 0 OR user_in_group('{}')\"",
    "kind: row_filter, on: {tags: [Ops]}, time_window: {column: updated, hours: 2}, for: {groups: [{}]}",
    "kind: row_filter, on: {data_sources: [\"s.*\"]}, sample: {percent: 50, column: id}, except: {groups: [{}]}",
    "kind: row_filter, on: {data_sources: [\"s.*\"]}, where: \"region = 'EU'\", for: {groups: [{}]}",
    "kind: row_filter, on: {data_sources: [s.orders]}, where: \"owner = user_name()\", for: {any: [{purposes: [audit]}, {groups: [{}]}]}",
];

fn policy() -> impl Strategy<Value = PolicySpec> {
    (
        proptest::sample::select(POLICIES),
        proptest::sample::select(POLICY_BODIES),
        proptest::sample::select(GROUPS),
    )
        .prop_map(|(name, body, group)| {
            let yaml = format!("{{name: '{name}', {}}}", body.replace("{}", group));
            veil_policy::parse_yaml(&yaml).unwrap_or_else(|error| panic!("{yaml}: {error}"))
        })
}

/// Data source names an edit may use: the estate's (some named by policies, some not), new
/// ones and invalid ones.
const DATA_SOURCES: &[&str] = &[
    "s.customers",
    "s.orders",
    "s.events",
    "s.spare",
    "t.more",
    "s.spare",
    "t.more",
    "s.new",
    "t.other",
    "bad",
    "S.Upper",
];
/// Per column name, the ways a data source may have it (type and tags); one is drawn or none.
/// A column's type and tags.
type Variant = (&'static str, &'static [&'static str]);
const COLUMNS: &[(&str, &[Variant])] = &[
    ("id", &[("bigint", &[]), ("varchar", &[])]),
    ("region", &[("varchar", &[]), ("varchar", &["PII"])]),
    (
        "email",
        &[
            ("varchar", &["PII.Email"]),
            ("varchar(64)", &["PII"]),
            ("varchar", &[]),
        ],
    ),
    (
        "balance",
        &[("decimal(12,2)", &[]), ("double", &["Financial"])],
    ),
    ("total", &[("double", &[]), ("bigint", &["Financial"])]),
    ("owner", &[("varchar", &[])]),
    (
        "updated",
        &[("timestamp(3)", &[]), ("date", &[]), ("varchar", &[])],
    ),
    ("broken", &[("notatype", &[])]),
];
const TAGS: &[&str] = &["Finance", "Ops", "Other"];

fn data_source() -> impl Strategy<Value = DataSourceSpec> {
    let columns: Vec<_> = COLUMNS
        .iter()
        .map(|(name, variants)| {
            // The broken column rarely, the others about half the time.
            let chance = if *name == "broken" { 0.05 } else { 0.5 };
            proptest::option::weighted(
                chance,
                proptest::sample::select(*variants).prop_map(move |(data_type, tags)| {
                    veil_policy::ColumnSpec {
                        name: name.to_string(),
                        data_type: data_type.to_owned(),
                        tags: tags.iter().map(|tag| tag.to_string()).collect(),
                        description: None,
                    }
                }),
            )
        })
        .collect();
    (
        proptest::sample::select(DATA_SOURCES),
        columns,
        proptest::sample::subsequence(TAGS, 0..=2),
        0..8usize,
    )
        .prop_map(|(name, columns, tags, table)| DataSourceSpec {
            name: name.to_owned(),
            table: match table {
                // Its own table, another's (two over one), in another case, and not a table.
                0..=4 => format!("c.{}", name),
                5 => "c.s.customers".to_owned(),
                6 => "C.S.Orders".to_owned(),
                _ => "c.s".to_owned(),
            },
            tags: tags.into_iter().map(str::to_owned).collect(),
            columns: columns.into_iter().flatten().collect(),
            description: None,
        })
}

fn user_edit() -> impl Strategy<Value = UserEdit> {
    prop_oneof![
        3 => user().prop_map(UserEdit::Put),
        1 => proptest::sample::select(NAMES).prop_map(|name| UserEdit::Remove(name.to_owned())),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => user_edit().prop_map(Edit::User),
        3 => policy().prop_map(|policy| Edit::PutPolicy(Box::new(policy))),
        1 => proptest::sample::select(POLICIES).prop_map(|name| Edit::RemovePolicy(name.to_owned())),
        3 => data_source().prop_map(Edit::PutDataSource),
        1 => proptest::sample::select(DATA_SOURCES)
            .prop_map(|name| Edit::RemoveDataSource(name.to_owned())),
        1 => group().prop_map(Edit::PutGroup),
        1 => proptest::sample::select(DECLARED).prop_map(|name| Edit::RemoveGroup(name.to_owned())),
    ]
}

/// Declared groups: the ones users carry, one nobody does, and an empty name (refused).
const DECLARED: &[&str] = &["analysts", "auditors", "support", "lonely", ""];

fn group() -> impl Strategy<Value = GroupSpec> {
    (
        proptest::sample::select(DECLARED),
        proptest::option::of(proptest::sample::select(&["first", "second"][..])),
    )
        .prop_map(|(name, description)| GroupSpec {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            scim: None,
        })
}

/// The bundle edited the way `PutEntity` and `DeleteEntity` edit it.
fn edited(mut file: Bundle, edit: &Edit) -> Result<Bundle, String> {
    let yaml = match edit {
        Edit::User(UserEdit::Put(user)) => Some(serde_norway::to_string(user).unwrap()),
        Edit::PutPolicy(policy) => Some(serde_norway::to_string(policy).unwrap()),
        Edit::PutDataSource(data_source) => Some(serde_norway::to_string(data_source).unwrap()),
        Edit::PutGroup(group) => Some(serde_norway::to_string(group).unwrap()),
        _ => None,
    };
    let (kind, name) = edit.entity();
    match yaml {
        Some(yaml) => {
            file.put(kind, &yaml).map_err(|error| error.to_string())?;
        }
        None => file.remove(kind, name).map_err(|error| error.to_string())?,
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
                let access = compiler.render_access(&decision, &facts);
                let reveal = estate.reveal(&source.name, "email", &subject);
                let explained = compiler.explain(id, &subject);
                seen.push(format!(
                    "{name} {project:?} {}: {decision:?} {} {access:?} {reveal:?} {explained:?}",
                    source.name, view.sql
                ));
            }
        }
    }
    // The indexes: by name and by backing table and schema.
    for source in estate.data_sources.iter() {
        let [catalog, schema, table] = &source.backing;
        seen.push(format!(
            "{}: {:?} {:?} {:?}",
            source.name,
            estate.data_source_id(&source.schema, &source.table),
            estate.data_sources_over(catalog, schema, table),
            estate.data_sources_in(catalog, schema)
        ));
    }
    seen.push(format!("{:?}", estate.data_source_id("s", "customers")));
    seen
}

#[test]
fn incremental_edits_equal_a_fresh_load() {
    let base = Compiler::from_yaml(BASE, "veil").unwrap();
    // How often each lane was taken, by what the edit touched: the fast lanes must be exercised.
    let lanes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(edit(), 1..16), |edits| {
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
                let lane = match incremental.estate().edit(edit) {
                    Ok(edited) => format!("{:?}", edited.touched),
                    Err(_) => "Refused".to_owned(),
                };
                let lane = lane.split([' ', '{']).next().unwrap_or_default().to_owned();
                *lanes.borrow_mut().entry(lane).or_default() += 1;
                let quick = incremental.edit(edit).map_err(|error| error.to_string());
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
    let lanes = lanes.into_inner();
    eprintln!("lanes taken: {lanes:?}");
    for lane in [
        "Refused",
        "Users",
        "PolicyPut",
        "PolicyRemoved",
        "DataSourcePut",
        "DataSourceRemoved",
    ] {
        assert!(
            lanes.get(lane).is_some_and(|&count| count >= 20),
            "{lane}: {lanes:?}"
        );
    }
}
