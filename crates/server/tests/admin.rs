//! PolicyAdmin over real gRPC on loopback, with a real store: the validated write path, roles,
//! change events, the audit, restarts, and replicas sharing one PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;
use veil_proto::v1::policy_admin_client::PolicyAdminClient;
use veil_proto::v1::policy_decision_client::PolicyDecisionClient;
use veil_proto::v1::{
    ApplyBundleRequest, DeleteEntityRequest, EntityKind, ExplainRequest, ExportBundleRequest,
    GetEntityRequest, GetViewDefinitionRequest, Identity, ListChangesRequest, ListDecisionsRequest,
    PutEntityRequest, WatchChangesRequest,
};
use veil_server::auth::Caller;
use veil_server::{Authenticator, Settings, State, Webhooks};

const EXAMPLE: &str = include_str!("../../../examples/tpch.yaml");
const AUTH: &str = "tokens:
  - {name: trino, role: plugin, token: plugin-token-000000}
  - {name: ops, role: admin, token: admin-token-0000000}
  - {name: gov, role: governor, token: governor-token-000}
  - {name: sales-owner, role: owner, token: owner-token-0000000, data_sources: ['sales.*']}
  - {name: audit, role: auditor, token: auditor-token-00000}
  - {name: crm-owner, role: owner, token: crm-owner-token-000, data_sources: ['sales.*'], tables: ['tpch.tiny.customer', 'tpch.tiny.orders', 'tpch.tiny.lineitem']}
";

