//! The PolicyDecision service over real gRPC on loopback, with the example estate in memory:
//! view definitions and their errors, listings, trusted groups, remembered answers, health and
//! the change stream.

use tonic::Code;
use veil_proto::v1::{
    GetViewDefinitionRequest, ListSchemasRequest, ListTablesRequest, WatchChangesRequest,
};
use veil_server::Settings;

use crate::harness::{Server, example, identity, view_request};

#[tokio::test]
async fn view_definitions_and_errors() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    let view = client
        .get_view_definition(view_request("alice", "", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    // The keyed function of the configured catalog, with the key's id and never a key.
    assert!(
        view.sql.starts_with(
            "SELECT \"custkey\", CAST(\"governed\".\"system\".\"hash\"('default', CAST(\"name\" AS varchar)) AS varchar(25)) AS \"name\""
        ),
        "{}",
        view.sql
    );
    assert!(
        view.sql
            .ends_with("WHERE (CAST(\"nationkey\" AS varchar) IN ('1', '2'))"),
        "{}",
        view.sql
    );
    assert_eq!(view.policy_version, 1);
    let types: Vec<(&str, &str)> = view
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.r#type.as_str()))
        .collect();
    assert_eq!(types[0], ("custkey", "bigint"));
    // A mask keeps the column's type: the hash is cut to the column's length.
    assert_eq!(types[1], ("name", "varchar(25)"));
    assert_eq!(types[4], ("phone", "varchar(15)"));

    // The same question twice is answered from the cache with the same view.
    let again = client
        .get_view_definition(view_request("alice", "", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, view);

    // Under the fraud project alice's PII masks and region filter are lifted.
    let fraud = client
        .get_view_definition(view_request("alice", "fraud-2026", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        fraud
            .sql
            .starts_with("SELECT \"custkey\", \"name\", \"address\""),
        "{}",
        fraud.sql
    );
    assert!(!fraud.sql.contains("WHERE"));

    let code = |result: Result<tonic::Response<_>, tonic::Status>| result.unwrap_err().code();
    // Invisible and absent look the same.
    let invisible = client
        .get_view_definition(view_request("dave", "", "sales", "customers"))
        .await;
    let absent = client
        .get_view_definition(view_request("alice", "", "sales", "nope"))
        .await;
    let invisible = invisible.unwrap_err();
    let absent = absent.unwrap_err();
    assert_eq!(
        (invisible.code(), absent.code()),
        (Code::NotFound, Code::NotFound)
    );
    assert!(invisible.message().contains("`sales.customers` not found"));
    assert_eq!(
        code(
            client
                .get_view_definition(view_request("bob", "fraud-2026", "sales", "customers"))
                .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        code(
            client
                .get_view_definition(view_request("", "", "sales", "customers"))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            client
                .get_view_definition(view_request("alice", "", "sales.x", "customers"))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            client
                .get_view_definition(GetViewDefinitionRequest {
                    identity: None,
                    schema: "sales".into(),
                    table: "orders".into()
                })
                .await
        ),
        Code::InvalidArgument
    );
    server.stop().await;
}

#[tokio::test]
async fn listings_show_only_what_the_user_may_see() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    let schemas = |user: &str| ListSchemasRequest {
        identity: identity(user, &[], ""),
    };
    let alice = client
        .list_schemas(schemas("alice"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alice.schemas, vec!["hr", "sales"]);
    let dave = client
        .list_schemas(schemas("dave"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dave.schemas, vec!["hr"]);
    let tables = client
        .list_tables(ListTablesRequest {
            identity: identity("alice", &[], ""),
            schema: "sales".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = tables
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.schema, t.table))
        .collect();
    assert_eq!(names, vec!["sales.customers", "sales.orders"]);
    let all = client
        .list_tables(ListTablesRequest {
            identity: identity("dave", &[], ""),
            schema: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.tables.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn trino_groups_only_when_trusted() {
    for (trusted, expected) in [(false, Code::NotFound), (true, Code::Ok)] {
        let server = Server::in_memory(Settings {
            trust_trino_groups: trusted,
            ..Settings::default()
        })
        .await;
        let mut client = server.anonymous_decisions().await;
        let request = GetViewDefinitionRequest {
            identity: identity("dave", &["analysts"], ""),
            schema: "sales".into(),
            table: "customers".into(),
        };
        let code = match client.get_view_definition(request).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        assert_eq!(code, expected, "trusted = {trusted}");
        server.stop().await;
    }
}

/// Answers are remembered per request: one that differs in any field is answered afresh.
#[tokio::test]
async fn remembered_answers_serve_only_equal_requests() {
    let server = Server::in_memory(Settings {
        trust_trino_groups: true,
        ..Settings::default()
    })
    .await;
    let mut client = server.anonymous_decisions().await;
    let dave = |groups: &[&str], project: &str| GetViewDefinitionRequest {
        identity: identity("dave", groups, project),
        schema: "sales".into(),
        table: "customers".into(),
    };
    let first = client
        .get_view_definition(dave(&["analysts"], ""))
        .await
        .unwrap()
        .into_inner();
    for differing in [dave(&[], ""), dave(&["analysts", "x"], "fraud-2026")] {
        let refused = client.get_view_definition(differing).await;
        assert!(refused.is_err(), "{refused:?}");
    }
    let again = client
        .get_view_definition(dave(&["analysts"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(server.state.current().answers.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn health_and_change_stream() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut stream = client
        .watch_changes(WatchChangesRequest { since_version: 1 })
        .await
        .unwrap()
        .into_inner();
    let version = server.state.publish_all(example());
    assert!(version > 1);
    let event = stream.message().await.unwrap().unwrap();
    assert_eq!(event.policy_version, version);
    assert!(event.everything);
    // New answers carry the new version.
    let view = client
        .get_view_definition(view_request("alice", "", "sales", "orders"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.policy_version, version);
    // A client that reconnects from an old version first gets a catch-up event.
    let mut late = client
        .watch_changes(WatchChangesRequest { since_version: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        late.message().await.unwrap().unwrap().policy_version,
        version
    );
    drop(stream);
    drop(late);
    server.stop().await;
}

/// One call answers a listing of views, each exactly as `GetViewDefinition` answers it.
#[tokio::test]
async fn view_definitions_in_one_call() {
    let server = Server::in_memory(Settings::default()).await;
    let mut client = server.anonymous_decisions().await;
    for (user, schema, expected) in [
        (
            "alice",
            "",
            vec!["hr.nations", "sales.customers", "sales.orders"],
        ),
        ("alice", "sales", vec!["sales.customers", "sales.orders"]),
        ("dave", "", vec!["hr.nations"]),
        ("nobody", "", vec!["hr.nations"]),
    ] {
        let views = client
            .get_view_definitions(veil_proto::v1::GetViewDefinitionsRequest {
                identity: identity(user, &[], ""),
                schema: schema.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .views;
        let mut names: Vec<String> = views
            .iter()
            .map(|named| format!("{}.{}", named.schema, named.table))
            .collect();
        names.sort();
        assert_eq!(names, expected, "{user} in `{schema}`");
        for named in views {
            let single = client
                .get_view_definition(view_request(user, "", &named.schema, &named.table))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                named.view,
                Some(single),
                "{user}: {}.{}",
                named.schema,
                named.table
            );
        }
    }
}
