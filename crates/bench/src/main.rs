//! `veil-bench` (run through `cargo xtask bench`): generates a synthetic estate, starts the real
//! `veil` server on loopback, drives `GetViewDefinition` and the health check side by side over
//! real gRPC, times the in-process decision path, and drives Open Policy Agent serving the same
//! decisions the way Trino's OPA plugin asks for them. Prints numbers; asserts nothing.

/// The allocator the `veil` server uses, so in-process timings match the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod estate;
mod load;
mod opa;
mod raw;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use veil_compiler::Compiler;
use veil_policy::{Estate, Identity};
use veil_proto::v1::{self, GetViewDefinitionRequest};

use crate::estate::{Random, Size};
use crate::load::{Stats, drive};

#[derive(Parser)]
struct Arguments {
    /// Short phases (about a minute in all) instead of the full run.
    #[arg(long)]
    quick: bool,
    /// The `veil` binary to benchmark (a release build).
    #[arg(long)]
    veil: PathBuf,
    /// Where the generated estate is written.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Concurrent clients at saturation.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per measured phase (default 10, or 3 with --quick).
    #[arg(long)]
    seconds: Option<u64>,
    /// Leave out the Open Policy Agent comparison.
    #[arg(long)]
    no_opa: bool,
    /// Users in OPA's data document (default all; 10,000 with --quick).
    #[arg(long)]
    opa_users: Option<usize>,
}

const SIZE: Size = Size {
    data_sources: 10_000,
    users: 100_000,
    policies: 1_000,
};
/// The catalog of the Veil connector, named in keyed mask function calls.
const FUNCTIONS_CATALOG: &str = "veil";

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    let phase =
        Duration::from_secs(
            arguments
                .seconds
                .unwrap_or(if arguments.quick { 3 } else { 10 }),
        );
    std::fs::create_dir_all(&arguments.out)?;
    let generated = Instant::now();
    let file = estate::generate(SIZE, 42);
    let yaml = file.to_yaml();
    let path = arguments.out.join("estate.yaml");
    std::fs::write(&path, &yaml)?;
    println!(
        "estate: {} data sources, {} users, {} policies, {:.1} MiB of YAML (generated in {:.1} s)",
        file.data_sources.len(),
        file.users.len(),
        file.policies.len(),
        yaml.len() as f64 / (1 << 20) as f64,
        generated.elapsed().as_secs_f64()
    );

    let loaded = Instant::now();
    let compiler = Compiler::from_yaml(&yaml, FUNCTIONS_CATALOG)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    println!(
        "in-process load (parse + validate + index): {:.2} s",
        loaded.elapsed().as_secs_f64()
    );
    let requests = pick_requests(compiler.estate(), 20_000);
    let opa = if arguments.no_opa {
        None
    } else {
        prepare_opa(&arguments, &file, compiler.estate(), &requests)
    };
    drop(file);
    micro(compiler, &requests);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let veil = over_grpc(&arguments, &path, phase, requests).await?;
        if let Some((binary, plan)) = opa {
            // A shorter phase in quick mode keeps the whole run within a minute.
            let opa_phase = if arguments.quick { phase / 3 } else { phase };
            if let Err(error) =
                opa_side_by_side(arguments.concurrency, &binary, plan, &veil, opa_phase).await
            {
                println!("\nOPA comparison skipped: {error:#}");
            }
        }
        Ok(())
    })
}

/// Installs OPA and writes its policy and data; `None` (and why, printed) when that fails.
fn prepare_opa(
    arguments: &Arguments,
    file: &veil_policy::Bundle,
    estate: &Estate,
    requests: &[GetViewDefinitionRequest],
) -> Option<(PathBuf, opa::Plan)> {
    let cache = match std::env::var_os("VEIL_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/veil"),
            None => {
                println!("OPA comparison skipped: set VEIL_CACHE_DIR or HOME for the OPA install");
                return None;
            }
        },
    };
    let binary = match opa::install(&cache) {
        Ok(binary) => binary,
        Err(error) => {
            println!("OPA comparison skipped: {error:#}");
            return None;
        }
    };
    let user_limit =
        arguments
            .opa_users
            .unwrap_or(if arguments.quick { 10_000 } else { usize::MAX });
    // The pairs OPA is driven with: the first 2,000 of Veil's whose user is in OPA's document.
    let pairs: Vec<(String, usize)> = requests
        .iter()
        .filter_map(|request| {
            let user = request.identity.as_ref()?.user.clone();
            let number: usize = user.strip_prefix('u')?.parse().ok()?;
            let table = estate.data_source_id(&request.schema, &request.table)?;
            (number < user_limit).then_some((user, table))
        })
        .take(2_000)
        .collect();
    let prepared = Instant::now();
    match opa::prepare(
        file,
        estate,
        FUNCTIONS_CATALOG,
        &pairs,
        user_limit,
        &arguments.out,
    ) {
        Ok(plan) => {
            println!(
                "OPA data document: {} users, {} data sources, {:.1} MiB of JSON; {} query requests (written in {:.1} s)",
                plan.users,
                estate.data_sources.len(),
                plan.data_bytes as f64 / (1 << 20) as f64,
                plan.visible.len(),
                prepared.elapsed().as_secs_f64()
            );
            Some((binary, plan))
        }
        Err(error) => {
            println!("OPA comparison skipped: {error:#}");
            None
        }
    }
}

