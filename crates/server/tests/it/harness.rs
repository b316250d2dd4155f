//! The one way the integration tests start a Veil server in-process, and what they share: the
//! example estate, the tokens, bearer-token clients, request builders and scratch stores.
//!
//! A [`Setup`] says what kind of server: its state ([`Backing`]: the example compiled in memory,
//! or a real store), its [`Authenticator`] (none, or [`tokens`]) and whether it speaks TLS.
//! [`Server::in_memory`] and [`Server::on_store`] are the two common shapes.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tonic::transport::{Channel, ServerTlsConfig};
use veil_compiler::Compiler;
use veil_proto::v1::policy_admin_client::PolicyAdminClient;
use veil_proto::v1::policy_decision_client::PolicyDecisionClient;
use veil_proto::v1::{
    ApplyBundleRequest, EntityKind, GetViewDefinitionRequest, Identity, PutEntityRequest,
};
use veil_server::{Authenticator, Settings, State, Webhooks};

/// The example estate, as a policy file.
pub const EXAMPLE: &str = include_str!("../../../../examples/tpch.yaml");

/// The functions catalog of an in-memory server: not the default `veil`, so that answers show
/// the configured catalog is used. A store-backed server uses `veil`.
pub const FUNCTIONS_CATALOG: &str = "governed";

/// One token per role.
const AUTH: &str = "tokens:
  - {name: trino, role: plugin, token: plugin-token-000000}
  - {name: ops, role: admin, token: admin-token-0000000}
  - {name: gov, role: governor, token: governor-token-000}
  - {name: sales-owner, role: owner, token: owner-token-0000000, data_sources: ['sales.*']}
  - {name: audit, role: auditor, token: auditor-token-00000}
  - {name: okta, role: scim, token: scim-token-000000000}
  - {name: crm-owner, role: owner, token: crm-owner-token-000, data_sources: ['sales.*'], tables: ['tpch.tiny.customer', 'tpch.tiny.orders', 'tpch.tiny.lineitem']}
";

/// The authenticator knowing one token per role (see `AUTH`).
pub fn tokens() -> Authenticator {
    Authenticator::from_yaml(AUTH).unwrap()
}

/// The example estate compiled with [`FUNCTIONS_CATALOG`].
pub fn example() -> Compiler {
    Compiler::from_yaml(EXAMPLE, FUNCTIONS_CATALOG).unwrap()
}

/// Where a server's state comes from.
pub enum Backing<'a> {
    /// The example estate in memory at version 1: no store, so no history or audit.
    Memory(Settings),
    /// The store at this URL (SQLite or PostgreSQL), opened as `veil serve` opens it.
    Store(&'a str),
    /// The same, with these settings.
    StoreWith(&'a str, Settings),
}

/// What kind of server to start.
pub struct Setup<'a> {
    pub backing: Backing<'a>,
    pub authenticator: Authenticator,
    pub tls: Option<ServerTlsConfig>,
}

/// A server serving on a loopback port until [`Server::stop`] (or until dropped).
pub struct Server {
    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS.
    pub address: String,
    pub state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Opens the store at `url` with default settings, the `veil` functions catalog and `webhooks`.
pub async fn open_store(url: &str, webhooks: Webhooks) -> Arc<State> {
    veil_server::open(url, Settings::default(), "veil".into(), webhooks)
        .await
        .unwrap()
}

impl Server {
    pub async fn start(setup: Setup<'_>) -> Server {
        let state = match setup.backing {
            Backing::Memory(settings) => Arc::new(State::new(example(), settings, 1)),
            Backing::Store(url) => open_store(url, Webhooks::none()).await,
            Backing::StoreWith(url, settings) => {
                veil_server::open(url, settings, "veil".into(), Webhooks::none())
                    .await
                    .unwrap()
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let address = match setup.tls {
            Some(_) => format!("https://localhost:{}", local.port()),
            None => format!("http://{local}"),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(veil_server::serve(
            listener,
            Arc::clone(&state),
            setup.authenticator,
            setup.tls,
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

    /// The example in memory with `settings`, no tokens, no TLS.
    pub async fn in_memory(settings: Settings) -> Server {
        Server::start(Setup {
            backing: Backing::Memory(settings),
            authenticator: Authenticator::disabled(),
            tls: None,
        })
        .await
    }

    /// The store at `url`, with [`tokens`], no TLS.
    pub async fn on_store(url: &str) -> Server {
        Server::start(Setup {
            backing: Backing::Store(url),
            authenticator: tokens(),
            tls: None,
        })
        .await
    }

    /// A new plaintext connection.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.address.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A PolicyDecision client sending no token.
    pub async fn anonymous_decisions(&self) -> PolicyDecisionClient<Channel> {
        PolicyDecisionClient::new(self.channel().await)
    }

    pub async fn decisions(&self, token: &str) -> PolicyDecisionClient<WithToken> {
        PolicyDecisionClient::with_interceptor(self.channel().await, bearer(token))
    }

    pub async fn admin(&self, token: &str) -> PolicyAdminClient<WithToken> {
        PolicyAdminClient::with_interceptor(self.channel().await, bearer(token))
    }

    /// Stops the server and waits until it has stopped cleanly.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub type Bearer =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
pub type WithToken = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// Sends `authorization: Bearer <token>` with every call.
pub fn bearer(token: &str) -> Bearer {
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", header.clone());
        Ok(request)
    })
}

pub fn identity(user: &str, groups: &[&str], project: &str) -> Option<Identity> {
    Some(Identity {
        user: user.to_owned(),
        groups: groups.iter().map(|group| group.to_string()).collect(),
        project: project.to_owned(),
        query_id: String::new(),
    })
}

/// `user` (in no groups) asking for `schema.table` under `project`.
pub fn view_request(
    user: &str,
    project: &str,
    schema: &str,
    table: &str,
) -> GetViewDefinitionRequest {
    GetViewDefinitionRequest {
        identity: identity(user, &[], project),
        schema: schema.to_owned(),
        table: table.to_owned(),
    }
}

/// The example estate as a whole bundle.
pub fn example_bundle(dry_run: bool) -> ApplyBundleRequest {
    ApplyBundleRequest {
        yaml: EXAMPLE.into(),
        dry_run,
    }
}

pub fn put(kind: EntityKind, yaml: &str) -> PutEntityRequest {
    PutEntityRequest {
        kind: kind as i32,
        yaml: yaml.into(),
        dry_run: false,
    }
}

/// An empty directory of this test process, named `name`, under the system's temporary one.
pub fn scratch_directory(name: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("veil-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

/// A fresh SQLite store of this test process, named `name`.
pub fn sqlite_url(name: &str) -> String {
    format!(
        "sqlite://{}",
        scratch_directory(name).join("veil.db").display()
    )
}
