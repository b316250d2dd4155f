//! TLS and mutual TLS on the PDP, over real gRPC on loopback with certificates made here.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use veil_proto::v1::ListSchemasRequest;
use veil_proto::v1::policy_decision_client::PolicyDecisionClient;
use veil_server::{Authenticator, Settings};

use crate::harness::{Backing, Server, Setup, identity, scratch_directory};

pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    pub fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Authority { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names`, with its key, both PEM.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

pub fn write(directory: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The example in memory over TLS with a certificate from a new server authority, which it
/// returns; with `client_ca`, clients must show a certificate from that authority.
async fn start(client_ca: Option<&Authority>) -> (Server, Authority) {
    let directory = scratch_directory(&format!("tls-{}", client_ca.is_some()));
    let authority = Authority::new("veil test server CA");
    let (certificate, key) = authority.issue(&["localhost"]);
    let client_ca_path = client_ca.map(|ca| write(&directory, "client-ca.pem", &ca.pem()));
    let tls = veil_server::tls_config(
        &write(&directory, "server.pem", &certificate),
        &write(&directory, "server.key", &key),
        client_ca_path.as_deref(),
    )
    .unwrap();
    let server = Server::start(Setup {
        backing: Backing::Memory(Settings::default()),
        authenticator: Authenticator::disabled(),
        tls: Some(tls),
    })
    .await;
    (server, authority)
}

async fn schemas(address: &str, tls: ClientTlsConfig) -> Result<Vec<String>, String> {
    let channel = Channel::from_shared(address.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|error| format!("{error:?}"))?;
    let request = ListSchemasRequest {
        identity: identity("alice", &[], ""),
    };
    PolicyDecisionClient::new(channel)
        .list_schemas(request)
        .await
        .map(|response| response.into_inner().schemas)
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn tls_serves_only_clients_that_trust_it() {
    let (server, authority) = start(None).await;
    let address = &server.address;
    let trusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(authority.pem()))
        .domain_name("localhost");
    assert_eq!(
        schemas(address, trusting).await.unwrap(),
        vec!["hr", "sales"]
    );
    let stranger = Authority::new("someone else");
    let distrusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(stranger.pem()))
        .domain_name("localhost");
    assert!(schemas(address, distrusting).await.is_err());
    // Plaintext to a TLS port gets nothing.
    let plain = address.replace("https://", "http://");
    let plaintext = async {
        let channel = Channel::from_shared(plain)
            .unwrap()
            .connect()
            .await
            .map_err(|error| format!("{error:?}"))?;
        PolicyDecisionClient::new(channel)
            .list_schemas(ListSchemasRequest {
                identity: identity("alice", &[], ""),
            })
            .await
            .map_err(|status| format!("{status:?}"))
    };
    assert!(plaintext.await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_from_the_plugin_ca() {
    let plugins = Authority::new("veil plugin CA");
    let (server, authority) = start(Some(&plugins)).await;
    let address = &server.address;
    let server_trust = || {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(authority.pem()))
            .domain_name("localhost")
    };
    assert!(
        schemas(address, server_trust()).await.is_err(),
        "no client certificate"
    );
    let (certificate, key) = plugins.issue(&["trino-coordinator"]);
    let with_identity = server_trust().identity(Identity::from_pem(certificate, key));
    assert_eq!(
        schemas(address, with_identity).await.unwrap(),
        vec!["hr", "sales"]
    );
    let (certificate, key) = Authority::new("rogue").issue(&["trino-coordinator"]);
    assert!(
        schemas(
            address,
            server_trust().identity(Identity::from_pem(certificate, key))
        )
        .await
        .is_err()
    );
    server.stop().await;
}
