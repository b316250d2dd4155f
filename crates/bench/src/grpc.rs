//! `GetViewDefinition` against the health check over real gRPC: saturation, one request in
//! flight, half load, and the tables that print them.

use super::*;

/// Veil's figures the OPA comparison is set against.
pub(crate) struct VeilFigures {
    pub(crate) saturated: Stats,
    pub(crate) single: Stats,
}

pub(crate) async fn over_grpc(
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
        start_server(arguments, &store, Some(estate), &log_path, &[]).await?;
    drop(first);
    let (server, port, restart_seconds) =
        start_server(arguments, &store, None, &log_path, &[]).await?;
    println!(
        "server: first start with the policy file (parse, validate, write the store) {first_seconds:.2} s; \
         restart from the store {restart_seconds:.2} s (process start to first health check; log in {})",
        log_path.display()
    );
    let pid = server.0.id();
    // A few connections, as a handful of Trino coordinators would hold.
    let channels = connect(port, 4).await?;
    // Both kinds of call go through the same client path: encoded once, answers only counted.
    let requests: Arc<Vec<Bytes>> = Arc::new(requests.iter().map(raw::encode).collect());
    let calls = Calls::new(&channels, Arc::clone(&requests));
    let views = {
        let calls = calls.clone();
        move |worker, iteration| calls.view(worker, iteration)
    };
    let health = move |worker, _| calls.health(worker);
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
    let writes = edits::writes_at_scale(&channels, Arc::clone(&requests), pid).await?;
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
    for (kind, p99) in writes.p99 {
        target(
            &format!("single {kind} edit answered by, p99 < 20 ms"),
            format!("{p99:.1} ms"),
            p99 < 20.0,
        );
    }
    target(
        "10,000 user creates in < 30 s",
        format!("{:.1} s", writes.burst_seconds),
        writes.burst_seconds < 30.0,
    );
    let rss = peak_memory(pid);
    let rss_kib: f64 = rss
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    target(
        "peak RSS < 256 MiB",
        format!("{:.0} MiB", rss_kib / 1024.0),
        rss_kib / 1024.0 < 256.0,
    );
    drop(server);
    if !arguments.no_retention {
        retention::retention(arguments, &store_path, &log_path, requests, half, phase).await?;
    }
    Ok(VeilFigures {
        saturated: saturated_views,
        single: single_views,
    })
}

/// `count` connections to the server on `port`.
pub(crate) async fn connect(port: u16, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..count {
        channels.push(
            Channel::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?,
        );
    }
    Ok(channels)
}

/// The two calls measured side by side, for [`drive`]: `GetViewDefinition` (the encoded
/// `requests` in turn) and the health check, both through the same client path, answers only
/// counted.
#[derive(Clone)]
pub(crate) struct Calls {
    channels: Vec<Channel>,
    requests: Arc<Vec<Bytes>>,
    check: Bytes,
}

impl Calls {
    pub(crate) fn new(channels: &[Channel], requests: Arc<Vec<Bytes>>) -> Calls {
        Calls {
            channels: channels.to_vec(),
            requests,
            check: raw::encode(&HealthCheckRequest {
                service: String::new(),
            }),
        }
    }

    pub(crate) fn view(&self, worker: usize, iteration: u64) -> impl Future<Output = bool> + use<> {
        let channel = self.channels[worker % self.channels.len()].clone();
        let request =
            self.requests[(worker * 7919 + iteration as usize) % self.requests.len()].clone();
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

    pub(crate) fn health(&self, worker: usize) -> impl Future<Output = bool> + use<> {
        let channel = self.channels[worker % self.channels.len()].clone();
        let request = self.check.clone();
        async move {
            raw::call(channel, "/grpc.health.v1.Health/Check", request)
                .await
                .is_ok()
        }
    }
}

/// One row per phase; the last two columns are CPU microseconds per request spent by the server
/// and by the load generator.
pub(crate) fn table(rows: &[(&str, &Stats)]) {
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

pub(crate) fn report(title: &str, views: &Stats, health: &Stats) {
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
