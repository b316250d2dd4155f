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
use veil_server::{Settings, State};

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
    /// Serve veil.v1.PolicyDecision (with health and reflection) from a policy file.
    /// SIGHUP reloads the file; a file with errors is refused and the old policies stay.
    Serve {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        #[command(flatten)]
        salt: SaltArgs,
        /// Merge the groups Trino sends into the user's groups.
        #[arg(long)]
        trust_trino_groups: bool,
        /// The run-as owner returned with every view (default: the plugin's configured one).
        #[arg(long, default_value = "")]
        view_owner: String,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
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
            listen,
            salt,
            trust_trino_groups,
            view_owner,
            log_json: _,
        } => {
            let salt = salt.resolve()?;
            let compiler = load(&config, &salt)?;
            let settings = Settings {
                trust_trino_groups,
                view_owner,
                ..Settings::default()
            };
            let state = Arc::new(State::new(compiler, settings, veil_server::next_version(0)));
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                tokio::spawn(reload_on_hangup(Arc::clone(&state), config, salt));
                veil_server::serve(listener, state, shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn reload_on_hangup(state: Arc<State>, config: PathBuf, salt: String) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match load(&config, &salt) {
            Ok(compiler) => {
                let version = state.publish(compiler);
                tracing::info!(version, "policy file reloaded");
            }
            Err(error) => {
                tracing::error!("reload refused, keeping the current policies: {error:#}")
            }
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
