//! `veil`: serve the policy decision point, explain a decision, check a policy file, discover
//! data sources from Trino.

mod discover;

/// mimalloc hands memory freed after a load back to the system, and is quicker than the system
/// allocator for the decision path's small, short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use veil_compiler::Compiler;
use veil_policy::Identity;
use veil_proto::v1;
use veil_server::{Authenticator, Settings, State};

#[derive(Parser)]
#[command(
    name = "veil",
    version,
    about = "Data-access governance for Trino: the policy decision point"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve veil.v1.PolicyDecision and veil.v1.PolicyAdmin (with health and reflection) from
    /// the store. With --config, the file is applied to the store at start and on SIGHUP (a file
    /// with errors is refused and the current policies stay).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// `sqlite://PATH` (created on first start) or `postgres://...` for replicas that share state.
        #[arg(long, env = "VEIL_STORE", default_value = "sqlite://veil.db")]
        store: String,
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        #[command(flatten)]
        salt: SaltArgs,
        /// Bearer tokens and their roles (YAML). Without it, authentication is off: development only.
        #[arg(long)]
        auth: Option<PathBuf>,
        /// Serve TLS with this certificate chain (PEM)…
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// …and this private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Mutual TLS: accept only clients with a certificate signed by this CA (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Merge the groups Trino sends into the user's groups.
        #[arg(long)]
        trust_trino_groups: bool,
        /// The run-as owner returned with every view (default: the plugin's configured one).
        #[arg(long, default_value = "")]
        view_owner: String,
        /// POST every committed change, signed, to this URL (repeatable).
        #[arg(long = "webhook")]
        webhooks: Vec<String>,
        /// The HMAC-SHA256 key webhook bodies are signed with.
        #[arg(
            long,
            env = "VEIL_WEBHOOK_SECRET",
            hide_env_values = true,
            default_value = ""
        )]
        webhook_secret: String,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Send a policy file to a running server, atomically (or only report, with --dry-run).
    Apply {
        file: PathBuf,
        #[command(flatten)]
        connection: Connection,
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a running server's whole bundle as a policy file.
    Export {
        #[command(flatten)]
        connection: Connection,
    },
    /// Print the view a user gets for a table and which policies applied or were overridden.
    Explain {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: Option<String>,
        /// Groups Trino would send (used as if the server trusted them).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        salt: SaltArgs,
        /// `schema.table` in the governed catalog.
        table: String,
    },
    /// Validate a policy file and list every problem.
    Check { file: PathBuf },
    /// Read a catalog's tables and columns from Trino and write them as data sources.
    Discover {
        /// Trino's HTTP address, e.g. `http://localhost:8080`.
        #[arg(long)]
        trino: String,
        /// The Trino user to query `information_schema` as.
        #[arg(long)]
        user: String,
        #[arg(long)]
        catalog: String,
        #[arg(long)]
        schema: Option<String>,
        /// Merge into this policy file (created if absent) instead of printing YAML.
        #[arg(long)]
        into: Option<PathBuf>,
    },
}

