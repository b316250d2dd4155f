//! The decision audit: every answer recorded, cached ones too, and none lost when the server
//! stops.

use std::time::{Duration, Instant};

use veil_proto::v1::ListDecisionsRequest;

use crate::harness::{Server, example_bundle, sqlite_url, view_request};

#[tokio::test]
async fn every_answer_is_audited() {
    let server = Server::on_store(&sqlite_url("audit")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut decisions = server.decisions("plugin-token-000000").await;
    // Alice twice: the second answer comes from the view cache and is recorded alike.
    for _ in 0..2 {
        decisions
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap();
    }
    decisions
        .get_view_definition(view_request("dave", "", "sales", "customers"))
        .await
        .unwrap_err();
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let records = admin
            .list_decisions(ListDecisionsRequest {
                limit: 10,
                user: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        if records.records.len() == 3 || Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(records.records.len(), 3);
    assert_eq!(records.dropped, 0);
    let dave = records
        .records
        .iter()
        .find(|record| record.user == "dave")
        .unwrap();
    assert!(!dave.allowed);
    for alice in records
        .records
        .iter()
        .filter(|record| record.user == "alice")
    {
        assert!(alice.allowed);
        assert!(
            alice.policies.contains(&"own-region".to_string()),
            "{:?}",
            alice.policies
        );
        assert_eq!(alice.data_source, "sales.customers");
    }
    server.stop().await;
}

/// Stopping the server writes every answer still queued for the audit.
#[tokio::test]
async fn a_stop_writes_the_queued_audit() {
    let url = sqlite_url("audit-stop");
    let server = Server::on_store(&url).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut decisions = server.decisions("plugin-token-000000").await;
    let answers = 300;
    for _ in 0..answers {
        decisions
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap();
    }
    // No pause: the last answers are still queued when the stop comes.
    server.stop().await;
    let store = veil_store::Store::open(&url).await.unwrap();
    let recorded = store.decisions(10_000, Some("alice")).await.unwrap();
    assert_eq!(recorded.len(), answers);
}
