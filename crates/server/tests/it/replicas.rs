//! Replicas sharing one PostgreSQL hear each other's changes within a second. Needs
//! `VEIL_TEST_POSTGRES_URL` (`cargo xtask test` starts PostgreSQL and sets it).

use std::time::{Duration, Instant};

use veil_proto::v1::{DeleteEntityRequest, EntityKind, WatchChangesRequest};

use crate::harness::{Server, example_bundle, view_request};

#[tokio::test]
async fn replicas_on_one_postgres_converge_within_a_second() {
    let base = std::env::var("VEIL_TEST_POSTGRES_URL")
        .expect("VEIL_TEST_POSTGRES_URL is not set: run the tests with `cargo xtask test`, which starts PostgreSQL");
    let database = format!("veil_replicas_{}", std::process::id());
    let store = veil_store::Store::open(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {database} TEMPLATE template0"))
        .execute(store.pool())
        .await
        .unwrap();
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let first = Server::on_store(&url).await;
    let second = Server::on_store(&url).await;
    let mut watcher = second.decisions("plugin-token-000000").await;
    let mut events = watcher
        .watch_changes(WatchChangesRequest { since_version: 0 })
        .await
        .unwrap()
        .into_inner();

    let mut admin = first.admin("admin-token-0000000").await;
    let started = Instant::now();
    let applied = admin
        .apply_bundle(example_bundle(false))
        .await
        .unwrap()
        .into_inner();
    let event = tokio::time::timeout(Duration::from_secs(1), events.message())
        .await
        .expect("the other replica heard within a second")
        .unwrap()
        .unwrap();
    assert_eq!(event.policy_version, applied.policy_version);
    assert!(event.data_sources.contains(&"sales.customers".to_string()));
    println!("replica converged in {:?}", started.elapsed());
    let answer = watcher
        .get_view_definition(view_request("alice", "", "sales", "customers"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.policy_version, applied.policy_version);
    assert_eq!(second.state.current().version, applied.policy_version);

    // And back the other way, one entity.
    let mut other_admin = second.admin("admin-token-0000000").await;
    let summary = other_admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::User as i32,
            name: "dave".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(1);
    while first.state.current().version != summary.policy_version {
        assert!(
            Instant::now() < deadline,
            "the first replica did not converge within a second"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Single user edits are followed from their history rows, mixed with a whole change: the
    // replicas end with the same estate, in the same order, as the store holds it.
    let put = |yaml: &str| crate::harness::put(EntityKind::User, yaml);
    admin
        .put_entity(put("{name: zed, groups: [analysts]}"))
        .await
        .unwrap();
    other_admin
        .put_entity(put("{name: alice, groups: [nobody]}"))
        .await
        .unwrap();
    // Every write catches up with the store first: a client that writes on one replica and
    // then on the other never sees a conflict, however fast it alternates.
    for round in 0..10 {
        admin
            .put_entity(put(&format!("{{name: a{round}, groups: [analysts]}}")))
            .await
            .unwrap();
        other_admin
            .put_entity(put(&format!("{{name: b{round}, groups: [analysts]}}")))
            .await
            .unwrap();
    }
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let yan = admin
        .put_entity(put(
            "{name: yan, groups: [analysts], attributes: {region: [EU]}}",
        ))
        .await
        .unwrap()
        .into_inner();
    // A replica edits what it has heard of: wait for yan before removing it on the other.
    let deadline = Instant::now() + Duration::from_secs(2);
    while second.state.current().version < yan.policy_version {
        assert!(
            Instant::now() < deadline,
            "the second replica did not hear of yan"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = other_admin
        .delete_entity(DeleteEntityRequest {
            kind: EntityKind::User as i32,
            name: "yan".into(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(2);
    while first.state.current().version != last.policy_version
        || second.state.current().version != last.policy_version
    {
        assert!(Instant::now() < deadline, "the replicas did not converge");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Single policy and data source edits are followed from their history rows too: the
    // replica edits its estate, sharing what the edit leaves alone, rather than reloading.
    let heard = second.state.current();
    let policy = admin
        .put_entity(crate::harness::put(
            EntityKind::Policy,
            "{name: nations-filter, kind: row_filter, on: {data_sources: [hr.nations]}, where: \"regionkey > 0\"}",
        ))
        .await
        .unwrap()
        .into_inner();
    let source = admin
        .put_entity(crate::harness::put(
            EntityKind::DataSource,
            "{name: hr.regions, table: tpch.tiny.region, columns: [{name: regionkey, type: bigint}]}",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(source.policy_version > policy.policy_version);
    let deadline = Instant::now() + Duration::from_secs(2);
    while second.state.current().version != source.policy_version {
        assert!(
            Instant::now() < deadline,
            "the second replica did not follow"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let followed = second.state.current();
    let (before, after) = (heard.compiler.estate(), followed.compiler.estate());
    assert!(
        std::sync::Arc::ptr_eq(&before.data_sources[0], &after.data_sources[0]),
        "the replica reloaded instead of following the edits"
    );
    assert!(after.data_source_id("hr", "regions").is_some());
    let export = |server: &Server| server.state.current().compiler.estate().to_file();
    let (_, stored) = veil_store::Store::open(&url)
        .await
        .unwrap()
        .load()
        .await
        .unwrap();
    assert_eq!(export(&first), stored);
    assert_eq!(export(&second), stored);
    drop(events);
    first.stop().await;
    second.stop().await;
}
