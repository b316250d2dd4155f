//! What each role may change: an owner cannot widen who sees what beyond its data sources and
//! tables, a governor cannot change settings, and nothing refused is stored.

use tonic::Code;
use veil_proto::v1::policy_admin_client::PolicyAdminClient;
use veil_proto::v1::{
    DeleteEntityRequest, EntityKind, ExportBundleRequest, GetEntityRequest, PutEntityRequest,
};

use crate::harness::{Server, WithToken, example_bundle, put, sqlite_url, view_request};

/// Each way an owner could widen what others see, refused with the rule named and nothing
/// stored; what stays within the owner's authority still goes through.
#[tokio::test]
async fn no_role_widens_access_beyond_its_authority() {
    let server = Server::on_store(&sqlite_url("authority")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut owner = server.admin("crm-owner-token-000").await;
    let version = server.state.current().version;
    let refused = async |owner: &mut PolicyAdminClient<WithToken>, request: PutEntityRequest| {
        let status = owner.put_entity(request).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{}",
            status.message()
        );
        status.message().to_owned()
    };
    let leak = "{name: sales.leak, table: tpch.sf1.supplier, tags: [Finance], columns: [{name: name, type: varchar(25)}]}";
    let message = refused(&mut owner, put(EntityKind::DataSource, leak)).await;
    assert!(message.contains("`crm-owner` may not point data source `sales.leak` at `tpch.sf1.supplier`: the table is outside its `tables`"), "{message}");
    let mut dry = put(EntityKind::DataSource, leak);
    dry.dry_run = true;
    refused(&mut owner, dry).await;

    let orders = admin
        .get_entity(GetEntityRequest {
            kind: EntityKind::DataSource as i32,
            name: "sales.orders".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .yaml;
    let moved = orders.replace("table: tpch.tiny.orders", "table: tpch.sf1.orders");
    let message = refused(&mut owner, put(EntityKind::DataSource, &moved)).await;
    assert!(message.contains("at `tpch.sf1.orders`"), "{message}");

    let copy = "{name: sales.copy, table: tpch.tiny.customer, tags: [Finance], columns: [{name: name, type: varchar(25)}]}";
    let message = refused(&mut owner, put(EntityKind::DataSource, copy)).await;
    assert!(
        message.contains("data source `sales.customers` already governs it"),
        "{message}"
    );
    // Trino names tables without regard to case: the same table in capitals is the same table.
    let shouted = copy.replace("tpch.tiny.customer", "TPCH.Tiny.Customer");
    let message = refused(&mut owner, put(EntityKind::DataSource, &shouted)).await;
    assert!(
        message.contains("data source `sales.customers` already governs it"),
        "{message}"
    );

    let untagged_clerk = orders.replace(
        "- name: clerk\n  type: varchar(15)\n  tags:\n  - PII.Name\n",
        "- name: clerk\n  type: varchar(15)\n",
    );
    assert_ne!(untagged_clerk, orders);
    let message = refused(&mut owner, put(EntityKind::DataSource, &untagged_clerk)).await;
    assert!(message.contains("`crm-owner` may not remove tag `PII.Name` from column `clerk` of data source `sales.orders`: policy `hash-pii` targets it"), "{message}");
    // Renamed in another case, the column is the same column of the backing table.
    let recased_clerk = untagged_clerk.replace("- name: clerk\n", "- name: Clerk\n");
    assert_ne!(recased_clerk, untagged_clerk);
    let message = refused(&mut owner, put(EntityKind::DataSource, &recased_clerk)).await;
    assert!(message.contains("`crm-owner` may not remove tag `PII.Name` from column `clerk` of data source `sales.orders`: policy `hash-pii` targets it"), "{message}");

    // A second subscription restricts who sees the orders; dropping its tag would widen that.
    let confidential = orders.replace("tags:\n- Finance\n", "tags:\n- Finance\n- Confidential\n");
    assert_ne!(confidential, orders);
    admin
        .put_entity(put(EntityKind::DataSource, &confidential))
        .await
        .unwrap();
    admin.put_entity(put(EntityKind::Policy, "{name: confidential-readers, kind: subscription, on: {tags: [Confidential]}, allow: {groups: [finance]}}")).await.unwrap();
    let version = server.state.current().version.max(version);
    let message = refused(&mut owner, put(EntityKind::DataSource, &orders)).await;
    assert!(message.contains("may not remove tag `Confidential` from data source `sales.orders`: policy `confidential-readers` targets it"), "{message}");

    let status = owner
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::DataSource as i32,
            name: "sales.customers".into(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("may not delete data source `sales.customers`: policy `"),
        "{}",
        status.message()
    );

    let mut governor = server.admin("governor-token-000").await;
    let status = governor
        .put_entity(put(EntityKind::Settings, "{mask_key: k2}"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("governors change policies, purposes and projects"),
        "{}",
        status.message()
    );

    // Nothing refused was stored.
    assert_eq!(server.state.current().version, version);
    let exported = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    assert!(
        !exported.contains("sales.leak")
            && !exported.contains("sales.copy")
            && !exported.contains("tpch.sf1")
    );

    // Within the owner's authority: a new data source over a table it owns, a tag added, a
    // description, and deleting a data source no mask or row filter reaches.
    owner.put_entity(put(EntityKind::DataSource, "{name: sales.lines, table: tpch.tiny.lineitem, columns: [{name: orderkey, type: bigint}]}")).await.unwrap();
    owner
        .put_entity(put(
            EntityKind::DataSource,
            &confidential.replace("- Confidential\n", "- Confidential\n- Orders\n"),
        ))
        .await
        .unwrap();
    owner
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::DataSource as i32,
            name: "sales.lines".into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let summary = admin
        .put_entity(put(EntityKind::Settings, "{mask_key: k2}"))
        .await
        .unwrap()
        .into_inner();
    assert!(summary.affects_everything);
    let view = server
        .decisions("plugin-token-000000")
        .await
        .get_view_definition(view_request("alice", "", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        view.sql
            .contains("\"veil\".\"system\".\"hash\"('k2', CAST(\"name\" AS varchar))"),
        "{}",
        view.sql
    );
}