/// Requests for (user, table) pairs the user may see, as the plugin would mostly send.
fn pick_requests(estate: &Estate, count: usize) -> Vec<GetViewDefinitionRequest> {
    let mut random = Random::new(7);
    let mut requests = Vec::with_capacity(count);
    while requests.len() < count {
        let user = format!("u{}", random.below(SIZE.users));
        let table = random.below(SIZE.data_sources);
        let identity = Identity {
            user: &user,
            groups: &[],
            project: None,
        };
        let subject = estate
            .subject(identity, false)
            .expect("generated users are valid");
        if estate.can_see(table, &subject) {
            let data_source = &estate.data_sources[table];
            requests.push(GetViewDefinitionRequest {
                identity: Some(v1::Identity {
                    user: user.clone(),
                    groups: Vec::new(),
                    project: String::new(),
                }),
                schema: data_source.schema.clone(),
                table: data_source.table.clone(),
            });
        }
    }
    requests
}

/// The in-process decision path: cold compile and warm (cached) decisions.
fn micro(compiler: Compiler, requests: &[GetViewDefinitionRequest]) {
    // Cold: render the view of the widest table for a user, uncached.
    let estate = compiler.estate();
    let widest = (0..estate.data_sources.len())
        .max_by_key(|&id| {
            (
                estate.data_sources[id].columns.len(),
                estate.bindings[id]
                    .masks
                    .iter()
                    .filter(|c| !c.is_empty())
                    .count(),
            )
        })
        .expect("the estate has data sources");
    let columns = estate.data_sources[widest].columns.len();
    let masked = estate.bindings[widest]
        .masks
        .iter()
        .filter(|candidates| !candidates.is_empty())
        .count();
    let identity = Identity {
        user: "u1",
        groups: &[],
        project: None,
    };
    let subject = estate.subject(identity, false).expect("valid user");
    let decision = estate.decide(widest, &subject).or_else(|| {
        let everyone = Identity {
            user: "u2",
            groups: &[],
            project: None,
        };
        estate.decide(widest, &estate.subject(everyone, false).ok()?)
    });
    if let Some(decision) = decision {
        let rounds = 2_000;
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let facts = compiler.facts(&decision, &subject);
            bytes += compiler.render(&decision, &facts).sql.len();
        }
        let per = started.elapsed().as_secs_f64() / rounds as f64 * 1e6;
        println!(
            "cold compile (decide done; facts + render), {columns}-column table with {masked} masked-candidate columns: {per:.1} µs ({} bytes of SQL)",
            bytes / rounds
        );
    }
    // Warm: the server's whole decision path (resolve user, decide, cache lookup), no gRPC.
    let state = Arc::new(veil_server::State::new(
        compiler,
        veil_server::Settings::default(),
        1,
    ));
    let service = veil_server::DecisionService::new(Arc::clone(&state));
    let started = Instant::now();
    for request in requests {
        service
            .view_definition(request)
            .expect("picked requests are visible");
    }
    let first = started.elapsed().as_secs_f64() / requests.len() as f64 * 1e6;
    let rounds = 5;
    let timed = |forget_answers: bool| {
        let mut elapsed = Duration::ZERO;
        for _ in 0..rounds {
            if forget_answers {
                state.current().answers.clear();
            }
            let started = Instant::now();
            for request in requests {
                std::hint::black_box(service.view_definition(request).expect("visible"));
            }
            elapsed += started.elapsed();
        }
        elapsed.as_secs_f64() / (rounds * requests.len()) as f64 * 1e6
    };
    // A request not seen before whose view is cached: resolve, decide, look the view up.
    let decided = timed(true);
    // A request seen before in this policy version: one lookup.
    let repeated = timed(false);
    println!(
        "in-process decision over {} (user, table) pairs: first call {first:.1} µs; view cached, \
         request new {decided:.2} µs; request seen before {repeated:.2} µs; {} views cached",
        requests.len(),
        state.current().views.len()
    );
}

