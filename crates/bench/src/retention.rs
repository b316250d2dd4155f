//! Audit retention under load: millions of decision records older than the retention are put in
//! the store, then the decision path is measured beside the health check at half load twice, on
//! the same store — with retention off, and while the restarted server prunes those records
//! (`--audit-retention 30d`) — and how long pruning them all took.

use super::*;

/// Decision records the full run puts in the store to be pruned (`--quick`: a tenth).
const OLD_RECORDS: u64 = 10_000_000;

pub(crate) async fn retention(
    arguments: &Arguments,
    store_path: &std::path::Path,
    log_path: &std::path::Path,
    requests: Arc<Vec<Bytes>>,
    rate: f64,
    phase: Duration,
) -> anyhow::Result<()> {
    let old = if arguments.quick {
        OLD_RECORDS / 10
    } else {
        OLD_RECORDS
    };
    let url = format!("sqlite://{}", store_path.display());
    let filled = Instant::now();
    let now = veil_store::now_millis();
    // Forty days ago, a hundred records a millisecond, as a busy PDP writes them.
    let from = now - 40 * 24 * 3600 * 1000;
    let pool = sqlx::SqlitePool::connect(&url).await?;
    sqlx::query(
        "INSERT INTO veil_decisions (at_millis, user_name, project, data_source, allowed, policies, version, latency_micros, query_id) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
         SELECT ? + i / 100, 'u' || (i % 100000), '', 'd' || (i % 10000) || '.t', 1, '[\"p\"]', 1, 7, '' FROM n",
    )
    .bind(old as i64)
    .bind(from)
    .execute(&pool)
    .await?;
    let older = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM veil_decisions WHERE at_millis < ?")
            .bind(now - 30 * 24 * 3600 * 1000)
            .fetch_one(&pool)
            .await
    };
    println!(
        "\naudit retention: {} decision records 40 days old put in the store in {:.1} s",
        older().await?,
        filled.elapsed().as_secs_f64()
    );

    let mut phases = Vec::new();
    for (name, retention) in [("retention off", "forever"), ("while pruning", "30d")] {
        let (server, port, _) = start_server(
            arguments,
            &url,
            None,
            log_path,
            &["--audit-retention", retention],
        )
        .await?;
        let pid = server.0.id();
        let calls = Calls::new(&connect(port, 4).await?, Arc::clone(&requests));
        let views = {
            let calls = calls.clone();
            move |worker, iteration| calls.view(worker, iteration)
        };
        let health = move |worker, _| calls.health(worker);
        let started = Instant::now();
        drive(pid, arguments.concurrency, phase / 3, None, views.clone()).await;
        let views = drive(pid, arguments.concurrency, phase, Some(rate), views).await;
        let health = drive(pid, arguments.concurrency, phase, Some(rate), health).await;
        let left = older().await?;
        report(
            &format!("{name}, half load ({rate:.0} requests/s paced); {left} old records left"),
            &views,
            &health,
        );
        phases.push(views.quantile(0.99) / health.quantile(0.99));
        if retention != "forever" {
            // The rest of the backlog, unloaded, for the pruning rate.
            while older().await? > 0 && started.elapsed() < Duration::from_secs(1800) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "  all {old} pruned {seconds:.1} s after the start ({:.0} rows/s, in batches of {} rows)",
                old as f64 / seconds,
                veil_store::PRUNE_BATCH
            );
        }
        drop(server);
    }
    println!(
        "  p99 ratio to the health check: {:.2}x with retention off, {:.2}x while pruning",
        phases[0], phases[1]
    );
    Ok(())
}
