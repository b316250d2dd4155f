//! The fast lane for single users (`PutEntity` and `DeleteEntity` of a user): what a user sees
//! follows each edit at once, refusals are the whole bundle's, and a restart loads exactly the
//! estate the edits left, in the same order, even after a whole-bundle change in between.

use tonic::Code;
use veil_proto::v1::{
    DeleteEntityRequest, EntityKind, ExportBundleRequest, GetViewDefinitionRequest,
};

use crate::harness::{Server, example_bundle, identity, put, sqlite_url};

const ADMIN: &str = "admin-token-0000000";
const PLUGIN: &str = "plugin-token-000000";

fn remove(name: &str) -> DeleteEntityRequest {
    DeleteEntityRequest {
        kind: EntityKind::User as i32,
        name: name.into(),
        dry_run: false,
    }
}

#[tokio::test]
async fn single_user_edits_take_effect_at_once_and_survive_a_restart() {
    let url = sqlite_url("user-edits");
    let server = Server::on_store(&url).await;
    let mut admin = server.admin(ADMIN).await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut plugin = server.decisions(PLUGIN).await;
    let view = |user: &str| GetViewDefinitionRequest {
        identity: identity(user, &[], ""),
        schema: "sales".into(),
        table: "customers".into(),
    };
    assert_eq!(
        plugin
            .get_view_definition(view("zoe"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let added = admin
        .put_entity(put(EntityKind::User, "{name: zoe, groups: [analysts]}"))
        .await
        .unwrap()
        .into_inner();
    assert!(added.applied);
    plugin.get_view_definition(view("zoe")).await.unwrap();
    admin
        .put_entity(put(EntityKind::User, "{name: zoe, groups: [nobody]}"))
        .await
        .unwrap();
    assert_eq!(
        plugin
            .get_view_definition(view("zoe"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // Unchanged: nothing committed.
    let same = admin
        .put_entity(put(EntityKind::User, "{name: zoe, groups: [nobody]}"))
        .await
        .unwrap()
        .into_inner();
    assert!(!same.applied);
    // A user a project names cannot go; one nobody names can; an unknown one is not found.
    let exported = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    let referenced = veil_policy::Bundle::from_yaml(&exported)
        .unwrap()
        .projects
        .iter()
        .flat_map(|project| project.members.clone())
        .next()
        .expect("the example has a project with members");
    let refused = admin.delete_entity(remove(&referenced)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains(&format!("unknown user `{referenced}`")),
        "{refused:?}"
    );
    assert_eq!(
        admin
            .delete_entity(remove("nobody-at-all"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    admin
        .put_entity(put(EntityKind::User, "{name: yan, groups: [analysts]}"))
        .await
        .unwrap();
    admin.delete_entity(remove("zoe")).await.unwrap();
    // A whole-bundle change after single ones, then more single ones.
    let mut file = veil_policy::Bundle::from_yaml(
        &admin
            .export_bundle(ExportBundleRequest {})
            .await
            .unwrap()
            .into_inner()
            .yaml,
    )
    .unwrap();
    file.users.insert(
        0,
        veil_policy::UserSpec {
            name: "first".into(),
            ..Default::default()
        },
    );
    admin
        .apply_bundle(veil_proto::v1::ApplyBundleRequest {
            yaml: file.to_yaml(),
            dry_run: false,
        })
        .await
        .unwrap();
    admin.delete_entity(remove("first")).await.unwrap();
    admin
        .put_entity(put(EntityKind::User, "{name: xia, groups: [analysts]}"))
        .await
        .unwrap();
    let before = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    server.stop().await;

    let server = Server::on_store(&url).await;
    let mut admin = server.admin(ADMIN).await;
    let after = admin
        .export_bundle(ExportBundleRequest {})
        .await
        .unwrap()
        .into_inner()
        .yaml;
    assert_eq!(after, before);
    let mut plugin = server.decisions(PLUGIN).await;
    plugin.get_view_definition(view("yan")).await.unwrap();
    plugin.get_view_definition(view("xia")).await.unwrap();
    server.stop().await;
}