/// Starts `veil serve` on a free port and waits for its health check; returns the process, the
/// port and the seconds from spawn to the first healthy answer.
async fn start_server(
    arguments: &Arguments,
    store: &str,
    config: Option<&std::path::Path>,
    log_path: &std::path::Path,
) -> anyhow::Result<(ServerProcess, u16, f64)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The server's warnings go to a file, so they cannot interleave with the figures.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let started = Instant::now();
    let mut command = Command::new(&arguments.veil);
    command.args([
        "serve",
        "--store",
        store,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let child = command
        .env("VEIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", arguments.veil.display()))?;
    let server = ServerProcess(child);
    loop {
        if started.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("the server did not become ready within 120 s");
        }
        if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect()
            .await
        {
            let mut health = HealthClient::new(channel);
            if health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            {
                return Ok((server, port, started.elapsed().as_secs_f64()));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One admin edit at this scale, as an operator makes it: the user behind `request` joins `g0`,
/// the group every domain's subscription shuts out. Reports how long `PutEntity` takes to
/// validate, commit and publish, and when `GetViewDefinition` first answers by the new policy.
async fn edit_one_user(channel: &Channel, request: &Bytes) -> anyhow::Result<()> {
    use v1::policy_admin_client::PolicyAdminClient;
    let mut admin = PolicyAdminClient::new(channel.clone());
    let user = <GetViewDefinitionRequest as prost::Message>::decode(request.clone())?
        .identity
        .context("bench requests carry an identity")?
        .user;
    let yaml = admin
        .get_entity(v1::GetEntityRequest {
            kind: v1::EntityKind::User.into(),
            name: user.clone(),
        })
        .await?
        .into_inner()
        .yaml;
    let mut spec: veil_policy::UserSpec = serde_norway::from_str(&yaml)?;
    spec.groups.push("g0".into());
    let started = Instant::now();
    admin
        .put_entity(v1::PutEntityRequest {
            kind: v1::EntityKind::User.into(),
            yaml: serde_norway::to_string(&spec)?,
            dry_run: false,
        })
        .await?;
    let committed = started.elapsed();
    loop {
        let answer = raw::call(
            channel.clone(),
            "/veil.v1.PolicyDecision/GetViewDefinition",
            request.clone(),
        )
        .await;
        match answer {
            Err(status) if status.code() == tonic::Code::NotFound => break,
            Ok(_) if started.elapsed() < Duration::from_secs(60) => {}
            other => anyhow::bail!("after the edit, GetViewDefinition answered {other:?}"),
        }
    }
    println!(
        "one user edit (PutEntity, {user} joins g0): committed and published in {:.0} ms; \
         GetViewDefinition answers by it {:.0} ms after the request was sent",
        committed.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Veil's figures the OPA comparison is set against.
struct VeilFigures {
    saturated: Stats,
    single: Stats,
}

async fn over_grpc(
    arguments: &Arguments,
    estate: &std::path::Path,
    phase: Duration,
    requests: Vec<GetViewDefinitionRequest>,
) -> anyhow::Result<VeilFigures> {
    // First start: the policy file goes into a fresh store. Then a restart from that store,
    // which is how a PDP normally comes up; the load runs against the restarted server.
    let store_path = arguments.out.join("veil.db");
    for stale in ["veil.db", "veil.db-wal", "veil.db-shm"] {
        let _ = std::fs::remove_file(arguments.out.join(stale));
    }
    let store = format!("sqlite://{}", store_path.display());
    let log_path = arguments.out.join("veil.log");
    let (first, _, first_seconds) =
        start_server(arguments, &store, Some(estate), &log_path).await?;
    drop(first);
    let (server, port, restart_seconds) = start_server(arguments, &store, None, &log_path).await?;
    println!(
        "server: first start with the policy file (parse, validate, write the store) {first_seconds:.2} s; \
         restart from the store {restart_seconds:.2} s (process start to first health check; log in {})",
        log_path.display()
    );
    let pid = server.0.id();
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))?
        .connect()
        .await?;

    // A few connections, as a handful of Trino coordinators would hold.
    let mut channels = vec![channel];
    for _ in 1..4 {
        channels.push(
            Channel::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?,
        );
    }
    // Both kinds of call go through the same client path: encoded once, answers only counted.
    let requests: Arc<Vec<Bytes>> = Arc::new(requests.iter().map(raw::encode).collect());
    let edited = requests[0].clone();
    let views = {
        let channels = channels.clone();
        move |worker: usize, iteration: u64| {
            let channel = channels[worker % channels.len()].clone();
            let request = requests[(worker * 7919 + iteration as usize) % requests.len()].clone();
            async move {
                raw::call(
                    channel,
                    "/veil.v1.PolicyDecision/GetViewDefinition",
                    request,
                )
                .await
                .is_ok()
            }
        }
    };
    let check = raw::encode(&HealthCheckRequest {
        service: String::new(),
    });
    let health = {
        let channels = channels.clone();
        move |worker: usize, _iteration: u64| {
            let channel = channels[worker % channels.len()].clone();
            let request = check.clone();
            async move {
                raw::call(channel, "/grpc.health.v1.Health/Check", request)
                    .await
                    .is_ok()
            }
        }
    };
    // Warm up both paths (and the view cache).
    drive(pid, arguments.concurrency, phase / 2, None, views.clone()).await;
    drive(pid, arguments.concurrency, phase / 3, None, health.clone()).await;

    let concurrency = arguments.concurrency;
    let saturated_views = drive(pid, concurrency, phase, None, views.clone()).await;
    let saturated_health = drive(pid, concurrency, phase, None, health.clone()).await;
    report(
        &format!("saturation, {concurrency} clients"),
        &saturated_views,
        &saturated_health,
    );

    let single_views = drive(pid, 1, phase, None, views.clone()).await;
    let single_health = drive(pid, 1, phase, None, health.clone()).await;
    report("one request in flight", &single_views, &single_health);

    let half = saturated_views
        .throughput()
        .min(saturated_health.throughput())
        / 2.0;
    let half_views = drive(pid, concurrency, phase, Some(half), views.clone()).await;
    let half_health = drive(pid, concurrency, phase, Some(half), health.clone()).await;
    report(
        &format!("half load, {half:.0} requests/s paced"),
        &half_views,
        &half_health,
    );

    println!("server peak RSS: {}", peak_memory(pid));
    // Every answer above was queued for the decision audit; say whether the writer kept up.
    let audit = veil_proto::v1::policy_admin_client::PolicyAdminClient::new(channels[0].clone())
        .list_decisions(v1::ListDecisionsRequest {
            limit: 1,
            user: String::new(),
        })
        .await?
        .into_inner();
    println!(
        "decision audit: {} records dropped (queue full or store failing) over the whole load",
        audit.dropped
    );
    edit_one_user(&channels[0], &edited).await?;
    println!("\ntargets:");
    let target = |name: &str, value: String, met: bool| {
        println!(
            "  {:<52} {:<26} {}",
            name,
            value,
            if met { "met" } else { "NOT met" }
        )
    };
    target(
        ">= 20,000 GetViewDefinition/s",
        format!("{:.0}/s", saturated_views.throughput()),
        saturated_views.throughput() >= 20_000.0,
    );
    let ratio = saturated_views.throughput() / saturated_health.throughput();
    target(
        ">= 90% of the health check's throughput",
        format!("{:.0}%", ratio * 100.0),
        ratio >= 0.9,
    );
    let gap = single_views.quantile(0.5) - single_health.quantile(0.5);
    target(
        "p50 within 50 µs of health, one in flight",
        format!("{gap:+.0} µs"),
        gap <= 50.0,
    );
    let p99 = half_views.quantile(0.99) / half_health.quantile(0.99);
    target(
        "p99 within 1.5x of health at half load",
        format!("{p99:.2}x"),
        p99 <= 1.5,
    );
    drop(server);
    Ok(VeilFigures {
        saturated: saturated_views,
        single: single_views,
    })
}

/// OPA serving the same decisions, driven by the same load generator at the same concurrency:
/// one decision (`allow`), the batch of column masks, and the three calls one query needs.
async fn opa_side_by_side(
    concurrency: usize,
    binary: &std::path::Path,
    plan: opa::Plan,
    veil: &VeilFigures,
    phase: Duration,
) -> anyhow::Result<()> {
    let client = opa::http_client();
    let started = Instant::now();
    let server = opa::start(binary, &plan, &client).await?;
    let pid = server.pid();
    println!(
        "\nOPA {}: policy and data loaded and serving in {:.1} s",
        opa::OPA_MODULE.rsplit('@').next().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    let endpoints = opa::Endpoints::new(&server.base)?;
    let checked = opa::agreement(&client, &endpoints, &plan, 300).await?;
    println!(
        "OPA agrees with Veil on {checked} (user, table) pairs ({} the user may not see): \
         allowed or not, how many row filters, which columns are masked",
        plan.hidden.len()
    );
    let calls = Arc::new(plan.visible);
    let call = |choose: fn(&opa::QueryCalls) -> Bytes, uri: hyper::Uri| {
        let client = client.clone();
        let calls = Arc::clone(&calls);
        move |worker: usize, iteration: u64| {
            let client = client.clone();
            let uri = uri.clone();
            let body = choose(&calls[(worker * 7919 + iteration as usize) % calls.len()]);
            async move { opa::post(&client, &uri, body).await.is_ok() }
        }
    };
    let allow = call(|calls| calls.allow.clone(), endpoints.allow.clone());
    let masks = call(
        |calls| calls.column_masks.clone(),
        endpoints.column_masks.clone(),
    );
    let query = {
        let client = client.clone();
        let calls = Arc::clone(&calls);
        let endpoints = endpoints.clone();
        move |worker: usize, iteration: u64| {
            let client = client.clone();
            let endpoints = endpoints.clone();
            let calls = Arc::clone(&calls);
            let index = (worker * 7919 + iteration as usize) % calls.len();
            async move {
                let query = &calls[index];
                opa::post(&client, &endpoints.allow, query.allow.clone())
                    .await
                    .is_ok()
                    && opa::post(&client, &endpoints.row_filters, query.row_filters.clone())
                        .await
                        .is_ok()
                    && opa::post(&client, &endpoints.column_masks, query.column_masks.clone())
                        .await
                        .is_ok()
            }
        }
    };
    drive(pid, concurrency, phase / 2, None, query.clone()).await;
    let saturated_allow = drive(pid, concurrency, phase, None, allow.clone()).await;
    let saturated_masks = drive(pid, concurrency, phase, None, masks).await;
    let saturated_query = drive(pid, concurrency, phase, None, query.clone()).await;
    let single_allow = drive(pid, 1, phase, None, allow).await;
    let single_query = drive(pid, 1, phase, None, query).await;
    let peak = peak_memory(pid);
    drop(server);

    for (title, veil, allow, masks, query) in [
        (
            format!("saturation, {concurrency} clients"),
            &veil.saturated,
            &saturated_allow,
            Some(&saturated_masks),
            &saturated_query,
        ),
        (
            "one request in flight".to_owned(),
            &veil.single,
            &single_allow,
            None,
            &single_query,
        ),
    ] {
        println!("\nOPA beside Veil, {title}:");
        let mut rows = vec![("Veil GetViewDefinition", veil), ("OPA allow", allow)];
        if let Some(masks) = masks {
            rows.push(("OPA batchColumnMasks", masks));
        }
        rows.push(("OPA one query, 3 calls", query));
        table(&rows);
        for (name, opa) in [("per decision", allow), ("per query", query)] {
            println!(
                "  {:<24} Veil {:.1}x OPA's throughput; OPA's p50 {:.1}x and p99 {:.1}x Veil's",
                name,
                veil.throughput() / opa.throughput(),
                opa.quantile(0.5) / veil.quantile(0.5),
                opa.quantile(0.99) / veil.quantile(0.99)
            );
        }
    }
    println!("OPA peak RSS: {peak}");
    Ok(())
}

/// `VmHWM` of a running process, as `/proc` reports it.
fn peak_memory(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .map(|value| value.trim().to_owned())
            })
        })
        .unwrap_or_default()
}

/// One row per phase; the last two columns are CPU microseconds per request spent by the server
/// and by the load generator.
fn table(rows: &[(&str, &Stats)]) {
    println!(
        "  {:<24} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "req/s", "errors", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "srv cpu", "load cpu"
    );
    for (name, stats) in rows {
        let (server, client) = stats.cpu_per_request().unwrap_or((f64::NAN, f64::NAN));
        println!(
            "  {:<24} {:>10.0} {:>8} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.1} {:>9.1}",
            name,
            stats.throughput(),
            stats.errors,
            stats.quantile(0.5),
            stats.quantile(0.9),
            stats.quantile(0.99),
            stats.quantile(0.999),
            server,
            client
        );
    }
}

fn report(title: &str, views: &Stats, health: &Stats) {
    println!("\n{title}:");
    table(&[("GetViewDefinition", views), ("health Check", health)]);
    println!(
        "  {:<24} {:>10.2} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        "ratio",
        views.throughput() / health.throughput(),
        "",
        views.quantile(0.5) / health.quantile(0.5),
        views.quantile(0.9) / health.quantile(0.9),
        views.quantile(0.99) / health.quantile(0.99),
        views.quantile(0.999) / health.quantile(0.999)
    );
}
