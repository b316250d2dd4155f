//! PolicyAdmin over real gRPC on loopback, with a real store: the validated write path (whole
//! bundles with a dry run, entities one at a time), tokens and roles on both paths, change
//! events and catching up after a reconnect, and restarts.

use tonic::Code;
use veil_proto::v1::{
    ApplyBundleRequest, DeleteEntityRequest, EntityKind, ExplainRequest, ExportBundleRequest,
    GetEntityRequest, WatchChangesRequest,
};

use crate::harness::{EXAMPLE, Server, example_bundle, identity, put, sqlite_url, view_request};

#[tokio::test]
async fn bundles_apply_atomically_with_a_dry_run_and_survive_a_restart() {
    let url = sqlite_url("apply");
    let server = Server::on_store(&url).await;
    let mut admin = server.admin("admin-token-0000000").await;

    let dry = admin
        .apply_bundle(example_bundle(true))
        .await
        .unwrap()
        .into_inner();
    assert!(!dry.applied);
    assert_eq!(dry.policy_version, 0);
    assert_eq!(dry.changes.len(), 3 + 4 + 1 + 1 + 9);
    assert!(
        dry.affected_data_sources
            .contains(&"sales.customers".to_string())
    );
    let mut decisions = server.decisions("plugin-token-000000").await;
    assert_eq!(
        decisions
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound,
        "a dry run changes nothing"
    );

    let mut events = decisions
        .watch_changes(WatchChangesRequest { since_version: 0 })
        .await
        .unwrap()
        .into_inner();
    let applied = admin
        .apply_bundle(example_bundle(false))
        .await
        .unwrap()
        .into_inner();
    assert!(applied.applied && applied.policy_version > 0);
    let event = events.message().await.unwrap().unwrap();
    assert_eq!(event.policy_version, applied.policy_version);
    assert!(event.data_sources.contains(&"sales.orders".to_string()));
    let answer = decisions
        .get_view_definition(view_request("alice", "", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.policy_version, applied.policy_version);

    // Bad input: said why, nothing changed.
    let broken = EXAMPLE.replace("method: hash", "method: blur");
    let status = admin
        .apply_bundle(ApplyBundleRequest {
            yaml: broken,
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("unknown method `blur`"),
        "{}",
        status.message()
    );
    assert!(status.message().contains("line "), "{}", status.message());
    let exported = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exported.policy_version, applied.policy_version);
    let expected = veil_policy::Bundle::from_yaml(EXAMPLE).unwrap();
    assert_eq!(
        veil_policy::Bundle::from_yaml(&exported.yaml).unwrap(),
        expected,
        "export round-trips the bundle"
    );

    // Re-applying the export is no change at all.
    let again = admin
        .apply_bundle(ApplyBundleRequest {
            yaml: exported.yaml.clone(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.applied && again.changes.is_empty());

    drop(events);
    server.stop().await;
    let restarted = Server::on_store(&url).await;
    let mut admin = restarted.admin("auditor-token-00000").await;
    let after = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, exported, "a restart keeps everything");
    restarted.stop().await;
}

#[tokio::test]
async fn entities_are_edited_one_at_a_time_within_roles() {
    let server = Server::on_store(&sqlite_url("entities")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();

    let mut governor = server.admin("governor-token-000").await;
    let summary = governor
        .put_entity(put(EntityKind::Policy, "{name: nations-for-everyone, kind: subscription, on: {data_sources: [hr.nations]}, allow: {groups: [analysts]}}"))
        .await
        .unwrap()
        .into_inner();
    assert!(summary.applied);
    assert_eq!(summary.changes[0].action, "changed");
    assert_eq!(
        summary.affected_data_sources,
        vec!["hr.nations".to_string()]
    );
    let denied = governor
        .put_entity(put(EntityKind::User, "{name: eve, groups: [analysts]}"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut owner = server.admin("owner-token-0000000").await;
    let orders = admin
        .get_entity(GetEntityRequest {
            kind: EntityKind::DataSource as i32,
            name: "sales.orders".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let described = orders.yaml.replace(
        "name: sales.orders",
        "name: sales.orders\ndescription: Orders, owned by sales",
    );
    owner
        .put_entity(put(EntityKind::DataSource, &described))
        .await
        .unwrap();
    let nations = admin
        .get_entity(GetEntityRequest {
            kind: EntityKind::DataSource as i32,
            name: "hr.nations".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        owner
            .put_entity(put(EntityKind::DataSource, &nations.yaml))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // A change that would break a policy is refused whole.
    let without_phone = orders.yaml.replace(
        "- name: clerk\n  type: varchar(15)\n  tags:\n  - PII.Name\n",
        "",
    );
    assert_ne!(without_phone, orders.yaml);
    let mut broken = admin
        .put_entity(put(
            EntityKind::DataSource,
            &without_phone.replace("name: orderdate", "name: order_date"),
        ))
        .await
        .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument, "{}", broken.message());
    assert!(
        broken.message().contains("month-of-order"),
        "{}",
        broken.message()
    );
    broken = admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::Purpose as i32,
            name: "fraud-investigation".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument, "{}", broken.message());
    let missing = admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::User as i32,
            name: "nobody".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let deleted = admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::User as i32,
            name: "dave".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.affected_users, vec!["dave".to_string()]);

    let mut auditor = server.admin("auditor-token-00000").await;
    assert_eq!(
        auditor
            .put_entity(put(EntityKind::Purpose, "{name: x}"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let explained = auditor
        .explain(ExplainRequest {
            identity: identity("bob", &[], ""),
            schema: "sales".into(),
            table: "orders".into(),
            as_of_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(explained.visible);
    assert_eq!(explained.columns[4].policy, "month-of-order");
    assert!(explained.text.contains("round by month-of-order"));
    server.stop().await;
}

#[tokio::test]
async fn tokens_and_roles_guard_both_paths() {
    let server = Server::on_store(&sqlite_url("tokens")).await;
    let mut plugin_as_admin = server.admin("plugin-token-000000").await;
    assert_eq!(
        plugin_as_admin
            .export_bundle(ExportBundleRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let mut wrong = server.admin("not-a-token-at-all").await;
    assert_eq!(
        wrong
            .export_bundle(ExportBundleRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut anonymous = server.anonymous_decisions().await;
    assert_eq!(
        anonymous
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut governor_on_query_path = server.decisions("governor-token-000").await;
    assert_eq!(
        governor_on_query_path
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let mut governor = server.admin("governor-token-000").await;
    assert_eq!(
        governor
            .apply_bundle(example_bundle(true))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reconnecting_watcher_catches_up_with_exactly_what_changed() {
    let server = Server::on_store(&sqlite_url("catch-up")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    let first = admin
        .apply_bundle(example_bundle(false))
        .await
        .unwrap()
        .into_inner();
    let deleted = admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::User as i32,
            name: "dave".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut decisions = server.decisions("plugin-token-000000").await;
    let exact = decisions
        .watch_changes(WatchChangesRequest {
            since_version: first.policy_version,
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exact.policy_version, deleted.policy_version);
    assert!(!exact.everything);
    assert_eq!(exact.users, vec!["dave".to_string()]);
    assert!(exact.data_sources.is_empty());
    let from_scratch = decisions
        .watch_changes(WatchChangesRequest { since_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    assert!(from_scratch.everything);
    server.stop().await;
}
