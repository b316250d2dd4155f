//! `veil`: serve the policy decision point, explain a decision, check a policy file, discover
//! data sources from Trino; `client.rs` holds the commands that talk to a running server.

mod client;
mod discover;
mod policy_file;

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
use veil_server::{Authenticator, Settings, State};

use client::Connection;

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
        /// Serve Prometheus metrics on `GET /metrics` at this address (plain HTTP). Off without it.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Serve SCIM 2.0 (`/scim/v2`) for identity providers at this address, over TLS with
        /// --tls-cert/--tls-key; without TLS, or without --auth, only on a loopback address.
        #[arg(long)]
        scim_listen: Option<SocketAddr>,
        /// Which SCIM user attributes become which Veil user attributes (YAML); see
        /// docs/operating.md for the format and the defaults.
        #[arg(long, requires = "scim_listen")]
        scim_mapping: Option<PathBuf>,
        #[command(flatten)]
        functions: FunctionsArgs,
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
        /// Delete decision and query audit records older than this (`30d`, `12h`), in the
        /// background; `forever` keeps them.
        #[arg(long, default_value = "30d", value_parser = retention)]
        audit_retention: Retention,
        /// Also write every audit record as a JSON line to this file (appended), or `-` for
        /// standard output.
        #[arg(long)]
        audit_log: Option<String>,
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
    /// Print a running server's policy version and the query-path calls it has answered.
    Status {
        #[command(flatten)]
        connection: Connection,
    },
    /// Print who changed what and when, newest first, with each entity before and after.
    History {
        #[command(flatten)]
        connection: Connection,
        /// Only this kind: data_source, user, group, purpose, project, policy or settings.
        #[arg(long)]
        kind: Option<String>,
        /// Only the entity of this name.
        #[arg(long)]
        name: Option<String>,
        /// Only changes by this caller (the token's name in the auth file).
        #[arg(long)]
        caller: Option<String>,
        /// Only changes at or after this time (RFC 3339, e.g. `2026-12-01T09:00:00Z`).
        #[arg(long)]
        since: Option<String>,
        /// Only changes at or before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Read the audit of a running server.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Print the view a user gets for a table and which policies applied or were overridden:
    /// from a policy file (`--config`), or from a running server, now or `--as-of` a version.
    Explain {
        /// Explain from this policy file, without a server.
        #[arg(long, conflicts_with = "as_of")]
        config: Option<PathBuf>,
        #[command(flatten)]
        connection: Connection,
        /// Explain as the policies stood at this policy version (see `veil history`).
        #[arg(long)]
        as_of: Option<u64>,
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: Option<String>,
        /// Groups Trino would send (used as if the server trusted them).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        functions: FunctionsArgs,
        /// `schema.table` in the governed catalog.
        table: String,
    },
    /// Validate a policy file and list every problem, then every warning.
    Check {
        file: PathBuf,
        /// Exit non-zero when there is any warning, not only on errors.
        #[arg(long)]
        deny_warnings: bool,
    },
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
struct FunctionsArgs {
    /// The Trino catalog of the Veil connector, whose keyed mask functions (`hash`) views call.
    #[arg(long, env = "VEIL_FUNCTIONS_CATALOG", default_value = "veil")]
    functions_catalog: String,
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

#[derive(Subcommand)]
enum AuditCommand {
    /// Completed Trino queries that read governed data, newest first, each with the tables,
    /// filters and masks Trino applied and the decisions Veil made for it.
    Queries {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        filter: AuditArgs,
    },
    /// Reveals of reversible masks' tokens, newest first: per query, user, data source and
    /// column, how many values were revealed on how many nodes, and refused attempts.
    Reveals {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        filter: AuditArgs,
    },
}

/// The filters of `veil audit queries` and `veil audit reveals`.
#[derive(clap::Args)]
struct AuditArgs {
    #[arg(long)]
    user: Option<String>,
    /// Only records of this data source (`schema.table`).
    #[arg(long)]
    data_source: Option<String>,
    #[arg(long)]
    query_id: Option<String>,
    /// Only records at or after this time (RFC 3339; a query's end, a reveal's report).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

impl From<AuditArgs> for client::AuditFilter {
    fn from(args: AuditArgs) -> client::AuditFilter {
        client::AuditFilter {
            user: args.user,
            data_source: args.data_source,
            query_id: args.query_id,
            since: args.since,
            until: args.until,
            limit: args.limit,
            json: args.json,
        }
    }
}

/// `--audit-retention`: a duration, or `None` for `forever`.
#[derive(Debug, Clone)]
struct Retention(Option<std::time::Duration>);

fn retention(text: &str) -> Result<Retention, String> {
    veil_server::parse_retention(text).map(Retention)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            file,
            deny_warnings,
        } => {
            let text = policy_file::read(&file)?;
            match Compiler::from_yaml(&text, "") {
                Ok(compiler) => {
                    let estate = compiler.estate();
                    let mut findings = veil_policy::analyze(estate);
                    findings.locate(&text);
                    for finding in &findings.0 {
                        let line = finding
                            .line
                            .map_or_else(String::new, |line| format!("{line}:"));
                        println!(
                            "{}:{line} warning: {}: {}",
                            file.display(),
                            finding.entity,
                            finding.reason
                        );
                    }
                    println!(
                        "{}: ok ({} data sources, {} policies, {} warning(s))",
                        file.display(),
                        estate.data_sources.len(),
                        estate.policies.len(),
                        findings.0.len()
                    );
                    if deny_warnings && !findings.0.is_empty() {
                        return Ok(ExitCode::FAILURE);
                    }
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
                    veil_policy::Bundle {
                        data_sources,
                        ..Default::default()
                    }
                    .to_yaml()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            config: None,
            connection,
            as_of,
            user,
            project,
            groups,
            functions: _,
            table,
        } => client::explain(&connection, as_of, &user, project, groups, &table),
        Command::Explain {
            config: Some(config),
            connection: _,
            as_of: _,
            user,
            project,
            groups,
            functions,
            table,
        } => {
            let compiler = policy_file::compile(&config, &functions.functions_catalog)?;
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
            metrics_listen,
            scim_listen,
            scim_mapping,
            functions,
            auth,
            tls_cert,
            tls_key,
            tls_client_ca,
            trust_trino_groups,
            view_owner,
            webhooks,
            webhook_secret,
            log_json: _,
            audit_retention: Retention(audit_retention),
            audit_log,
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
            if std::env::var_os("VEIL_HASH_SALT").is_some() {
                tracing::warn!(
                    "VEIL_HASH_SALT is no longer read: hash masks are keyed by the Trino plugin \
                     (veil.mask.keys), and views name only the key's id (settings: mask_key)"
                );
            }
            let authenticator = match &auth {
                Some(path) => Authenticator::from_file(path)?,
                None => {
                    tracing::warn!(
                        "no --auth file: every caller is trusted as admin (development only)"
                    );
                    Authenticator::disabled()
                }
            };
            let scim = match scim_listen {
                Some(address) => Some(scim_setup(
                    address,
                    scim_mapping.as_deref(),
                    tls_cert.as_deref().zip(tls_key.as_deref()),
                    auth.is_some(),
                )?),
                None => None,
            };
            let settings = Settings {
                trust_trino_groups,
                view_owner,
                audit: veil_server::AuditOptions {
                    retention: audit_retention,
                    log: audit_log,
                },
                ..Settings::default()
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let webhooks = veil_server::Webhooks::start(webhooks, webhook_secret);
                let state =
                    veil_server::open(&store, settings, functions.functions_catalog, webhooks)
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
                if let Some(address) = metrics_listen {
                    let listener = tokio::net::TcpListener::bind(address)
                        .await
                        .with_context(|| format!("binding {address} for metrics"))?;
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let served =
                            veil_server::serve_metrics(listener, state, std::future::pending());
                        if let Err(error) = served.await {
                            tracing::error!("the metrics listener stopped: {error:#}");
                        }
                    });
                }
                if let Some((address, mapping, scim_tls)) = scim {
                    let listener = tokio::net::TcpListener::bind(address)
                        .await
                        .with_context(|| format!("binding {address} for SCIM"))?;
                    let scim = veil_server::scim::Scim {
                        state: Arc::clone(&state),
                        authenticator: authenticator.clone(),
                        mapping: Arc::new(mapping),
                        scheme: "https",
                    };
                    tokio::spawn(async move {
                        let served = veil_server::scim::serve_scim(
                            listener,
                            scim,
                            scim_tls,
                            std::future::pending(),
                        );
                        if let Err(error) = served.await {
                            tracing::error!("the SCIM listener stopped: {error:#}");
                        }
                    });
                }
                veil_server::serve(listener, state, authenticator, tls, shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            file,
            connection,
            dry_run,
        } => client::apply(&file, &connection, dry_run),
        Command::Export { connection } => client::export(&connection),
        Command::Status { connection } => client::status(&connection),
        Command::Audit {
            what: AuditCommand::Queries { connection, filter },
        } => client::audit_queries(&connection, filter.into()),
        Command::Audit {
            what: AuditCommand::Reveals { connection, filter },
        } => client::audit_reveals(&connection, filter.into()),
        Command::History {
            connection,
            kind,
            name,
            caller,
            since,
            until,
            limit,
        } => client::history(
            &connection,
            client::HistoryFilter {
                kind,
                name,
                caller,
                since,
                until,
                limit,
            },
        ),
    }
}

/// What the SCIM listener needs, checked before anything starts: the mapping read and
/// validated, and TLS. SCIM carries identity-provider tokens and who belongs to which group, so
/// off loopback it needs both TLS and an auth file.
fn scim_setup(
    address: SocketAddr,
    mapping: Option<&Path>,
    tls: Option<(&Path, &Path)>,
    authenticated: bool,
) -> anyhow::Result<(
    SocketAddr,
    veil_server::scim::Mapping,
    Option<Arc<tokio_rustls::rustls::ServerConfig>>,
)> {
    if !address.ip().is_loopback() {
        if tls.is_none() {
            anyhow::bail!(
                "--scim-listen {address}: SCIM off a loopback address needs --tls-cert and --tls-key (or listen on 127.0.0.1 behind a proxy that terminates TLS)"
            );
        }
        if !authenticated {
            anyhow::bail!(
                "--scim-listen {address}: SCIM off a loopback address needs --auth with a `scim` token"
            );
        }
    }
    let mapping = match mapping {
        Some(path) => veil_server::scim::Mapping::from_file(path)?,
        None => veil_server::scim::Mapping::default_mapping(),
    };
    let tls = match tls {
        Some((certificate, key)) => Some(veil_server::scim::tls_config(certificate, key)?),
        None => {
            tracing::warn!("--scim-listen {address} without TLS: loopback only");
            None
        }
    };
    Ok((address, mapping, tls))
}

/// Applies a policy file through the write path: validated with line numbers, then committed.
async fn apply_file(state: &State, path: &Path) -> anyhow::Result<()> {
    let compiler = policy_file::compile(path, state.functions_catalog())?;
    let caller = veil_server::auth::Caller::operator(format!("policy file {}", path.display()));
    let outcome = state.replace(&caller, compiler, false).await?;
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
