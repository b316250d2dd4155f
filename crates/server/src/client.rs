//! The `veil` commands that talk to a running server over the admin path: `apply`, `export`,
//! `history` and `explain` against the server (now or as of a past policy version).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use veil_policy::EntityKind;
use veil_proto::v1;

/// How the CLI reaches a running server.
#[derive(clap::Args)]
pub struct Connection {
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

/// Runs one admin call to completion on a runtime of its own.
fn call<T>(
    connection: &Connection,
    request: impl AsyncFnOnce(&mut AdminClient) -> Result<tonic::Response<T>, tonic::Status>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut client = admin_client(connection).await?;
        anyhow::Ok(
            request(&mut client)
                .await
                .map_err(status_error)?
                .into_inner(),
        )
    })
}

fn kind_name(kind: i32) -> String {
    v1::EntityKind::try_from(kind)
        .map_or("?", |kind| kind.as_str_name())
        .trim_start_matches("ENTITY_KIND_")
        .to_lowercase()
}

pub fn apply(file: &Path, connection: &Connection, dry_run: bool) -> anyhow::Result<ExitCode> {
    let yaml = crate::policy_file::read(file)?;
    let summary = call(connection, async |client| {
        client
            .apply_bundle(v1::ApplyBundleRequest { yaml, dry_run })
            .await
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
        println!(
            "  {} {} {}",
            change.action,
            kind_name(change.kind),
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

pub fn status(connection: &Connection) -> anyhow::Result<ExitCode> {
    let status = call(connection, async |client| {
        client.get_status(v1::GetStatusRequest {}).await
    })?;
    println!("policy version {}", status.policy_version);
    let mut calls: Vec<_> = status.calls.into_iter().collect();
    calls.sort();
    for (method, count) in calls {
        println!("calls {method} {count}");
    }
    println!("audit dropped {}", status.audit_dropped);
    Ok(ExitCode::SUCCESS)
}

pub fn export(connection: &Connection) -> anyhow::Result<ExitCode> {
    let bundle = call(connection, async |client| {
        client.export_bundle(v1::ExportBundleRequest {}).await
    })?;
    print!("{}", bundle.yaml);
    Ok(ExitCode::SUCCESS)
}

/// `veil history`'s filters as typed on the command line.
pub struct HistoryFilter {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub caller: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: u32,
}

fn millis(flag: &str, time: Option<&str>) -> anyhow::Result<i64> {
    let Some(time) = time else { return Ok(0) };
    let at = humantime::parse_rfc3339_weak(time)
        .with_context(|| format!("`--{flag} {time}` is not an RFC 3339 time"))?;
    Ok(at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64))
}

pub fn history(connection: &Connection, filter: HistoryFilter) -> anyhow::Result<ExitCode> {
    let kind = match filter.kind.as_deref() {
        None => v1::EntityKind::Unspecified,
        Some(text) => {
            let kind = EntityKind::parse(text).with_context(|| {
                format!("`--kind {text}`: data_source, user, purpose, project, policy or settings")
            })?;
            veil_server::convert::proto_entity_kind(kind)
        }
    };
    let request = v1::ListChangesRequest {
        kind: kind as i32,
        name: filter.name.unwrap_or_default(),
        caller: filter.caller.unwrap_or_default(),
        since_unix_millis: millis("since", filter.since.as_deref())?,
        until_unix_millis: millis("until", filter.until.as_deref())?,
        limit: filter.limit,
    };
    let response = call(connection, async |client| {
        client.list_changes(request).await
    })?;
    for change in &response.changes {
        let at = UNIX_EPOCH + Duration::from_millis(change.at_unix_millis.max(0) as u64);
        println!(
            "version {}  {}  by {}: {} {} `{}`",
            change.policy_version,
            humantime::format_rfc3339_millis(at),
            change.caller,
            change.action,
            kind_name(change.kind),
            change.name
        );
        for (label, yaml) in [
            ("before", &change.before_yaml),
            ("after", &change.after_yaml),
        ] {
            if !yaml.is_empty() {
                println!("  {label}:");
                for line in yaml.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    if response.changes.is_empty() {
        println!("no changes match");
    }
    Ok(ExitCode::SUCCESS)
}

pub struct AuditFilter {
    pub user: Option<String>,
    pub data_source: Option<String>,
    pub query_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: u32,
    pub json: bool,
}

impl AuditFilter {
    /// User, data source, query id (empty: any) and the time window in milliseconds (0: open).
    fn fields(&self) -> anyhow::Result<(String, String, String, i64, i64)> {
        Ok((
            self.user.clone().unwrap_or_default(),
            self.data_source.clone().unwrap_or_default(),
            self.query_id.clone().unwrap_or_default(),
            millis("since", self.since.as_deref())?,
            millis("until", self.until.as_deref())?,
        ))
    }
}

/// `veil audit queries`: the query audit, newest first, each query with its decisions.
pub fn audit_queries(connection: &Connection, filter: AuditFilter) -> anyhow::Result<ExitCode> {
    let (user, data_source, query_id, since, until) = filter.fields()?;
    let request = v1::ListQueriesRequest {
        user,
        data_source,
        since_unix_millis: since,
        until_unix_millis: until,
        query_id,
        limit: filter.limit,
    };
    let response = call(connection, async |client| {
        client.list_queries(request).await
    })?;
    for audited in &response.queries {
        let Some(query) = &audited.query else {
            continue;
        };
        if filter.json {
            println!("{}", query_json(query, &audited.decisions));
            continue;
        }
        let project = if query.project.is_empty() {
            String::new()
        } else {
            format!(" (project {})", query.project)
        };
        let outcome = if query.error_code.is_empty() {
            format!("{}, {} rows", query.state, query.output_rows)
        } else {
            format!(
                "{} {}: {}",
                query.state, query.error_code, query.error_message
            )
        };
        println!(
            "{}  {}  {}{project}  {outcome}",
            format_millis(query.end_unix_millis),
            query.query_id,
            query.user,
        );
        println!("  data sources: {}", query.data_sources.join(", "));
        for table in &query.tables {
            let kind = if table.governed_view {
                " (governed view)"
            } else {
                ""
            };
            println!(
                "  read {}.{}.{}{kind}",
                table.catalog, table.schema, table.table
            );
            for filter in &table.row_filters {
                println!("    row filter: {filter}");
            }
            for column in table
                .columns
                .iter()
                .filter(|column| !column.mask.is_empty())
            {
                println!("    mask {}: {}", column.name, column.mask);
            }
        }
        for decision in &audited.decisions {
            let verdict = if decision.allowed {
                "allowed"
            } else {
                "refused"
            };
            println!(
                "  decision: {} {verdict} by [{}] at version {}",
                decision.data_source,
                decision.policies.join(", "),
                decision.policy_version
            );
        }
    }
    if response.queries.is_empty() && !filter.json {
        println!("no queries match");
    }
    if response.dropped > 0 {
        eprintln!(
            "veil: the plugins dropped {} completed queries since this server started (their queue was full)",
            response.dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn format_millis(millis: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64))
        .to_string()
}

/// One audited query as a JSON object, for scripts.
/// `veil audit reveals`: who revealed which column's tokens, how many values, newest first;
/// refused attempts too.
pub fn audit_reveals(connection: &Connection, filter: AuditFilter) -> anyhow::Result<ExitCode> {
    let (user, data_source, query_id, since, until) = filter.fields()?;
    let request = v1::ListRevealsRequest {
        user,
        data_source,
        since_unix_millis: since,
        until_unix_millis: until,
        query_id,
        limit: filter.limit,
    };
    let response = call(connection, async |client| {
        client.list_reveals(request).await
    })?;
    for reveal in &response.reveals {
        if filter.json {
            println!(
                "{}",
                serde_json::json!({
                    "query_id": reveal.query_id,
                    "user": reveal.user,
                    "project": reveal.project,
                    "data_source": reveal.data_source,
                    "column": reveal.column,
                    "policy": reveal.policy,
                    "allowed": reveal.allowed,
                    "reason": reveal.reason,
                    "values": reveal.values,
                    "nodes": reveal.nodes,
                    "first_unix_millis": reveal.first_unix_millis,
                    "last_unix_millis": reveal.last_unix_millis,
                })
            );
            continue;
        }
        let project = if reveal.project.is_empty() {
            String::new()
        } else {
            format!(" (project {})", reveal.project)
        };
        let outcome = if reveal.allowed {
            format!(
                "revealed {} values on {} nodes under policy {}",
                reveal.values, reveal.nodes, reveal.policy
            )
        } else {
            format!("refused: {}", reveal.reason)
        };
        println!(
            "{}  {}  {}{project}  {}.{}  {outcome}",
            format_millis(reveal.last_unix_millis),
            reveal.query_id,
            reveal.user,
            reveal.data_source,
            reveal.column,
        );
    }
    if response.reveals.is_empty() && !filter.json {
        println!("no reveals match");
    }
    Ok(ExitCode::SUCCESS)
}

fn query_json(query: &v1::QueryRecord, decisions: &[v1::DecisionRecord]) -> serde_json::Value {
    serde_json::json!({
        "query_id": query.query_id,
        "user": query.user,
        "groups": query.groups,
        "project": query.project,
        "create_unix_millis": query.create_unix_millis,
        "execution_start_unix_millis": query.execution_start_unix_millis,
        "end_unix_millis": query.end_unix_millis,
        "state": query.state,
        "error_code": query.error_code,
        "error_message": query.error_message,
        "output_rows": query.output_rows,
        "output_bytes": query.output_bytes,
        "read_rows": query.read_rows,
        "read_bytes": query.read_bytes,
        "query": query.query,
        "data_sources": query.data_sources,
        "tables": query.tables.iter().map(|table| serde_json::json!({
            "catalog": table.catalog,
            "schema": table.schema,
            "table": table.table,
            "governed_view": table.governed_view,
            "directly_referenced": table.directly_referenced,
            "row_filters": table.row_filters,
            "columns": table.columns.iter().map(|column| serde_json::json!({
                "name": column.name,
                "mask": column.mask,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "decisions": decisions.iter().map(|decision| serde_json::json!({
            "at_unix_millis": decision.at_unix_millis,
            "data_source": decision.data_source,
            "allowed": decision.allowed,
            "policies": decision.policies,
            "policy_version": decision.policy_version,
            "project": decision.project,
        })).collect::<Vec<_>>(),
    })
}

pub fn explain(
    connection: &Connection,
    as_of: Option<u64>,
    user: &str,
    project: Option<String>,
    groups: Vec<String>,
    table: &str,
) -> anyhow::Result<ExitCode> {
    let (schema, table) = table
        .split_once('.')
        .context("the table is `schema.table`")?;
    let request = v1::ExplainRequest {
        identity: Some(v1::Identity {
            user: user.to_owned(),
            groups,
            project: project.unwrap_or_default(),
            ..Default::default()
        }),
        schema: schema.to_owned(),
        table: table.to_owned(),
        as_of_version: as_of.unwrap_or(0),
    };
    let response = call(connection, async |client| client.explain(request).await)?;
    println!("# as of policy version {}", response.policy_version);
    print!("{}", response.text);
    Ok(ExitCode::SUCCESS)
}
