//! One suite, two real databases: every test runs on a SQLite file and on PostgreSQL
//! (`VEIL_TEST_POSTGRES_URL`, which `cargo xtask test` provides by starting a server).

use std::sync::atomic::{AtomicUsize, Ordering};

use veil_policy::{Bundle, UserSpec};
use veil_policy::{ChangeAction, EntityKind};
use veil_store::{
    AuditFilter, ChangeRecord, DecisionRecord, HistoryFilter, PolicyNames, QueryColumn,
    QueryRecord, QueryTable, RevealEvent, Store, StoreError,
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty store of each kind.
async fn stores() -> Vec<(String, Store)> {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let directory = std::env::temp_dir().join(format!("veil-store-test-{unique}"));
    std::fs::create_dir_all(&directory).unwrap();
    let sqlite_url = format!("sqlite://{}", directory.join("veil.db").display());
    let base = std::env::var("VEIL_TEST_POSTGRES_URL").expect(
        "VEIL_TEST_POSTGRES_URL is not set: the store tests need a real PostgreSQL; run them with `cargo xtask test`",
    );
    let admin = Store::open(&base).await.unwrap();
    let database = format!("veil_test_{unique}");
    sqlx::query(&format!("CREATE DATABASE {database} TEMPLATE template0"))
        .execute(admin.pool())
        .await
        .unwrap();
    let postgres_url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => panic!("unexpected postgres URL {base}"),
    };
    vec![
        (sqlite_url.clone(), Store::open(&sqlite_url).await.unwrap()),
        (
            postgres_url.clone(),
            Store::open(&postgres_url).await.unwrap(),
        ),
    ]
}

const BUNDLE: &str = r#"
data_sources:
  - name: sales.customers
    table: tpch.tiny.customer
    tags: [Finance]
    columns:
      - {name: custkey, type: bigint}
      - {name: phone, type: varchar(15), tags: [PII.Phone]}
      - {name: acctbal, type: 'decimal(12,2)'}
users:
  - {name: alice, groups: [analysts], attributes: {region: ['1', "x' OR 1=1 --"]}}
  - {name: bob}
purposes: [{name: fraud}]
projects: [{name: p, purposes: [fraud], members: [alice]}]
policies:
  - {name: sub, kind: subscription, on: {tags: [Finance]}, allow: {groups: [analysts]}}
  - {name: m, kind: mask, on: {column_tags: [PII]}, method: constant, value: 12, except: {purposes: [fraud]}}
  - {name: f, kind: row_filter, on: {data_sources: [sales.customers]}, where: "custkey > 0 AND user_name() <> 'x'"}
"#;

fn bundle() -> Bundle {
    Bundle::from_yaml(BUNDLE).unwrap()
}

fn change(version: u64) -> ChangeRecord {
    ChangeRecord {
        version,
        data_sources: vec!["sales.customers".into()],
        users: vec!["alice".into()],
        everything: false,
    }
}

#[tokio::test]
async fn an_empty_store_is_version_zero() {
    for (url, store) in stores().await {
        let (version, file) = store.load().await.unwrap();
        assert_eq!((version, file), (0, Bundle::default()), "{url}");
    }
}

#[tokio::test]
async fn a_committed_bundle_survives_a_restart_exactly() {
    for (url, store) in stores().await {
        let file = bundle();
        store
            .commit(0, 10, &Bundle::default(), &file, &change(10), "ops")
            .await
            .unwrap();
        drop(store);
        let reopened = Store::open(&url).await.unwrap();
        let (version, loaded) = reopened.load().await.unwrap();
        assert_eq!(version, 10, "{url}");
        assert_eq!(loaded, file, "{url}");
        assert_eq!(loaded.to_yaml(), file.to_yaml(), "{url}");
        assert_eq!(
            reopened.changes_since(0).await.unwrap(),
            vec![change(10)],
            "{url}"
        );
    }
}

