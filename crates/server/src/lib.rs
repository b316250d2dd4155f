//! The Veil policy decision point: the gRPC services over an immutable, swappable policy
//! snapshot, with health and reflection. Only this crate knows tonic. In the order a request
//! meets them:
//!
//! - transport: `coalesce` (the accepted socket, writes coalesced into one per read) and `auth`
//!   (bearer tokens → `Caller` and `Role`);
//! - the query path, request → identity → decision → SQL → response: `calls` (how many of
//!   each were answered), `decision_service`
//!   (`PolicyDecision`: answers, caches, the change stream), `convert` (proto ↔ model: identity,
//!   subject, answer, entity kinds, change events), `snapshot` (one policy version with its
//!   compiled views and answers), `state` (the current snapshot, settings, store, audit, change
//!   stream), `audit` (a bounded queue and a writer thread), `reveal` (`AuthorizeReveal` and
//!   `RecordReveals`: reveal decided, then audited before it is answered);
//! - the admin path: `admin_service` (`PolicyAdmin`: bundles, entities, explain, history,
//!   audit), `authority` (what each role may change), `write` (the one write path: authority →
//!   validate → commit with history → publish) and `webhook` (signed change notifications);
//! - beside both: `metrics` (what `GET /metrics` reports, on its own listener) and `scim`
//!   (the SCIM service provider identity providers provision users and groups through, on its
//!   own listener, writing through `write`).

mod admin_service;
mod audit;
mod audit_log;
pub mod auth;
mod authority;
pub mod calls;
mod coalesce;
pub mod convert;
mod decision_service;
pub mod metrics;
mod reveal;
pub mod scim;
mod snapshot;
mod state;
mod webhook;
mod write;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use veil_compiler::Compiler;
use veil_policy::Estate;
use veil_proto::server::policy_admin_server::PolicyAdminServer;
use veil_proto::server::policy_decision_server::PolicyDecisionServer;
use veil_store::{Backend, Store};

use crate::coalesce::Coalesced;

pub use admin_service::AdminService;
pub use audit::{Audit, AuditOptions, DEFAULT_RETENTION, parse_retention};
pub use auth::Authenticator;
pub use decision_service::DecisionService;
pub use metrics::serve_metrics;
pub use snapshot::Snapshot;
pub use state::{Settings, State, next_version};
pub use webhook::{Webhooks, sign};
pub use write::{ChangeError, Outcome};

/// Opens the store, loads the bundle it holds and starts the audit writer, the webhook sender
/// and (on PostgreSQL) the follower of other replicas' changes.
pub async fn open(
    store_url: &str,
    settings: Settings,
    functions_catalog: String,
    webhooks: Webhooks,
) -> anyhow::Result<Arc<State>> {
    let store = Store::open(store_url).await?;
    let (version, file) = store.load().await?;
    let compiler = Compiler::new(Estate::new(file, None)?, &functions_catalog)
        .map_err(|errors| anyhow::anyhow!("the stored bundle does not validate:\n{errors}"))?;
    let audit = Audit::start(store_url, &settings.audit)?;
    let postgres = store.backend() == Backend::Postgres;
    let state = Arc::new(State::build(
        compiler,
        settings,
        version,
        functions_catalog,
        Some(store),
        audit,
        webhooks,
    ));
    if postgres {
        tokio::spawn(write::follow_postgres(
            Arc::clone(&state),
            store_url.to_owned(),
        ));
    }
    Ok(state)
}

/// The largest bundle the admin path takes or sends (gRPC's default is 4 MiB; a bundle with
/// 100,000 users is over 20 MiB).
pub const MAX_BUNDLE_BYTES: usize = 512 << 20;

/// TLS from PEM files: the server's certificate chain and key and, for mutual TLS, the CA that
/// client (plugin) certificates must be signed by.
pub fn tls_config(
    certificate: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> anyhow::Result<ServerTlsConfig> {
    use anyhow::Context;
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut config =
        ServerTlsConfig::new().identity(Identity::from_pem(read(certificate)?, read(key)?));
    if let Some(client_ca) = client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(client_ca)?));
    }
    Ok(config)
}

/// Serves every Veil service on `listener` until `shutdown` completes, then writes the decision
/// audit's queue.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    authenticator: Authenticator,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address: SocketAddr = listener.local_addr()?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<PolicyDecisionServer<DecisionService>>()
        .await;
    health_reporter
        .set_serving::<PolicyAdminServer<AdminService>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(veil_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(veil_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    tracing::info!(%address, version = state.current().version, "veil serving");
    let audited = Arc::clone(&state);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PolicyDecisionServer::with_interceptor(
            DecisionService::new(Arc::clone(&state)),
            authenticator.plugin_interceptor(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            PolicyAdminServer::new(AdminService::new(state))
                .max_decoding_message_size(MAX_BUNDLE_BYTES)
                .max_encoding_message_size(MAX_BUNDLE_BYTES),
            authenticator.admin_interceptor(),
        ))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await?;
    audited
        .audit
        .finish(std::time::Duration::from_secs(30))
        .await;
    tracing::info!("veil stopped");
    Ok(())
}

/// Accepted connections with Nagle's algorithm off (with it on, a write that follows an
/// unacknowledged one waits for the client's delayed ACK, ~40 ms), writing through
/// [`Coalesced`].
fn incoming(listener: TcpListener) -> impl tokio_stream::Stream<Item = std::io::Result<Coalesced>> {
    TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(Coalesced::new(stream))
    })
}
