//! The query audit (`RecordQueries` from the plugin's event listener, `ListQueries` for
//! auditors, linked to the decisions of the same query), audit retention and the audit log.

use std::time::{Duration, Instant};

use veil_proto::v1::{
    GetViewDefinitionRequest, ListDecisionsRequest, ListQueriesRequest, QueryColumn, QueryRecord,
    QueryTable, RecordQueriesRequest,
};
use veil_server::{AuditOptions, Settings};
use veil_store::{DecisionRecord, PolicyNames};

use veil_proto::v1::policy_admin_client::PolicyAdminClient;

use crate::harness::{
    Backing, Server, Setup, WithToken, example_bundle, identity, scratch_directory, sqlite_url,
    tokens,
};

const PLUGIN: &str = "plugin-token-000000";
const ADMIN: &str = "admin-token-0000000";
const AUDITOR: &str = "auditor-token-00000";

fn table(catalog: &str, schema: &str, name: &str, governed_view: bool) -> QueryTable {
    QueryTable {
        catalog: catalog.into(),
        schema: schema.into(),
        table: name.into(),
        governed_view,
        directly_referenced: true,
        row_filters: Vec::new(),
        columns: Vec::new(),
    }
}

fn query(id: &str, user: &str, end: i64, tables: Vec<QueryTable>) -> QueryRecord {
    QueryRecord {
        query_id: id.into(),
        user: user.into(),
        groups: vec!["sales".into(), "analysts".into()],
        project: String::new(),
        create_unix_millis: end - 50,
        execution_start_unix_millis: end - 40,
        end_unix_millis: end,
        state: "FINISHED".into(),
        output_rows: 7,
        output_bytes: 300,
        read_rows: 1500,
        read_bytes: 9000,
        query: "SELECT * FROM veil.sales.customers".into(),
        tables,
        ..Default::default()
    }
}

/// The ids of the queries `request` lists, in order.
async fn ids(
    auditor: &mut PolicyAdminClient<WithToken>,
    request: ListQueriesRequest,
) -> Vec<String> {
    let found = auditor.list_queries(request).await.unwrap().into_inner();
    found
        .queries
        .into_iter()
        .map(|audited| audited.query.unwrap().query_id)
        .collect()
}

fn list(filter: impl FnOnce(&mut ListQueriesRequest)) -> ListQueriesRequest {
    let mut request = ListQueriesRequest {
        limit: 100,
        ..Default::default()
    };
    filter(&mut request);
    request
}