/// How the CLI reaches a running server.
#[derive(clap::Args)]
struct Connection {
    /// `http://host:port`, or `https://host:port` for a server with TLS.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// The CA (PEM) that signed an https server's certificate (default: the system's roots).
    #[arg(long, env = "VEIL_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// For a server with mutual TLS: this client's certificate chain (PEM)…
    #[arg(long, env = "VEIL_TLS_CLIENT_CERT", requires = "tls_client_key")]
    tls_client_cert: Option<PathBuf>,
    /// …and its private key (PEM).
    #[arg(long, env = "VEIL_TLS_CLIENT_KEY", requires = "tls_client_cert")]
    tls_client_key: Option<PathBuf>,
    #[arg(long, env = "VEIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(clap::Args)]
struct SaltArgs {
    /// The deployment-wide hash salt. Never part of the policy file.
    #[arg(long, env = "VEIL_HASH_SALT", hide_env_values = true)]
    hash_salt: Option<String>,
    /// A file holding the hash salt (trailing newline ignored).
    #[arg(long, conflicts_with = "hash_salt")]
    hash_salt_file: Option<PathBuf>,
}

impl SaltArgs {
    fn resolve(&self) -> anyhow::Result<String> {
        if let Some(salt) = &self.hash_salt {
            return Ok(salt.clone());
        }
        if let Some(path) = &self.hash_salt_file {
            let salt = std::fs::read_to_string(path)
                .with_context(|| format!("reading the hash salt from {}", path.display()))?;
            return Ok(salt.trim_end_matches(['\n', '\r']).to_owned());
        }
        tracing::warn!(
            "no hash salt configured (VEIL_HASH_SALT or --hash-salt-file): using a random one, \
             so hashed values change on every restart and differ between replicas"
        );
        let mut bytes = [0u8; 16];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(cli.command, Command::Serve { log_json: true, .. });
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("veil: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path, salt: &str) -> anyhow::Result<Compiler> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy file {}", path.display()))?;
    Compiler::from_yaml(&text, salt)
        .map_err(|errors| anyhow::anyhow!("{}: invalid policy file:\n{errors}", path.display()))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading policy file {}", file.display()))?;
            match Compiler::from_yaml(&text, "") {
                Ok(compiler) => {
                    let estate = compiler.estate();
                    println!(
                        "{}: ok ({} data sources, {} policies)",
                        file.display(),
                        estate.data_sources.len(),
                        estate.policies.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for error in &errors.0 {
                        println!("{}: {error}", file.display());
                    }
                    println!("{} problem(s)", errors.0.len());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Discover {
            trino,
            user,
            catalog,
            schema,
            into,
        } => {
            let data_sources = discover::discover(&trino, &user, &catalog, schema.as_deref())?;
            let count = data_sources.len();
            match into {
                Some(path) => {
                    discover::merge_into(&path, data_sources)?;
                    eprintln!("{count} data source(s) written to {}", path.display());
                }
                None => print!(
                    "{}",
                    veil_policy::PolicyFile {
                        data_sources,
                        ..Default::default()
                    }
                    .to_yaml()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            config,
            user,
            project,
            groups,
            salt,
            table,
        } => {
            let compiler = load(&config, &salt.resolve()?)?;
            let estate = compiler.estate();
            let (schema, table_name) = table
                .split_once('.')
                .context("the table is `schema.table`")?;
            let identity = Identity {
                user: &user,
                groups: &groups,
                project: project.as_deref(),
            };
            let subject = estate.subject(identity, true)?;
            let Some(id) = estate.data_source_id(schema, table_name) else {
                anyhow::bail!("no data source `{table}`");
            };
            print!("{}", compiler.explain(id, &subject));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            config,
            store,
            listen,
            salt,
            auth,
            tls_cert,
            tls_key,
            tls_client_ca,
            trust_trino_groups,
            view_owner,
            webhooks,
            webhook_secret,
            log_json: _,
        } => {
            let tls = match (&tls_cert, &tls_key) {
                (Some(certificate), Some(key)) => Some(veil_server::tls_config(
                    certificate,
                    key,
                    tls_client_ca.as_deref(),
                )?),
                _ => {
                    tracing::warn!(
                        "no --tls-cert: serving plaintext gRPC (loopback or a trusted network only)"
                    );
                    None
                }
            };
            let salt = salt.resolve()?;
            let authenticator = match &auth {
                Some(path) => Authenticator::from_file(path)?,
                None => {
                    tracing::warn!(
                        "no --auth file: every caller is trusted as admin (development only)"
                    );
                    Authenticator::disabled()
                }
            };
            let settings = Settings {
                trust_trino_groups,
                view_owner,
                ..Settings::default()
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let webhooks = veil_server::Webhooks::start(webhooks, webhook_secret);
                let state = veil_server::open(&store, settings, salt, webhooks)
                    .await
                    .with_context(|| format!("opening the store {store}"))?;
                if let Some(config) = &config {
                    apply_file(&state, config).await?;
                }
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                if let Some(config) = config {
                    tokio::spawn(reload_on_hangup(Arc::clone(&state), config));
                }
                veil_server::serve(listener, state, authenticator, tls, shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            file,
            connection,
            dry_run,
        } => {
            let yaml = std::fs::read_to_string(&file)
                .with_context(|| format!("reading policy file {}", file.display()))?;
            let runtime = tokio::runtime::Runtime::new()?;
            let summary = runtime.block_on(async {
                let mut client = admin_client(&connection).await?;
                let request = v1::ApplyBundleRequest { yaml, dry_run };
                anyhow::Ok(
                    client
                        .apply_bundle(request)
                        .await
                        .map_err(status_error)?
                        .into_inner(),
                )
            })?;
            let verb = if summary.applied {
                "applied"
            } else if dry_run {
                "would change"
            } else {
                "no change"
            };
            println!("{verb}: policy version {}", summary.policy_version);
            for change in &summary.changes {
                let kind =
                    v1::EntityKind::try_from(change.kind).map_or("?", |kind| kind.as_str_name());
                println!(
                    "  {} {} {}",
                    change.action,
                    kind.trim_start_matches("ENTITY_KIND_").to_lowercase(),
                    change.name
                );
            }
            if summary.affects_everything {
                println!("affects every view");
            } else {
                println!(
                    "affected data sources: {}",
                    summary.affected_data_sources.join(", ")
                );
                println!("affected users: {}", summary.affected_users.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { connection } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let bundle = runtime.block_on(async {
                let mut client = admin_client(&connection).await?;
                anyhow::Ok(
                    client
                        .export_bundle(v1::ExportBundleRequest {})
                        .await
                        .map_err(status_error)?
                        .into_inner(),
                )
            })?;
            print!("{}", bundle.yaml);
            Ok(ExitCode::SUCCESS)
        }
    }
}

type AdminClient = v1::policy_admin_client::PolicyAdminClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, BearerToken>,
>;

#[derive(Clone)]
struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

async fn admin_client(connection: &Connection) -> anyhow::Result<AdminClient> {
    let server = &connection.server;
    let mut endpoint = tonic::transport::Channel::from_shared(server.clone())?;
    if server.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new().with_enabled_roots();
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        if let Some(path) = &connection.tls_ca {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(path)?));
        }
        if let (Some(certificate), Some(key)) =
            (&connection.tls_client_cert, &connection.tls_client_key)
        {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read(certificate)?,
                read(key)?,
            ));
        }
        endpoint = endpoint.tls_config(tls)?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let token = connection
        .token
        .clone()
        .map(|token| format!("Bearer {token}").parse())
        .transpose()
        .context("the token has characters a header cannot carry")?;
    Ok(
        v1::policy_admin_client::PolicyAdminClient::with_interceptor(channel, BearerToken(token))
            .max_decoding_message_size(veil_server::MAX_BUNDLE_BYTES)
            .max_encoding_message_size(veil_server::MAX_BUNDLE_BYTES),
    )
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// Applies a policy file through the write path: validated with line numbers, then committed.
async fn apply_file(state: &State, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy file {}", path.display()))?;
    let compiler = Compiler::from_yaml(&text, state.salt())
        .map_err(|errors| anyhow::anyhow!("{}: invalid policy file:\n{errors}", path.display()))?;
    let outcome = state.replace(compiler, false).await?;
    tracing::info!(
        file = %path.display(),
        version = outcome.version,
        changes = outcome.changes.len(),
        "policy file applied"
    );
    Ok(())
}

async fn reload_on_hangup(state: Arc<State>, config: PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        if let Err(error) = apply_file(&state, &config).await {
            tracing::error!("reload refused, keeping the current policies: {error:#}");
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, shutting down"),
        _ = terminate.recv() => tracing::info!("terminated, shutting down"),
    }
}