#[tokio::test]
async fn a_row_that_cannot_be_read_is_named_and_the_load_fails() {
    for (url, store) in stores().await {
        store
            .commit(0, 1, &Bundle::default(), &bundle(), &change(1), "ops")
            .await
            .unwrap();
        sqlx::query("UPDATE veil_entities SET spec = $1 WHERE kind = 'user' AND name = 'bob'")
            .bind(r#"{"name": "bob", "groups": "not a list"}"#)
            .execute(store.pool())
            .await
            .unwrap();
        match store.load().await {
            Err(StoreError::Corrupt {
                kind,
                name,
                message,
            }) => {
                assert_eq!((kind.as_str(), name.as_str()), ("user", "bob"), "{url}");
                assert!(message.contains("invalid type"), "{url}: {message}");
            }
            other => panic!("{url}: a corrupt row loaded: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_stale_writer_loses_and_changes_nothing() {
    for (url, store) in stores().await {
        let file = bundle();
        store
            .commit(0, 5, &Bundle::default(), &file, &change(5), "ops")
            .await
            .unwrap();
        let mut other = file.clone();
        other.users.retain(|user| user.name != "bob");
        let error = store
            .commit(0, 6, &Bundle::default(), &other, &change(6), "ops")
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Conflict {
                    expected: 0,
                    found: 5
                }
            ),
            "{url}: {error}"
        );
        assert_eq!(store.load().await.unwrap(), (5, file), "{url}");
        assert_eq!(store.changes_since(0).await.unwrap().len(), 1, "{url}");
    }
}

#[tokio::test]
async fn edits_write_only_what_changed_and_keep_order() {
    for (url, store) in stores().await {
        let first = bundle();
        store
            .commit(0, 1, &Bundle::default(), &first, &change(1), "ops")
            .await
            .unwrap();
        let mut second = first.clone();
        second.users[1].groups.push("support".into());
        second.policies.remove(1);
        second.users.push(veil_policy::UserSpec {
            name: "carol".into(),
            ..Default::default()
        });
        store
            .commit(1, 2, &first, &second, &change(2), "gov")
            .await
            .unwrap();
        let (version, loaded) = store.load().await.unwrap();
        assert_eq!(version, 2, "{url}");
        assert_eq!(loaded, second, "{url}");
        assert_eq!(
            store.changes_since(1).await.unwrap(),
            vec![change(2)],
            "{url}"
        );
    }
}

#[tokio::test]
async fn history_says_who_changed_what_and_rebuilds_past_bundles() {
    for (url, store) in stores().await {
        let first = bundle();
        store
            .commit(0, 1, &Bundle::default(), &first, &change(1), "ops")
            .await
            .unwrap();
        let mut second = first.clone();
        second.users[1].groups.push("hr".into());
        second.policies.remove(1);
        second.settings.mask_key = Some("k2".into());
        // Reordered but equal: moved rows are rewritten, yet nothing is recorded for them.
        second.purposes.reverse();
        store
            .commit(1, 2, &first, &second, &change(2), "gov")
            .await
            .unwrap();
        let all = store.history(&HistoryFilter::default()).await.unwrap();
        let summary: Vec<_> = all
            .iter()
            .map(|entry| {
                (
                    entry.version,
                    entry.caller.as_str(),
                    entry.kind,
                    entry.name.as_str(),
                    entry.action,
                )
            })
            .collect();
        assert_eq!(
            &summary[..3],
            &[
                (2, "gov", EntityKind::Policy, "m", ChangeAction::Removed),
                (
                    2,
                    "gov",
                    EntityKind::Settings,
                    "settings",
                    ChangeAction::Added
                ),
                (2, "gov", EntityKind::User, "bob", ChangeAction::Changed),
            ],
            "{url}"
        );
        // Version 1 added every entity of the first bundle: a data source, two users, a
        // purpose, a project and three policies.
        assert_eq!(summary.len(), 3 + 8, "{url}: {summary:?}");
        let bob = &all[2];
        assert_eq!(bob.before, r#"{"name":"bob"}"#, "{url}");
        assert_eq!(bob.after, r#"{"name":"bob","groups":["hr"]}"#, "{url}");
        assert!(bob.at_millis > 1_700_000_000_000, "{url}");
        let by_caller = store
            .history(&HistoryFilter {
                caller: "ops".into(),
                kind: Some(EntityKind::User),
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(by_caller.len(), 2, "{url}");
        assert!(by_caller.iter().all(|entry| entry.version == 1), "{url}");
        let later = store
            .history(&HistoryFilter {
                since_millis: bob.at_millis + 60_000,
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        assert!(later.is_empty(), "{url}");
        // Every version can be rebuilt: the past as it was, the present as it is.
        let mut past = store.bundle_at(1).await.unwrap();
        past.purposes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut expected = first.clone();
        expected.purposes.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(past.users, expected.users, "{url}");
        assert_eq!(past.policies.len(), expected.policies.len(), "{url}");
        assert_eq!(past.settings, expected.settings, "{url}");
        assert_eq!(
            store.bundle_at(0).await.unwrap(),
            Bundle::default(),
            "{url}"
        );
        assert_eq!(
            store.bundle_at(2).await.unwrap(),
            store.load().await.unwrap().1,
            "{url}"
        );
        assert!(matches!(
            store.bundle_at(3).await.unwrap_err(),
            StoreError::FutureVersion {
                requested: 3,
                current: 2
            }
        ));
    }
}

#[tokio::test]
async fn decisions_are_recorded_and_read_newest_first() {
    for (url, store) in stores().await {
        let record = |at: i64, user: &str, allowed: bool| DecisionRecord {
            at_millis: at,
            user: user.into(),
            project: String::new(),
            data_source: "sales.customers".into(),
            allowed,
            policies: PolicyNames::new(vec!["sub".into(), "m".into()]),
            version: 3,
            latency_micros: 12,
            query_id: format!("q-{at}"),
        };
        store
            .record_decisions(&[
                record(1, "alice", true),
                record(2, "bob", false),
                record(3, "alice", true),
            ])
            .await
            .unwrap();
        let all = store.decisions(10, None).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.at_millis).collect::<Vec<_>>(),
            vec![3, 2, 1],
            "{url}"
        );
        assert_eq!(all[1], record(2, "bob", false), "{url}");
        let alice = store.decisions(1, Some("alice")).await.unwrap();
        assert_eq!(alice, vec![record(3, "alice", true)], "{url}");
    }
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let error = Store::open("mysql://x").await.err().unwrap();
    assert!(error.to_string().contains("unsupported URL `mysql://x`"));
}

#[tokio::test]
async fn reveals_are_summed_per_query_and_column_over_nodes() {
    for (url, store) in stores().await {
        let event = |at: i64, query: &str, column: &str, node: &str, revealed: u64| RevealEvent {
            at_millis: at,
            query_id: query.into(),
            user: "sam".into(),
            project: "p".into(),
            data_source: "crm.customers".into(),
            column: column.into(),
            policy: "email-token".into(),
            allowed: true,
            reason: String::new(),
            node: node.into(),
            revealed,
        };
        let refused = RevealEvent {
            user: "ana".into(),
            project: String::new(),
            policy: String::new(),
            allowed: false,
            reason: "policy `email-token` does not grant you reveal".into(),
            ..event(5, "q2", "email", "", 0)
        };
        store
            .record_reveals(&[
                event(1, "q1", "email", "", 0),
                event(2, "q1", "email", "worker-1", 700),
                event(3, "q1", "email", "worker-2", 300),
                event(4, "q1", "email", "worker-1", 5),
                event(4, "q1", "phone", "worker-1", 1),
                refused.clone(),
            ])
            .await
            .unwrap();
        let all = store
            .reveals(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let summary = |column: &str| {
            all.iter()
                .find(|summary| summary.query_id == "q1" && summary.column == column)
                .unwrap_or_else(|| panic!("{url}: no summary of {column}"))
        };
        assert_eq!(all.len(), 3, "{url}: {all:?}");
        assert_eq!(all[0].user, "ana", "{url}: newest first");
        assert!(!all[0].allowed && all[0].reason == refused.reason, "{url}");
        assert_eq!(
            (summary("email").revealed, summary("email").nodes),
            (1005, 2),
            "{url}"
        );
        assert_eq!(
            (summary("email").first_millis, summary("email").last_millis),
            (1, 4),
            "{url}"
        );
        assert_eq!(summary("email").project, "p", "{url}");
        assert_eq!(
            (summary("phone").revealed, summary("phone").nodes),
            (1, 1),
            "{url}"
        );
        let ana = store
            .reveals(&AuditFilter {
                user: Some("ana".into()),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(ana.len(), 1, "{url}");
        let window = store
            .reveals(&AuditFilter {
                query_id: Some("q1".into()),
                since_millis: Some(4),
                until_millis: Some(5),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            window
                .iter()
                .map(|s| (s.column.as_str(), s.revealed))
                .collect::<Vec<_>>(),
            vec![("email", 5), ("phone", 1)],
            "{url}"
        );
        let pruned = store.prune_audit_batch(4).await.unwrap();
        assert!(pruned.contains(&("veil_reveals", 3)), "{url}: {pruned:?}");
    }
}

#[tokio::test]
async fn queries_are_kept_once_found_by_filters_and_linked_to_their_decisions() {
    for (url, store) in stores().await {
        let query = |id: &str, user: &str, end: i64, data_sources: &[&str]| QueryRecord {
            query_id: id.into(),
            user: user.into(),
            groups: vec!["analysts".into()],
            create_millis: end - 100,
            execution_start_millis: end - 90,
            end_millis: end,
            state: "FINISHED".into(),
            tables: vec![QueryTable {
                catalog: "tpch".into(),
                schema: "tiny".into(),
                table: "customer".into(),
                columns: vec![QueryColumn {
                    name: "phone".into(),
                    mask: "'x'' OR 1=1 --'".into(),
                }],
                ..QueryTable::default()
            }],
            query: "SELECT 'é' -- ünïcode".into(),
            data_sources: data_sources.iter().map(|name| name.to_string()).collect(),
            ..QueryRecord::default()
        };
        let first = query("q1", "alice", 1_000, &["sales.customers", "sales.orders"]);
        let second = query("q2", "bob", 2_000, &["sales.orders"]);
        store
            .record_queries(&[first.clone(), second.clone()])
            .await
            .unwrap();
        // A batch sent again stores nothing twice, and keeps the first copy.
        let mut resent = first.clone();
        resent.user = "mallory".into();
        store.record_queries(&[resent]).await.unwrap();
        let filter = |edit: &dyn Fn(&mut AuditFilter)| {
            let mut filter = AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            };
            edit(&mut filter);
            filter
        };
        let ids =
            |found: Vec<QueryRecord>| found.into_iter().map(|q| q.query_id).collect::<Vec<_>>();
        let all = store.queries(&filter(&|_| {})).await.unwrap();
        assert_eq!(all, vec![second.clone(), first.clone()], "{url}");
        let orders = store
            .queries(&filter(&|f| f.data_source = Some("sales.orders".into())))
            .await
            .unwrap();
        assert_eq!(ids(orders), ["q2", "q1"], "{url}");
        let customers = store
            .queries(&filter(&|f| f.data_source = Some("sales.customers".into())))
            .await
            .unwrap();
        assert_eq!(ids(customers), ["q1"], "{url}");
        let bob = store
            .queries(&filter(&|f| f.user = Some("bob".into())))
            .await
            .unwrap();
        assert_eq!(ids(bob), ["q2"], "{url}");
        let window = store
            .queries(&filter(&|f| {
                f.since_millis = Some(1_000);
                f.until_millis = Some(2_000);
            }))
            .await
            .unwrap();
        assert_eq!(ids(window), ["q1"], "{url}");
        let decision = |at: i64, query_id: &str| DecisionRecord {
            at_millis: at,
            user: "alice".into(),
            project: String::new(),
            data_source: "sales.customers".into(),
            allowed: true,
            policies: PolicyNames::new(vec!["sub".into()]),
            version: 1,
            latency_micros: 5,
            query_id: query_id.into(),
        };
        store
            .record_decisions(&[
                decision(950, "q1"),
                decision(960, "q2"),
                decision(5_000, "q1"),
            ])
            .await
            .unwrap();
        let linked = store.decisions_of_query(&first).await.unwrap();
        assert_eq!(
            linked,
            vec![decision(950, "q1")],
            "{url}: only q1's, while it ran"
        );
    }
}

#[tokio::test]
async fn single_user_commits_write_their_rows_and_keep_the_order_a_whole_commit_keeps() {
    for (url, store) in stores().await {
        let mut file = bundle();
        let user = |name: &str, group: &str| UserSpec {
            name: name.into(),
            groups: vec![group.into()],
            ..UserSpec::default()
        };
        file.users.push(user("carol", "x"));
        store
            .commit(0, 1, &Bundle::default(), &file, &change(1), "ops")
            .await
            .unwrap();
        // bob leaves (a gap), alice changes in place, dave and "o'brien" join last.
        let alice = file.users[0].clone();
        let mut changed = alice.clone();
        changed.groups.push("auditors".into());
        let bob = file.users[1].clone();
        let edits = vec![
            ("bob".to_owned(), Some(bob.clone()), None),
            (
                "alice".to_owned(),
                Some(alice.clone()),
                Some(changed.clone()),
            ),
            ("dave".to_owned(), None, Some(user("dave", "y"))),
            ("o'brien".to_owned(), None, Some(user("o'brien", "z"))),
        ];
        store
            .commit_users(1, 2, &edits, &change(2), "scim")
            .await
            .unwrap();
        let stale = store.commit_users(1, 3, &edits, &change(3), "scim").await;
        assert!(
            matches!(
                stale,
                Err(StoreError::Conflict {
                    expected: 1,
                    found: 2
                })
            ),
            "{url}"
        );
        let names = |file: &Bundle| {
            file.users
                .iter()
                .map(|u| u.name.clone())
                .collect::<Vec<_>>()
        };
        let (version, loaded) = store.load().await.unwrap();
        assert_eq!(version, 2, "{url}");
        assert_eq!(
            names(&loaded),
            ["alice", "carol", "dave", "o'brien"],
            "{url}"
        );
        assert_eq!(loaded.users[0], changed, "{url}");
        let history = store
            .history(&HistoryFilter {
                limit: 10,
                ..HistoryFilter::default()
            })
            .await
            .unwrap();
        let recorded: Vec<(String, String)> = history
            .iter()
            .filter(|entry| entry.version == 2)
            .map(|entry| (entry.name.clone(), entry.action.name().to_owned()))
            .collect();
        assert_eq!(recorded.len(), 4, "{url}: {recorded:?}");
        assert!(
            recorded.contains(&("bob".into(), "removed".into())),
            "{url}: {recorded:?}"
        );
        assert!(
            history
                .iter()
                .all(|entry| entry.version != 2 || entry.caller == "scim"),
            "{url}"
        );
        // A whole commit after single ones: gaps and appended positions are renumbered, and
        // the order survives a new user in the middle.
        let mut whole = loaded.clone();
        whole.users.insert(1, user("eve", "x"));
        store
            .commit(2, 3, &loaded, &whole, &change(3), "ops")
            .await
            .unwrap();
        let (_, reloaded) = store.load().await.unwrap();
        assert_eq!(
            names(&reloaded),
            ["alice", "eve", "carol", "dave", "o'brien"],
            "{url}"
        );
        assert_eq!(reloaded, whole, "{url}");
        // Gaps in front, a user appended, then a whole commit that rewrites one row only.
        let edits = vec![
            ("alice".to_owned(), Some(whole.users[0].clone()), None),
            ("eve".to_owned(), Some(whole.users[1].clone()), None),
            ("fay".to_owned(), None, Some(user("fay", "x"))),
        ];
        store
            .commit_users(3, 4, &edits, &change(4), "scim")
            .await
            .unwrap();
        let (_, before) = store.load().await.unwrap();
        assert_eq!(names(&before), ["carol", "dave", "o'brien", "fay"], "{url}");
        let mut after = before.clone();
        after.users[1].groups.push("moved".into());
        store
            .commit(4, 5, &before, &after, &change(5), "ops")
            .await
            .unwrap();
        assert_eq!(store.load().await.unwrap(), (5, after), "{url}");
        // What a replica follows without reloading: single user commits only.
        let followed = store
            .user_edits_between(3, 4)
            .await
            .unwrap()
            .expect("users only");
        let names: Vec<(&str, bool)> = followed
            .iter()
            .map(|(name, spec)| (name.as_str(), spec.is_some()))
            .collect();
        assert_eq!(
            names,
            [("alice", false), ("eve", false), ("fay", true)],
            "{url}"
        );
        assert_eq!(
            store.user_edits_between(3, 5).await.unwrap(),
            None,
            "{url}: a whole commit"
        );
        assert_eq!(
            store.user_edits_between(5, 5).await.unwrap(),
            None,
            "{url}: nothing"
        );
        assert_eq!(store.version().await.unwrap(), 5, "{url}");
    }
}
