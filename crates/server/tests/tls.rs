//! TLS and mutual TLS on the PDP, over real gRPC on loopback with certificates made here.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use veil_proto::v1::policy_decision_client::PolicyDecisionClient;
use veil_proto::v1::{self, ListSchemasRequest};
use veil_server::{Authenticator, Settings, State};

struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Authority { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names`, with its key, both PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
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

fn write(directory: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(client_ca: Option<&Authority>) -> (String, Authority, oneshot::Sender<()>) {
    let directory = std::env::temp_dir().join(format!(
        "veil-tls-{}-{}",
        std::process::id(),
        client_ca.is_some()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    let authority = Authority::new("veil test server CA");
    let (certificate, key) = authority.issue(&["localhost"]);
    let client_ca_path = client_ca.map(|ca| write(&directory, "client-ca.pem", &ca.pem()));
    let tls = veil_server::tls_config(
        &write(&directory, "server.pem", &certificate),
        &write(&directory, "server.key", &key),
        client_ca_path.as_deref(),
    )
    .unwrap();
    let text = include_str!("../../../examples/tpch.yaml");
    let state = Arc::new(State::new(
        veil_compiler::Compiler::from_yaml(text, "veil").unwrap(),
        Settings::default(),
        1,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(veil_server::serve(
        listener,
        state,
        Authenticator::disabled(),
        Some(tls),
        async {
            let _ = stopped.await;
        },
    ));
    (format!("https://localhost:{port}"), authority, stop)
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
        identity: Some(v1::Identity {
            user: "alice".into(),
            groups: vec![],
            project: String::new(),
        }),
    };
    PolicyDecisionClient::new(channel)
        .list_schemas(request)
        .await
        .map(|response| response.into_inner().schemas)
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn tls_serves_only_clients_that_trust_it() {
    let (address, authority, stop) = start(None).await;
    let trusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(authority.pem()))
        .domain_name("localhost");
    assert_eq!(
        schemas(&address, trusting).await.unwrap(),
        vec!["hr", "sales"]
    );
    let stranger = Authority::new("someone else");
    let distrusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(stranger.pem()))
        .domain_name("localhost");
    assert!(schemas(&address, distrusting).await.is_err());
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
                identity: Some(v1::Identity {
                    user: "alice".into(),
                    ..Default::default()
                }),
            })
            .await
            .map_err(|status| format!("{status:?}"))
    };
    assert!(plaintext.await.is_err());
    stop.send(()).unwrap();
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_from_the_plugin_ca() {
    let plugins = Authority::new("veil plugin CA");
    let (address, authority, stop) = start(Some(&plugins)).await;
    let server_trust = || {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(authority.pem()))
            .domain_name("localhost")
    };
    assert!(
        schemas(&address, server_trust()).await.is_err(),
        "no client certificate"
    );
    let (certificate, key) = plugins.issue(&["trino-coordinator"]);
    let with_identity = server_trust().identity(Identity::from_pem(certificate, key));
    assert_eq!(
        schemas(&address, with_identity).await.unwrap(),
        vec!["hr", "sales"]
    );
    let (certificate, key) = Authority::new("rogue").issue(&["trino-coordinator"]);
    assert!(
        schemas(
            &address,
            server_trust().identity(Identity::from_pem(certificate, key))
        )
        .await
        .is_err()
    );
    stop.send(()).unwrap();
}
