//! The history for auditors: who changed which entity when, before and after, and a decision
//! explained as the policies stood at an earlier version.

use tonic::Code;
use veil_proto::v1::{EntityKind, ExplainRequest, ListChangesRequest};

use crate::harness::{Server, example_bundle, identity, put, sqlite_url};

/// Who changed what and when, with each entity before and after, for auditors; and a decision
/// as the policies stood at an earlier version.
#[tokio::test]
async fn history_answers_who_changed_what_and_what_a_user_saw() {
    let server = Server::on_store(&sqlite_url("history")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    let first = admin
        .apply_bundle(example_bundle(false))
        .await
        .unwrap()
        .into_inner()
        .policy_version;
    let mut governor = server.admin("governor-token-000").await;
    // The governor lets interns read the customers.
    governor
        .put_entity(put(EntityKind::Policy, "{name: finance-readers, kind: subscription, on: {tags: [Finance]}, allow: {groups: [analysts, finance, interns]}}"))
        .await
        .unwrap();
    let mut auditor = server.admin("auditor-token-00000").await;
    let changes = auditor
        .list_changes(ListChangesRequest {
            caller: "gov".into(),
            ..ListChangesRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .changes;
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(
        (change.kind, change.name.as_str(), change.action.as_str()),
        (EntityKind::Policy as i32, "finance-readers", "changed")
    );
    assert!(
        change.before_yaml.contains("- finance\n") && !change.before_yaml.contains("interns"),
        "{}",
        change.before_yaml
    );
    assert!(
        change.after_yaml.contains("- interns"),
        "{}",
        change.after_yaml
    );
    assert!(change.policy_version > first);
    let by_name = auditor
        .list_changes(ListChangesRequest {
            kind: EntityKind::Policy as i32,
            name: "finance-readers".into(),
            ..ListChangesRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .changes;
    assert_eq!(
        by_name
            .iter()
            .map(|entry| entry.caller.as_str())
            .collect::<Vec<_>>(),
        ["gov", "ops"]
    );
    assert_eq!(by_name[1].action, "added");
    assert!(by_name[1].before_yaml.is_empty());
    let plugin = server
        .admin("plugin-token-000000")
        .await
        .list_changes(ListChangesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(plugin.code(), Code::PermissionDenied);

    // Dave (an intern) sees the customers now, and did not at the first version.
    let explain = |as_of_version| ExplainRequest {
        identity: identity("dave", &[], ""),
        schema: "sales".into(),
        table: "customers".into(),
        as_of_version,
    };
    let now = auditor.explain(explain(0)).await.unwrap().into_inner();
    assert!(now.visible);
    let then = auditor.explain(explain(first)).await.unwrap().into_inner();
    assert!(!then.visible, "{}", then.text);
    assert_eq!(then.policy_version, first);
    let before_anything = auditor.explain(explain(first - 1)).await.unwrap_err();
    assert_eq!(
        before_anything.code(),
        Code::NotFound,
        "{}",
        before_anything.message()
    );
    let future = auditor.explain(explain(u64::MAX)).await.unwrap_err();
    assert_eq!(
        future.code(),
        Code::FailedPrecondition,
        "{}",
        future.message()
    );
}
