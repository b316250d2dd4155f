//! Reveal on the query path: `AuthorizeReveal` answers by the policy's `reveal` condition and
//! is audited before it answers; `RecordReveals` counts; `ListReveals` sums them for auditors.

use tonic::Code;
use veil_proto::v1::{
    ApplyBundleRequest, AuthorizeRevealRequest, ExplainRequest, ListRevealsRequest,
    RecordRevealsRequest, RevealCount,
};
use veil_server::Settings;

use crate::harness::{Server, identity, sqlite_url};

const PLUGIN: &str = "plugin-token-000000";
const ADMIN: &str = "admin-token-0000000";
const AUDITOR: &str = "auditor-token-00000";

const BUNDLE: &str = r#"
data_sources:
  - name: crm.customers
    table: memory.crm.customers
    columns:
      - {name: id, type: bigint}
      - {name: email, type: varchar}
      - {name: phone, type: varchar}
users:
  - {name: sam, groups: [support]}
  - {name: ana, groups: [analysts]}
policies:
  - {name: see, kind: subscription, on: {data_sources: [crm.customers]}, allow: {groups: [support, analysts]}}
  - {name: email-token, kind: mask, on: {data_sources: [crm.customers], columns: [email]}, method: reversible, reveal: {groups: [support]}}
  - {name: phone-hash, kind: mask, on: {data_sources: [crm.customers], columns: [phone]}, method: hash}
"#;

fn ask(user: &str, query: &str, data_source: &str, column: &str) -> AuthorizeRevealRequest {
    let mut identity = identity(user, &[], "");
    identity.as_mut().unwrap().query_id = query.into();
    AuthorizeRevealRequest {
        identity,
        data_source: data_source.into(),
        column: column.into(),
    }
}

fn count(query: &str, node: &str, values: u64) -> RevealCount {
    RevealCount {
        query_id: query.into(),
        user: "sam".into(),
        data_source: "crm.customers".into(),
        column: "email".into(),
        policy: "email-token".into(),
        node: node.into(),
        values,
    }
}

#[tokio::test]
async fn reveals_are_allowed_by_the_policy_refused_otherwise_and_audited() {
    let server = Server::on_store(&sqlite_url("reveal")).await;
    let mut admin = server.admin(ADMIN).await;
    admin
        .apply_bundle(ApplyBundleRequest {
            yaml: BUNDLE.into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let mut plugin = server.decisions(PLUGIN).await;

    // Support may reveal emails, by data source name or by backing table.
    for name in ["crm.customers", "memory.crm.customers"] {
        let answer = plugin
            .authorize_reveal(ask("sam", "q1", name, "email"))
            .await
            .unwrap()
            .into_inner();
        assert!(answer.allowed, "{name}: {answer:?}");
        assert_eq!(answer.policy, "email-token");
        assert_eq!(answer.data_source, "crm.customers");
    }
    // Everyone else is refused, with a reason that leaks nothing the user may not see.
    let refusals = [
        (
            ask("ana", "q2", "crm.customers", "email"),
            "policy `email-token` does not grant you reveal",
        ),
        (
            ask("sam", "q3", "crm.customers", "phone"),
            "no reversible mask applies to you on column `phone` of `crm.customers`",
        ),
        (
            ask("sam", "q4", "crm.customers", "nope"),
            "data source `crm.customers` has no column `nope`",
        ),
        (
            ask("eve", "q5", "crm.customers", "email"),
            "no data source `crm.customers` exists",
        ),
        (
            ask("sam", "q6", "crm.nothing", "email"),
            "no data source `crm.nothing` exists",
        ),
    ];
    for (request, reason) in refusals {
        let answer = plugin.authorize_reveal(request).await.unwrap().into_inner();
        assert!(!answer.allowed, "{answer:?}");
        assert_eq!(answer.reason, reason);
        assert!(answer.policy.is_empty());
    }
    // Malformed requests change nothing.
    let status = plugin
        .authorize_reveal(ask("sam", "q7", "", "email"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Two nodes report counts, one twice; a malformed batch is refused whole.
    let bad = plugin
        .record_reveals(RecordRevealsRequest {
            reveals: vec![count("q1", "worker-1", 3), count("q1", "", 4)],
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().contains("reveal count 1") && bad.message().contains("`node`"),
        "{bad:?}"
    );
    let recorded = plugin
        .record_reveals(RecordRevealsRequest {
            reveals: vec![count("q1", "worker-1", 600), count("q1", "worker-2", 400)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.recorded, 2);
    plugin
        .record_reveals(RecordRevealsRequest {
            reveals: vec![count("q1", "worker-1", 24)],
        })
        .await
        .unwrap();

    // Auditors see who revealed what, and the refusals; plugins may not read the audit.
    let mut auditor = server.admin(AUDITOR).await;
    let reveals = auditor
        .list_reveals(ListRevealsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .reveals;
    let q1 = reveals.iter().find(|r| r.query_id == "q1").unwrap();
    assert!(q1.allowed);
    assert_eq!((q1.values, q1.nodes), (1024, 2), "{q1:?}");
    assert_eq!(
        (q1.user.as_str(), q1.column.as_str(), q1.policy.as_str()),
        ("sam", "email", "email-token")
    );
    let refused: Vec<(&str, &str)> = reveals
        .iter()
        .filter(|r| !r.allowed)
        .map(|r| (r.query_id.as_str(), r.user.as_str()))
        .collect();
    assert_eq!(refused.len(), 5, "{reveals:?}");
    assert!(refused.contains(&("q5", "eve")));
    let ana = auditor
        .list_reveals(ListRevealsRequest {
            user: "ana".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reveals;
    assert_eq!(ana.len(), 1);
    assert_eq!(
        ana[0].reason,
        "policy `email-token` does not grant you reveal"
    );
    // `explain` says who the reversible mask grants reveal.
    for (user, granted) in [("sam", true), ("ana", false)] {
        let explained = auditor
            .explain(ExplainRequest {
                identity: identity(user, &[], ""),
                schema: "crm".into(),
                table: "customers".into(),
                as_of_version: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let email = explained
            .columns
            .iter()
            .find(|c| c.column == "email")
            .unwrap();
        assert_eq!(
            (email.method.as_str(), email.reveal),
            ("reversible", granted),
            "{user}"
        );
        let phone = explained
            .columns
            .iter()
            .find(|c| c.column == "phone")
            .unwrap();
        assert!(!phone.reveal);
        let line = if granted {
            "reveal: granted to this user"
        } else {
            "reveal: not granted to this user"
        };
        assert!(explained.text.contains(line), "{user}: {}", explained.text);
    }
    let mut impostor = server.admin(PLUGIN).await;
    assert!(
        impostor
            .list_reveals(ListRevealsRequest::default())
            .await
            .is_err()
    );
    server.stop().await;
}

/// No store, no audit: no reveal.
#[tokio::test]
async fn a_server_without_an_audit_allows_no_reveal() {
    let server = Server::in_memory(Settings::default()).await;
    let mut plugin = server.anonymous_decisions().await;
    let status = plugin
        .authorize_reveal(ask("alice", "q1", "sales.customers", "phone"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("no reveal"), "{status:?}");
    server.stop().await;
}
