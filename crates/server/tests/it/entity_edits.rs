//! The fast lane for single policies and data sources (`PutEntity` and `DeleteEntity`): each
//! edit is committed as a single-entity commit (the rows it touches, followable by replicas),
//! answered by the next `GetViewDefinition`, refused with the whole bundle's errors, and a
//! restart loads exactly the estate the edits left.

use tonic::Code;
use veil_proto::v1::{
    DeleteEntityRequest, EntityKind, ExportBundleRequest, GetViewDefinitionRequest,
};

use crate::harness::{Server, example_bundle, identity, put, sqlite_url};

const ADMIN: &str = "admin-token-0000000";
const PLUGIN: &str = "plugin-token-000000";

fn remove(kind: EntityKind, name: &str) -> DeleteEntityRequest {
    DeleteEntityRequest {
        kind: kind as i32,
        name: name.into(),
        dry_run: false,
    }
}

/// Whether the commits after `after` through `through` were all single-entity commits.
async fn single_entity_commits(url: &str, after: u64, through: u64) -> bool {
    let store = veil_store::Store::open(url).await.unwrap();
    store
        .entity_edits_between(after, through)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn single_policy_and_data_source_edits_take_the_fast_lane() {
    let url = sqlite_url("entity-edits");
    let server = Server::on_store(&url).await;
    let mut admin = server.admin(ADMIN).await;
    let applied = admin
        .apply_bundle(example_bundle(false))
        .await
        .unwrap()
        .into_inner();
    let mut plugin = server.decisions(PLUGIN).await;
    let view = |user: &str, schema: &str, table: &str| GetViewDefinitionRequest {
        identity: identity(user, &[], ""),
        schema: schema.into(),
        table: table.into(),
    };
    let sql = |answer: veil_proto::v1::GetViewDefinitionResponse| answer.sql;

    // A policy added: the next answer is by it.
    let before = sql(plugin
        .get_view_definition(view("alice", "sales", "orders"))
        .await
        .unwrap()
        .into_inner());
    assert!(!before.contains("clerk_filter"), "{before}");
    let added = admin
        .put_entity(put(
            EntityKind::Policy,
            "{name: clerk-filter, kind: row_filter, on: {data_sources: [sales.orders]}, where: \"clerk <> 'clerk_filter'\"}",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(added.applied);
    assert!(single_entity_commits(&url, applied.policy_version, added.policy_version).await);
    let filtered = sql(plugin
        .get_view_definition(view("alice", "sales", "orders"))
        .await
        .unwrap()
        .into_inner());
    assert!(filtered.contains("clerk_filter"), "{filtered}");

    // A policy changed in its place: its `for` now leaves alice out.
    let changed = admin
        .put_entity(put(
            EntityKind::Policy,
            "{name: clerk-filter, kind: row_filter, on: {data_sources: [sales.orders]}, where: \"clerk <> 'clerk_filter'\", for: {groups: [support]}}",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(single_entity_commits(&url, added.policy_version, changed.policy_version).await);
    assert_eq!(
        sql(plugin
            .get_view_definition(view("alice", "sales", "orders"))
            .await
            .unwrap()
            .into_inner()),
        before
    );

    // A policy removed that is not the last one: the others keep working.
    let removed = admin
        .delete_entity(remove(EntityKind::Policy, "finance-readers"))
        .await
        .unwrap()
        .into_inner();
    assert!(single_entity_commits(&url, changed.policy_version, removed.policy_version).await);
    assert_eq!(
        plugin
            .get_view_definition(view("alice", "sales", "orders"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    plugin
        .get_view_definition(view("alice", "hr", "nations"))
        .await
        .unwrap();

    // An invalid policy is refused with the whole bundle's error, and changes nothing.
    let refused = admin
        .put_entity(put(
            EntityKind::Policy,
            "{name: broken, kind: mask, on: {data_sources: [sales.orders], columns: [nothere]}, method: hash}",
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("nothere"), "{refused:?}");

    // A data source added, then given a tagged column a policy masks.
    let source = admin
        .put_entity(put(
            EntityKind::DataSource,
            "{name: hr.staff, table: tpch.tiny.supplier, columns: [{name: suppkey, type: bigint}, {name: phone, type: varchar(15)}]}",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(single_entity_commits(&url, removed.policy_version, source.policy_version).await);
    // Nothing subscribes anyone to it yet.
    assert_eq!(
        plugin
            .get_view_definition(view("alice", "hr", "staff"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    admin
        .put_entity(put(
            EntityKind::Policy,
            "{name: staff-for-all, kind: subscription, on: {data_sources: [hr.staff]}, allow: everyone}",
        ))
        .await
        .unwrap();
    let plain = sql(plugin
        .get_view_definition(view("alice", "hr", "staff"))
        .await
        .unwrap()
        .into_inner());
    let tagged = admin
        .put_entity(put(
            EntityKind::DataSource,
            "{name: hr.staff, table: tpch.tiny.supplier, columns: [{name: suppkey, type: bigint}, {name: phone, type: varchar(15), tags: [PII.Phone]}]}",
        ))
        .await
        .unwrap()
        .into_inner();
    let masked = sql(plugin
        .get_view_definition(view("alice", "hr", "staff"))
        .await
        .unwrap()
        .into_inner());
    assert_ne!(masked, plain);

    // A data source a policy names cannot go; once the policy is gone, it can.
    let refused = admin
        .delete_entity(remove(EntityKind::DataSource, "hr.staff"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("hr.staff"), "{refused:?}");
    admin
        .delete_entity(remove(EntityKind::Policy, "staff-for-all"))
        .await
        .unwrap();
    let gone = admin
        .delete_entity(remove(EntityKind::DataSource, "hr.staff"))
        .await
        .unwrap()
        .into_inner();
    assert!(single_entity_commits(&url, tagged.policy_version, gone.policy_version).await);
    assert_eq!(
        plugin
            .get_view_definition(view("alice", "hr", "staff"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        admin
            .delete_entity(remove(EntityKind::DataSource, "hr.staff"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let exported = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    // What a fresh load of the export gives is what the edits left.
    let fresh = veil_compiler::Compiler::from_yaml(&exported, "veil").unwrap();
    assert_eq!(
        fresh.estate().to_file(),
        server.state.current().compiler.estate().to_file()
    );
    server.stop().await;

    let server = Server::on_store(&url).await;
    let mut admin = server.admin(ADMIN).await;
    let after = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    assert_eq!(after, exported);
    server.stop().await;
}
