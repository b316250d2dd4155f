//! The PDP of a run: `veil serve` with its store, tokens and mutual-TLS material made for the
//! run, (re)started on demand, and the `veil` CLI pointed at it.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use super::processes::Processes;
use super::report::step;
use super::{ADMIN_TOKEN, PLUGIN_TOKEN};

const PDP_START_DEADLINE: Duration = Duration::from_secs(60);

pub(super) struct PdpLauncher {
    pub(super) binary: PathBuf,
    pub(super) config: PathBuf,
    pub(super) port: u16,
    pub(super) log: PathBuf,
    /// The PDP's store: it survives the PDP's restart in the fail-closed scenario.
    pub(super) store: String,
    pub(super) auth: PathBuf,
    pub(super) tls: Tls,
}

/// The PDP's `--auth` file: the plugin's token for the query path, the admin's for PolicyAdmin.
pub(super) fn write_tokens(path: &Path) -> Result<()> {
    fs::write(
        path,
        format!(
            "tokens:\n  - {{name: trino, role: plugin, token: {PLUGIN_TOKEN}}}\n  - {{name: e2e, role: admin, token: {ADMIN_TOKEN}}}\n"
        ),
    )?;
    Ok(())
}

/// The PDP serves TLS with a certificate from a CA made for the run, which the plugin trusts, and
/// requires mutual TLS: clients (the plugin, `veil apply`) present certificates from a second CA.
pub(super) struct Tls {
    pub(super) authority: PathBuf,
    pub(super) certificate: PathBuf,
    pub(super) key: PathBuf,
    pub(super) client_authority: PathBuf,
    pub(super) client_certificate: PathBuf,
    pub(super) client_key: PathBuf,
}

impl Tls {
    pub(super) fn create(directory: &Path) -> Result<Tls> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        fs::create_dir_all(directory)?;
        let authority = |name: &str| -> Result<CertifiedIssuer<'static, KeyPair>> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
        };
        let issue = |issuer: &CertifiedIssuer<'static, KeyPair>,
                     names: &[&str]|
         -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let certificate = CertificateParams::new(names)?.signed_by(&key, issuer)?;
            Ok((certificate.pem(), key.serialize_pem()))
        };
        let servers = authority("veil e2e PDP CA")?;
        let clients = authority("veil e2e plugin CA")?;
        let (server_pem, server_key) = issue(&servers, &["localhost", "127.0.0.1"])?;
        let (client_pem, client_key) = issue(&clients, &["trino-coordinator"])?;
        let tls = Tls {
            authority: directory.join("ca.pem"),
            certificate: directory.join("pdp.pem"),
            key: directory.join("pdp.key"),
            client_authority: directory.join("plugin-ca.pem"),
            client_certificate: directory.join("plugin.pem"),
            client_key: directory.join("plugin.key"),
        };
        fs::write(&tls.authority, servers.pem())?;
        fs::write(&tls.certificate, server_pem)?;
        fs::write(&tls.key, server_key)?;
        fs::write(&tls.client_authority, clients.pem())?;
        fs::write(&tls.client_certificate, client_pem)?;
        fs::write(&tls.client_key, client_key)?;
        Ok(tls)
    }
}

impl PdpLauncher {
    /// `veil apply`/`veil export` against this PDP, with its CA and the given token.
    pub(super) fn cli(&self, token: &str) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("VEIL_TOKEN", token)
            .env("VEIL_TLS_CA", &self.tls.authority)
            .env("VEIL_TLS_CLIENT_CERT", &self.tls.client_certificate)
            .env("VEIL_TLS_CLIENT_KEY", &self.tls.client_key);
        command
    }

    pub(super) fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts `veil serve` and waits until it accepts connections.
    pub(super) fn start(&self, processes: &mut Processes) -> Result<()> {
        step(&format!("starting the PDP on port {}", self.port));
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .arg("--auth")
            .arg(&self.auth)
            .arg("--tls-cert")
            .arg(&self.tls.certificate)
            .arg("--tls-key")
            .arg(&self.tls.key)
            .arg("--tls-client-ca")
            .arg(&self.tls.client_authority)
            // Trino resolves groups itself (deploy/trino/group-provider.properties).
            .arg("--trust-trino-groups")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port));
        processes.spawn("veil", command, &self.log)?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + PDP_START_DEADLINE;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            processes.ensure_running("veil", &self.log)?;
            ensure!(
                Instant::now() < deadline,
                "the PDP did not listen on {address} within {PDP_START_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
