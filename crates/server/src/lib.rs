//! The Veil policy decision point: the `veil.v1.PolicyDecision` gRPC service over an immutable,
//! swappable policy snapshot, with health and reflection. Only this crate knows tonic.

mod convert;
mod decision_service;
mod snapshot;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use veil_proto::v1::policy_decision_server::PolicyDecisionServer;

pub use decision_service::DecisionService;
pub use snapshot::{Settings, Snapshot, State, next_version};

/// Serves every Veil service on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address: SocketAddr = listener.local_addr()?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<PolicyDecisionServer<DecisionService>>()
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
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PolicyDecisionServer::new(DecisionService::new(state)))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await?;
    tracing::info!("veil stopped");
    Ok(())
}

/// Accepted connections with Nagle's algorithm off: a view definition spans several TCP
/// segments, and with Nagle on, each answer waits for the client's delayed ACK (~40 ms).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}
