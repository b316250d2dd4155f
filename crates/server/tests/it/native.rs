//! Native enforcement over real gRPC: `GetTableAccess` and `FilterTables` answer for the
//! backing tables from the very decisions the governed catalog's views come from.

use tonic::Code;
use veil_proto::v1::{
    ApplyBundleRequest, BackingTable, FilterSchemasRequest, FilterTablesRequest,
    GetTableAccessRequest, TableName,
};
use veil_server::Settings;

use crate::harness::{Server, identity, view_request};

fn access(user: &str, project: &str, table: [&str; 3]) -> GetTableAccessRequest {
    GetTableAccessRequest {
        identity: identity(user, &[], project),
        table: Some(BackingTable {
            catalog: table[0].into(),
            schema: table[1].into(),
            table: table[2].into(),
        }),
    }
}

/// For every example user and project and every data source, the native answer is the view:
/// each mask expression is the view's column, each row filter one of its predicates.
#[tokio::test]
async fn native_answers_are_the_views_decisions() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    let mut compared = 0;
    for (user, project) in [
        ("alice", ""),
        ("alice", "fraud-2026"),
        ("bob", ""),
        ("carol", ""),
        ("dave", ""),
        ("nobody", ""),
    ] {
        for (schema, table, backing) in [
            ("sales", "customers", "customer"),
            ("sales", "orders", "orders"),
            ("hr", "nations", "nation"),
        ] {
            let native = client
                .get_table_access(access(user, project, ["tpch", "tiny", backing]))
                .await
                .unwrap()
                .into_inner();
            assert!(native.governed);
            assert_eq!(native.data_source, format!("{schema}.{table}"));
            let view = client
                .get_view_definition(view_request(user, project, schema, table))
                .await;
            let Ok(view) = view else {
                assert_eq!(view.unwrap_err().code(), Code::NotFound);
                assert!(!native.visible, "{user} sees {backing} natively only");
                continue;
            };
            let view = view.into_inner();
            assert!(
                native.visible,
                "{user} sees {schema}.{table} in the view only"
            );
            let columns: Vec<&str> = view.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(native.columns, columns);
            for mask in &native.column_masks {
                let aliased = format!("{} AS \"{}\"", mask.expression, mask.column);
                assert!(
                    view.sql.contains(&aliased),
                    "{aliased}\nnot in {}",
                    view.sql
                );
            }
            for filter in &native.row_filters {
                assert!(view.sql.contains(&format!("({filter})")), "{filter}");
            }
            assert_eq!(
                native.row_filters.len(),
                view.sql.matches(" WHERE (").count() + view.sql.matches(") AND (").count()
            );
            assert_eq!(native.policy_version, view.policy_version);
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} visible pairs");
}

#[tokio::test]
async fn unregistered_tables_projects_and_listings() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    let region = client
        .get_table_access(access("alice", "", ["tpch", "tiny", "region"]))
        .await
        .unwrap()
        .into_inner();
    assert!(!region.governed && !region.visible && region.column_masks.is_empty());
    // Trino names tables in lowercase; a bundle may not.
    let upper = client
        .get_table_access(access("alice", "", ["TPCH", "Tiny", "CUSTOMER"]))
        .await
        .unwrap()
        .into_inner();
    assert!(upper.governed && upper.visible);
    let status = client
        .get_table_access(access("bob", "fraud-2026", ["tpch", "tiny", "customer"]))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "{}",
        status.message()
    );
    let status = client
        .get_table_access(access("alice", "", ["tpch", "", "customer"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let names = |tables: &[&str]| -> Vec<TableName> {
        tables
            .iter()
            .map(|table| TableName {
                schema: "tiny".into(),
                table: (*table).into(),
            })
            .collect()
    };
    let listing = |user: &str| FilterTablesRequest {
        identity: identity(user, &[], ""),
        catalog: "tpch".into(),
        tables: names(&["customer", "orders", "nation", "region", "part"]),
    };
    let alice = client
        .filter_tables(listing("alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alice.visible, names(&["customer", "orders", "nation"]));
    assert_eq!(alice.ungoverned, names(&["region", "part"]));
    let dave = client
        .filter_tables(listing("dave"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dave.visible, names(&["nation"]));
    assert_eq!(dave.ungoverned, names(&["region", "part"]));
}

/// `FilterSchemas` keeps the schemas that hold a table the user may see: not one whose every table
/// is hidden from the user, nor one without a governed table.
#[tokio::test]
async fn schema_listings_hide_schemas_with_nothing_visible() {
    let server = Server::in_memory(Settings::default()).await;
    let bundle = r#"
data_sources:
  - {name: sales.customers, table: tpch.tiny.customer, columns: [{name: custkey, type: bigint}]}
  - {name: hr.nations, table: TPCH.SF1.Nation, columns: [{name: nationkey, type: bigint}]}
  - {name: hr.twice_a, table: tpch.sf10.nation, columns: [{name: nationkey, type: bigint}]}
  - {name: hr.twice_b, table: tpch.sf10.nation, columns: [{name: nationkey, type: bigint}]}
users:
  - {name: alice, groups: [analysts]}
policies:
  - {name: analysts, kind: subscription, on: {data_sources: [sales.*]}, allow: {groups: [analysts]}}
  - {name: hr, kind: subscription, on: {data_sources: [hr.*]}, allow: everyone}
"#;
    server
        .admin("any")
        .await
        .apply_bundle(ApplyBundleRequest {
            yaml: bundle.into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let mut client = server.anonymous_decisions().await;
    let listing = |user: &str| FilterSchemasRequest {
        identity: identity(user, &[], ""),
        catalog: "tpch".into(),
        schemas: ["tiny", "sf1", "sf10", "sf100"].map(String::from).to_vec(),
    };
    let alice = client
        .filter_schemas(listing("alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alice.visible, ["tiny", "sf1"]);
    // Not an analyst: `tiny` holds only a table hidden from them; `sf10` only an ambiguous one.
    let mallory = client
        .filter_schemas(listing("mallory"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mallory.visible, ["sf1"]);
    let status = client
        .filter_schemas(FilterSchemasRequest {
            catalog: String::new(),
            ..listing("alice")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// `GetStatus` counts the query-path calls answered, method by method.
#[tokio::test]
async fn status_counts_the_calls_answered() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    for _ in 0..2 {
        client
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap();
    }
    client
        .get_table_access(access("alice", "", ["tpch", "tiny", "customer"]))
        .await
        .unwrap();
    let status = server
        .admin("any")
        .await
        .get_status(veil_proto::v1::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.calls["GetViewDefinition"], 2);
    assert_eq!(status.calls["GetTableAccess"], 1);
    assert_eq!(status.calls["FilterTables"], 0);
    assert_eq!(status.policy_version, 1);
}
