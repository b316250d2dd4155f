//! SCIM provisioning driven by a real third-party SCIM client, scim2-client (Python), over
//! HTTPS on loopback, step by step as an identity provider provisions: after each step the
//! plugin's `GetViewDefinition` answers by the change. The client runs from a virtual
//! environment under `~/.cache/veil/scim-venv`, made on first use from `tests/scim/requirements.txt`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tonic::Code;
use veil_proto::v1::ApplyBundleRequest;
use veil_server::State;
use veil_server::scim::{Mapping, Scim, serve_scim, tls_config};

use crate::harness::{Server, scratch_directory, sqlite_url, tokens, view_request};
use crate::tls::{Authority, write};

/// One data source that members of `analysts` see, and nobody else.
pub const POLICY: &str = "
data_sources:
  - {name: hr.people, table: tpch.tiny.customer, columns: [{name: name, type: varchar(25)}]}
policies:
  - {name: analysts-see-people, kind: subscription, on: {data_sources: [hr.people]}, allow: {groups: [analysts]}}
";

pub const SCIM_TOKEN: &str = "scim-token-000000000";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtual environment with the pinned client, made (once per requirements) on demand.
fn python() -> PathBuf {
    let requirements = repository().join("tests/scim/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let home = std::env::var_os("HOME").expect("HOME is set");
    let venv = Path::new(&home).join(".cache/veil/scim-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("veil-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let run = |command: &mut std::process::Command| {
        let output = command.output().expect("python3 runs");
        assert!(
            output.status.success(),
            "{command:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(std::process::Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv));
    run(std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements));
    std::fs::write(&marker, wanted).unwrap();
    python
}

/// A SCIM listener on loopback over the server's state, with TLS from a new authority when
/// `tls` is given (its CA file is returned); its base URL.
pub async fn start_scim(state: Arc<State>, tls: Option<&Path>) -> (String, Option<PathBuf>) {
    let (config, ca) = match tls {
        Some(directory) => {
            let authority = Authority::new("veil scim test CA");
            let (certificate, key) = authority.issue(&["localhost"]);
            let config = tls_config(
                &write(directory, "scim.pem", &certificate),
                &write(directory, "scim.key", &key),
            )
            .unwrap();
            (
                Some(config),
                Some(write(directory, "ca.pem", &authority.pem())),
            )
        }
        None => (None, None),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if config.is_some() { "https" } else { "http" };
    let host = if config.is_some() {
        "localhost"
    } else {
        "127.0.0.1"
    };
    let scim = Scim {
        state,
        authenticator: tokens(),
        mapping: Arc::new(Mapping::default_mapping()),
        scheme,
    };
    tokio::spawn(serve_scim(listener, scim, config, std::future::pending()));
    (format!("{scheme}://{host}:{port}/scim/v2"), ca)
}

struct Client {
    python: PathBuf,
    base: String,
    ca: PathBuf,
}

impl Client {
    /// Runs one step of `tests/scim/client.py`; its JSON answer.
    async fn step(&self, step: &str, arguments: &[&str]) -> Value {
        let output = tokio::process::Command::new(&self.python)
            .arg(repository().join("tests/scim/client.py"))
            .args([&self.base, SCIM_TOKEN])
            .arg(&self.ca)
            .arg(step)
            .args(arguments)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "step {step} {arguments:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// Whether the plugin gets a view of `hr.people` for `user`.
async fn sees(server: &Server, user: &str) -> bool {
    let mut decisions = server.decisions("plugin-token-000000").await;
    match decisions
        .get_view_definition(view_request(user, "", "hr", "people"))
        .await
    {
        Ok(_) => true,
        Err(status) if status.code() == Code::NotFound => false,
        Err(status) => panic!("{status}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_provider_provisions_access() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let server = Server::on_store(&sqlite_url("scim")).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin
        .apply_bundle(ApplyBundleRequest {
            yaml: POLICY.into(),
            dry_run: false,
        })
        .await
        .unwrap();
    let directory = scratch_directory("scim-tls");
    let (base, ca) = start_scim(Arc::clone(&server.state), Some(&directory)).await;
    let client = Client {
        python,
        base,
        ca: ca.unwrap(),
    };
    let bundle = || server.state.current().compiler.estate().to_file();

    let created = client
        .step("create-user", &["alice", "alice@example.com", "Sales"])
        .await;
    let alice = created["id"].as_str().unwrap().to_owned();
    assert!(!sees(&server, "alice").await, "alice is in no group yet");
    let stored = bundle()
        .users
        .into_iter()
        .find(|user| user.name == "alice")
        .unwrap();
    assert_eq!(stored.attributes["email"], ["alice@example.com"]);
    assert_eq!(stored.attributes["department"], ["Sales"]);
    assert_eq!(stored.scim.unwrap().id, alice);

    let found = client.step("find-user", &["ALICE"]).await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["ids"][0], alice.as_str());
    client
        .step("create-user", &["bob", "bob@other.org", "Ops"])
        .await;
    let page = client
        .step(
            "find-users",
            &[
                r#"emails.value co "@" and not (userName eq "carol")"#,
                "2",
                "1",
            ],
        )
        .await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["start"], 2, "{page}");
    assert_eq!(page["names"], serde_json::json!(["bob"]), "{page}");

    let group = client.step("create-group", &["analysts"]).await;
    let analysts = group["id"].as_str().unwrap().to_owned();
    assert!(bundle().groups.iter().any(|group| group.name == "analysts"));
    assert!(
        !sees(&server, "alice").await,
        "the group has no members yet"
    );

    client.step("add-member", &[&analysts, &alice]).await;
    assert!(sees(&server, "alice").await, "alice joined analysts");
    assert!(!sees(&server, "bob").await);
    let read = client.step("get-user", &[&alice]).await;
    assert_eq!(read["groups"], serde_json::json!(["analysts"]), "{read}");
    assert_eq!(read["department"], "Sales");

    client.step("remove-member", &[&analysts, &alice]).await;
    assert!(!sees(&server, "alice").await, "alice left analysts");

    client.step("add-member", &[&analysts, &alice]).await;
    assert!(sees(&server, "alice").await);
    client.step("set-active", &[&alice, "false"]).await;
    assert!(
        !sees(&server, "alice").await,
        "deactivated, alice sees nothing though still in analysts"
    );
    let read = client.step("get-user", &[&alice]).await;
    assert_eq!(read["active"], false, "{read}");
    assert_eq!(read["groups"], serde_json::json!(["analysts"]), "{read}");
    client.step("set-active", &[&alice, "true"]).await;
    assert!(sees(&server, "alice").await, "reactivated");

    client.step("delete-user", &[&alice]).await;
    assert!(!sees(&server, "alice").await, "deleted");
    assert_eq!(client.step("find-user", &["alice"]).await["total"], 0);

    // Malformed requests: SCIM errors that say what and where, and nothing changed.
    let before = bundle();
    let version = server.state.current().version;
    for (what, scim_type, detail) in [
        (
            "filter",
            "invalidFilter",
            "expected a value at character 11 of `userName eq`",
        ),
        ("json", "invalidSyntax", "malformed JSON"),
        ("attribute", "invalidValue", "unknown attribute `shoeSize`"),
    ] {
        let error = client.step("malformed", &[what]).await;
        assert_eq!(error["http"], 400, "{error}");
        assert_eq!(error["status"], "400", "{error}");
        assert_eq!(error["scimType"], scim_type, "{error}");
        assert!(
            error["detail"].as_str().unwrap().contains(detail),
            "{error}"
        );
    }
    assert_eq!(bundle(), before);
    assert_eq!(server.state.current().version, version);

    // Every change is in the history, by the scim token's caller.
    let history = admin
        .list_changes(veil_proto::v1::ListChangesRequest {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let by_okta = history
        .changes
        .iter()
        .filter(|entry| entry.caller == "okta")
        .count();
    assert!(by_okta >= 8, "{by_okta} changes by okta");

    // The scim token has no gRPC access.
    let mut scim_admin = server.admin(SCIM_TOKEN).await;
    let status = scim_admin
        .export_bundle(veil_proto::v1::ExportBundleRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut scim_decisions = server.decisions(SCIM_TOKEN).await;
    let status = scim_decisions
        .get_view_definition(view_request("alice", "", "hr", "people"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    server.stop().await;
}