#[tokio::test]
async fn queries_are_kept_when_they_read_governed_data_and_found_by_filters() {
    let server = Server::on_store(&sqlite_url("query-audit")).await;
    let mut admin = server.admin(ADMIN).await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut plugin = server.decisions(PLUGIN).await;

    // The governed catalog: the plugin asks for the view with the query's id.
    let now = veil_store::now_millis();
    let mut view = GetViewDefinitionRequest {
        identity: identity("alice", &[], ""),
        schema: "sales".into(),
        table: "customers".into(),
    };
    view.identity.as_mut().unwrap().query_id = "q-governed".into();
    plugin.get_view_definition(view).await.unwrap();

    let mut governed = query(
        "q-governed",
        "alice",
        now + 10,
        vec![
            table("veil", "sales", "customers", true),
            table("tpch", "tiny", "customer", false),
        ],
    );
    governed.tables[1].directly_referenced = false;
    let mut native = query(
        "q-native",
        "bob",
        now + 20,
        vec![table("tpch", "tiny", "orders", false)],
    );
    native.tables[0].row_filters = vec!["orderpriority = '1-URGENT'".into()];
    native.tables[0].columns = vec![
        QueryColumn {
            name: "orderdate".into(),
            mask: "date_trunc('year', orderdate)".into(),
        },
        QueryColumn {
            name: "orderkey".into(),
            mask: String::new(),
        },
    ];
    native.project = "fraud-2026".into();
    let mut failed = query(
        "q-failed",
        "alice",
        now + 30,
        vec![table("tpch", "tiny", "customer", false)],
    );
    failed.state = "FAILED".into();
    failed.error_code = "PERMISSION_DENIED".into();
    failed.error_message = "x".repeat(5000);
    failed.query = "é".repeat(20_000);
    // Reads nothing Veil governs: not kept.
    let ungoverned = query(
        "q-region",
        "alice",
        now + 40,
        vec![table("tpch", "tiny", "region", false)],
    );
    let recorded = plugin
        .record_queries(RecordQueriesRequest {
            queries: vec![governed, native, failed, ungoverned],
            dropped: 3,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.recorded, 3);

    let mut auditor = server.admin(AUDITOR).await;
    let all = auditor
        .list_queries(list(|_| {}))
        .await
        .unwrap()
        .into_inner();
    let newest_first: Vec<_> = all
        .queries
        .iter()
        .map(|audited| audited.query.as_ref().unwrap().query_id.as_str())
        .collect();
    assert_eq!(newest_first, ["q-failed", "q-native", "q-governed"]);
    assert_eq!(all.dropped, 3);

    let governed = &all.queries[2];
    let record = governed.query.as_ref().unwrap();
    assert_eq!(record.data_sources, ["sales.customers"]);
    assert_eq!(record.groups, ["analysts", "sales"], "sorted");
    assert_eq!(
        (record.output_rows, record.read_rows, record.read_bytes),
        (7, 1500, 9000)
    );
    // Linked to the decision the PDP answered for the same query (once the writer has it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let decisions = loop {
        let found = auditor
            .list_queries(list(|request| request.query_id = "q-governed".into()))
            .await
            .unwrap()
            .into_inner();
        let decisions = found.queries[0].decisions.clone();
        if !decisions.is_empty() || Instant::now() > deadline {
            break decisions;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0].data_source, "sales.customers");
    assert_eq!(decisions[0].query_id, "q-governed");
    assert!(decisions[0].allowed);
    // The decision audit says the query too.
    let listed = auditor
        .list_decisions(ListDecisionsRequest {
            limit: 10,
            user: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.records[0].query_id, "q-governed");

    let native = all.queries[1].query.as_ref().unwrap();
    assert_eq!(native.data_sources, ["sales.orders"]);
    assert_eq!(native.project, "fraud-2026");
    assert_eq!(native.tables[0].row_filters, ["orderpriority = '1-URGENT'"]);
    assert_eq!(
        native.tables[0].columns[0].mask,
        "date_trunc('year', orderdate)"
    );
    assert!(
        all.queries[1].decisions.is_empty(),
        "no decision said q-native"
    );

    let failed = all.queries[0].query.as_ref().unwrap();
    assert_eq!(
        (failed.state.as_str(), failed.error_code.as_str()),
        ("FAILED", "PERMISSION_DENIED")
    );
    assert_eq!(failed.error_message.len(), 1024);
    assert!(failed.query.len() <= 16 << 10 && failed.query.len() > (16 << 10) - 2);

    assert_eq!(
        ids(&mut auditor, list(|request| request.user = "bob".into())).await,
        ["q-native"]
    );
    assert_eq!(
        ids(
            &mut auditor,
            list(|request| request.data_source = "sales.customers".into())
        )
        .await,
        ["q-failed", "q-governed"]
    );
    assert_eq!(
        ids(
            &mut auditor,
            list(|request| {
                request.since_unix_millis = now + 15;
                request.until_unix_millis = now + 30;
            })
        )
        .await,
        ["q-native"]
    );
    assert_eq!(
        ids(&mut auditor, list(|request| request.limit = 1)).await,
        ["q-failed"]
    );

    // A batch sent again (its answer was lost) stores nothing twice.
    let again = query(
        "q-native",
        "bob",
        now + 20,
        vec![table("tpch", "tiny", "orders", false)],
    );
    plugin
        .record_queries(RecordQueriesRequest {
            queries: vec![again],
            dropped: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&mut auditor, list(|request| request.user = "bob".into())).await,
        ["q-native"]
    );
}

#[tokio::test]
async fn malformed_batches_are_refused_whole_and_roles_are_kept_apart() {
    let server = Server::on_store(&sqlite_url("query-audit-refused")).await;
    let mut admin = server.admin(ADMIN).await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut plugin = server.decisions(PLUGIN).await;
    let now = veil_store::now_millis();
    let good = query(
        "q-good",
        "alice",
        now,
        vec![table("veil", "sales", "customers", true)],
    );
    for (broken, message) in [
        (
            QueryRecord {
                query_id: String::new(),
                ..good.clone()
            },
            "queries[1] (query id ``): `query_id` is empty",
        ),
        (
            QueryRecord {
                user: String::new(),
                ..good.clone()
            },
            "queries[1] (query id `q-good`): `user` is empty",
        ),
        (
            QueryRecord {
                create_unix_millis: now + 1,
                ..good.clone()
            },
            "`end_unix_millis` is before `create_unix_millis`",
        ),
    ] {
        let refused = plugin
            .record_queries(RecordQueriesRequest {
                queries: vec![
                    QueryRecord {
                        query_id: "q-first".into(),
                        ..good.clone()
                    },
                    broken,
                ],
                dropped: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains(message), "{}", refused.message());
    }
    let mut auditor = server.admin(AUDITOR).await;
    let stored = auditor
        .list_queries(list(|_| {}))
        .await
        .unwrap()
        .into_inner();
    assert!(stored.queries.is_empty(), "nothing of a refused batch");

    // Only the plugin (and admins) report queries; only readers list them.
    let mut as_auditor = server.decisions(AUDITOR).await;
    let refused = as_auditor
        .record_queries(RecordQueriesRequest {
            queries: vec![good.clone()],
            dropped: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let mut plugin_admin = server.admin(PLUGIN).await;
    let refused = plugin_admin.list_queries(list(|_| {})).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn retention_prunes_old_audit_rows_in_batches_and_keeps_new_ones() {
    let url = sqlite_url("retention");
    let now = veil_store::now_millis();
    let day = 24 * 3600 * 1000;
    {
        // 12,000 decisions from 40 days ago (more than two pruning batches) and one from today,
        // and a query of each age.
        let store = veil_store::Store::open(&url).await.unwrap();
        let record = |at_millis, user: &str| DecisionRecord {
            at_millis,
            user: user.into(),
            project: String::new(),
            data_source: "sales.customers".into(),
            allowed: true,
            policies: PolicyNames::none(),
            version: 1,
            latency_micros: 5,
            query_id: String::new(),
        };
        let old: Vec<_> = (0..12_000)
            .map(|index| record(now - 40 * day + index, "old"))
            .collect();
        store.record_decisions(&old).await.unwrap();
        store.record_decisions(&[record(now, "new")]).await.unwrap();
        let stored = |id: &str, end_millis| veil_store::QueryRecord {
            query_id: id.into(),
            user: "alice".into(),
            end_millis,
            create_millis: end_millis,
            data_sources: vec!["sales.customers".into()],
            ..Default::default()
        };
        store
            .record_queries(&[stored("q-old", now - 40 * day), stored("q-new", now)])
            .await
            .unwrap();
    }
    let log = scratch_directory("retention-log").join("audit.jsonl");
    let settings = Settings {
        audit: AuditOptions {
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
            log: Some(log.display().to_string()),
        },
        ..Settings::default()
    };
    let server = Server::start(Setup {
        backing: Backing::StoreWith(&url, settings),
        authenticator: tokens(),
        tls: None,
    })
    .await;
    let mut auditor = server.admin(AUDITOR).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (decisions, queries) = loop {
        let decisions = auditor
            .list_decisions(ListDecisionsRequest {
                limit: 10_000,
                user: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        let queries = auditor
            .list_queries(list(|_| {}))
            .await
            .unwrap()
            .into_inner()
            .queries;
        if (decisions.len() == 1 && queries.len() == 1) || Instant::now() > deadline {
            break (decisions, queries);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(decisions.len(), 1, "the old decisions are pruned");
    assert_eq!(decisions[0].user, "new");
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].query.as_ref().unwrap().query_id, "q-new");
    let pruned = &server.state.audit.counters().pruned;
    assert_eq!(pruned.with_label_values(&["veil_decisions"]).get(), 12_000);
    assert_eq!(pruned.with_label_values(&["veil_queries"]).get(), 1);

    // The audit log has every record written from now on, one JSON object a line.
    let mut plugin = server.decisions(PLUGIN).await;
    let mut admin = server.admin(ADMIN).await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut view = GetViewDefinitionRequest {
        identity: identity("alice", &[], ""),
        schema: "sales".into(),
        table: "customers".into(),
    };
    view.identity.as_mut().unwrap().query_id = "q-logged".into();
    plugin.get_view_definition(view).await.unwrap();
    plugin
        .record_queries(RecordQueriesRequest {
            queries: vec![query(
                "q-logged",
                "alice",
                veil_store::now_millis(),
                vec![table("veil", "sales", "customers", true)],
            )],
            dropped: 0,
        })
        .await
        .unwrap();
    server.stop().await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let kinds: Vec<_> = lines
        .iter()
        .map(|line| {
            (
                line["record"].as_str().unwrap(),
                line["query_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(kinds.contains(&("decision", "q-logged")), "{kinds:?}");
    assert!(kinds.contains(&("query", "q-logged")), "{kinds:?}");
    let query_line = lines.iter().find(|line| line["record"] == "query").unwrap();
    assert_eq!(query_line["data_sources"][0], "sales.customers");
    assert_eq!(query_line["user"], "alice");
}