struct Server {
    address: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(store_url: &str) -> Server {
        let state = veil_server::open(
            store_url,
            Settings::default(),
            "veil".into(),
            Webhooks::none(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let authenticator = Authenticator::from_yaml(AUTH).unwrap();
        let task = tokio::spawn(veil_server::serve(
            listener,
            Arc::clone(&state),
            authenticator,
            None,
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            address,
            state,
            stop: Some(stop),
            task,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.address.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn admin(&self, token: &str) -> PolicyAdminClient<WithToken> {
        PolicyAdminClient::with_interceptor(self.channel().await, bearer(token))
    }

    async fn decisions(&self, token: &str) -> PolicyDecisionClient<WithToken> {
        PolicyDecisionClient::with_interceptor(self.channel().await, bearer(token))
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

type Bearer =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
type WithToken = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// Sends `authorization: Bearer <token>` with every call.
fn bearer(token: &str) -> Bearer {
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", header.clone());
        Ok(request)
    })
}

/// The example estate as a whole bundle.
fn example_bundle(dry_run: bool) -> ApplyBundleRequest {
    ApplyBundleRequest {
        yaml: EXAMPLE.into(),
        dry_run,
    }
}

fn sqlite_url(name: &str) -> String {
    let directory = std::env::temp_dir().join(format!("veil-admin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    format!("sqlite://{}", directory.join("veil.db").display())
}

fn view(user: &str, table: &str) -> GetViewDefinitionRequest {
    GetViewDefinitionRequest {
        identity: Some(Identity {
            user: user.into(),
            groups: vec![],
            project: String::new(),
        }),
        schema: "sales".into(),
        table: table.into(),
    }
}

#[tokio::test]
async fn bundles_apply_atomically_with_a_dry_run_and_survive_a_restart() {
    let url = sqlite_url("apply");
    let server = Server::start(&url).await;
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
            .get_view_definition(view("alice", "customers"))
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
        .get_view_definition(view("alice", "customers"))
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
    let restarted = Server::start(&url).await;
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
    let server = Server::start(&sqlite_url("entities")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();

    let put = |kind: EntityKind, yaml: &str| PutEntityRequest {
        kind: kind as i32,
        yaml: yaml.into(),
        dry_run: false,
    };
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
            identity: view("bob", "orders").identity,
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
    let server = Server::start(&sqlite_url("tokens")).await;
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
    let mut anonymous = PolicyDecisionClient::new(server.channel().await);
    assert_eq!(
        anonymous
            .get_view_definition(view("alice", "customers"))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    let mut governor_on_query_path = server.decisions("governor-token-000").await;
    assert_eq!(
        governor_on_query_path
            .get_view_definition(view("alice", "customers"))
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
async fn every_answer_is_audited() {
    let server = Server::start(&sqlite_url("audit")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut decisions = server.decisions("plugin-token-000000").await;
    // Alice twice: the second answer comes from the view cache and is recorded alike.
    for _ in 0..2 {
        decisions
            .get_view_definition(view("alice", "customers"))
            .await
            .unwrap();
    }
    decisions
        .get_view_definition(view("dave", "customers"))
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
    let server = Server::start(&url).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    let mut decisions = server.decisions("plugin-token-000000").await;
    let answers = 300;
    for _ in 0..answers {
        decisions
            .get_view_definition(view("alice", "customers"))
            .await
            .unwrap();
    }
    // No pause: the last answers are still queued when the stop comes.
    server.stop().await;
    let store = veil_store::Store::open(&url).await.unwrap();
    let recorded = store.decisions(10_000, Some("alice")).await.unwrap();
    assert_eq!(recorded.len(), answers);
}

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
    let first = Server::start(&url).await;
    let second = Server::start(&url).await;
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
        .get_view_definition(view("alice", "customers"))
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
    drop(events);
    first.stop().await;
    second.stop().await;
}

/// A loopback HTTP endpoint that answers 500 to the first request and 200 afterwards, and hands
/// over each request's signature header and body.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::Receiver<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let read = socket.read(&mut chunk).await.unwrap();
                buffer.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|line| {
                            line.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break (head.to_owned(), body.to_owned());
                    }
                }
                if read == 0 {
                    break (text, String::new());
                }
            };
            served += 1;
            let status = if served == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
            let signature = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .starts_with("x-veil-signature:")
                        .then(|| line.split_once(':').unwrap().1.trim().to_owned())
                })
                .unwrap_or_default();
            sender.send((signature, body)).await.unwrap();
        }
    });
    (url, receiver)
}

#[tokio::test]
async fn changes_reach_webhooks_signed_and_retried() {
    let (url, mut received) = webhook_receiver().await;
    let webhooks = Webhooks::start(vec![url], "hook-secret".into());
    let state = veil_server::open(
        &sqlite_url("webhooks"),
        Settings::default(),
        "veil".into(),
        webhooks,
    )
    .await
    .unwrap();
    let outcome = state
        .change(&Caller::operator("test".into()), false, |file| {
            *file = veil_policy::Bundle::from_yaml(EXAMPLE).unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    let (_, first_body) = tokio::time::timeout(wait, received.recv())
        .await
        .unwrap()
        .unwrap();
    let (signature, body) = tokio::time::timeout(wait, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first_body, body,
        "the failed delivery is retried with the same body"
    );
    assert_eq!(signature, veil_server::sign("hook-secret", body.as_bytes()));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["policy_version"], outcome.version);
    assert!(
        json["data_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|name| name == "sales.customers")
    );
}

#[tokio::test]
async fn a_reconnecting_watcher_catches_up_with_exactly_what_changed() {
    let server = Server::start(&sqlite_url("catch-up")).await;
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

fn put(kind: EntityKind, yaml: &str) -> PutEntityRequest {
    PutEntityRequest {
        kind: kind as i32,
        yaml: yaml.into(),
        dry_run: false,
    }
}

/// Each way an owner could widen what others see, refused with the rule named and nothing
/// stored; what stays within the owner's authority still goes through.
#[tokio::test]
async fn no_role_widens_access_beyond_its_authority() {
    let server = Server::start(&sqlite_url("authority")).await;
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

    let untagged_clerk = orders.replace(
        "- name: clerk\n  type: varchar(15)\n  tags:\n  - PII.Name\n",
        "- name: clerk\n  type: varchar(15)\n",
    );
    assert_ne!(untagged_clerk, orders);
    let message = refused(&mut owner, put(EntityKind::DataSource, &untagged_clerk)).await;
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
        .get_view_definition(view("alice", "customers"))
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

/// Who changed what and when, with each entity before and after, for auditors; and a decision
/// as the policies stood at an earlier version.
#[tokio::test]
async fn history_answers_who_changed_what_and_what_a_user_saw() {
    let server = Server::start(&sqlite_url("history")).await;
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
        identity: Some(Identity {
            user: "dave".into(),
            groups: vec![],
            project: String::new(),
        }),
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
