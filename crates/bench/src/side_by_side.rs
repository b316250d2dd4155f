//! Open Policy Agent beside Veil: installs OPA, writes its policy and data for the same estate,
//! and drives both the way Trino asks each for a query's decisions.

use super::*;

/// Installs OPA and writes its policy and data; `None` (and why, printed) when that fails.
pub(crate) fn prepare_opa(
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

/// OPA serving the same decisions, driven by the same load generator at the same concurrency:
/// one decision (`allow`), the batch of column masks, the three calls one query needs, and the
/// 2 + N calls it needs when Trino asks for masks one column at a time (no batch URI).
pub(crate) async fn opa_side_by_side(
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
    // Without the batch URI: one `columnMask` call per column instead of the batch.
    let query_per_column = {
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
                if opa::post(&client, &endpoints.allow, query.allow.clone())
                    .await
                    .is_err()
                    || opa::post(&client, &endpoints.row_filters, query.row_filters.clone())
                        .await
                        .is_err()
                {
                    return false;
                }
                for request in &query.column_mask_each {
                    if opa::post(&client, &endpoints.column_mask, request.clone())
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                true
            }
        }
    };
    let columns_per_query = calls
        .iter()
        .map(|query| query.column_mask_each.len())
        .sum::<usize>() as f64
        / calls.len().max(1) as f64;
    drive(pid, concurrency, phase / 2, None, query.clone()).await;
    let saturated_allow = drive(pid, concurrency, phase, None, allow.clone()).await;
    let saturated_masks = drive(pid, concurrency, phase, None, masks).await;
    let saturated_query = drive(pid, concurrency, phase, None, query.clone()).await;
    let saturated_per_column = drive(pid, concurrency, phase, None, query_per_column.clone()).await;
    let single_allow = drive(pid, 1, phase, None, allow).await;
    let single_query = drive(pid, 1, phase, None, query).await;
    let single_per_column = drive(pid, 1, phase, None, query_per_column).await;
    let peak = peak_memory(pid);
    drop(server);

    let per_column_name = format!("OPA one query, {:.0} calls", 2.0 + columns_per_query);
    for (title, veil, allow, masks, query, per_column) in [
        (
            format!("saturation, {concurrency} clients"),
            &veil.saturated,
            &saturated_allow,
            Some(&saturated_masks),
            &saturated_query,
            &saturated_per_column,
        ),
        (
            "one request in flight".to_owned(),
            &veil.single,
            &single_allow,
            None,
            &single_query,
            &single_per_column,
        ),
    ] {
        println!("\nOPA beside Veil, {title}:");
        let mut rows = vec![("Veil GetViewDefinition", veil), ("OPA allow", allow)];
        if let Some(masks) = masks {
            rows.push(("OPA batchColumnMasks", masks));
        }
        rows.push(("OPA one query, 3 calls", query));
        rows.push((per_column_name.as_str(), per_column));
        table(&rows);
        for (name, opa) in [
            ("per decision", allow),
            ("per query", query),
            ("per query, mask per column", per_column),
        ] {
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
