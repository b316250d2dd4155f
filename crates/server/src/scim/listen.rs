//! The SCIM listener: HTTP/1.1 over TLS with the server's `--tls-cert`/`--tls-key`, or plain on
//! loopback (the rule is `veil serve`'s). Each connection's handshake runs in its own task, so
//! a slow client holds up no other.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Scim, router};

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS for the SCIM listener from the same PEM files as the gRPC one.
pub fn tls_config(certificate: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .with_context(|| format!("reading {}", certificate.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the certificates in {}", certificate.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key in {}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the SCIM listener's certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves SCIM on `listener` until `shutdown` completes.
pub async fn serve_scim(
    listener: TcpListener,
    mut scim: Scim,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    scim.scheme = if tls.is_some() { "https" } else { "http" };
    let address = listener.local_addr()?;
    let service = router(scim);
    let acceptor = tls.map(TlsAcceptor::from);
    tracing::info!(%address, tls = acceptor.is_some(), "SCIM serving at {}", super::BASE_PATH);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a SCIM connection failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(service.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let builder = hyper::server::conn::http1::Builder::new();
            let served =
                match acceptor {
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => {
                                    tracing::debug!(%peer, %error, "SCIM TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "SCIM TLS handshake timed out");
                                    return;
                                }
                            };
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                    None => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "a SCIM connection ended with an error");
            }
        });
    }
    Ok(())
}
