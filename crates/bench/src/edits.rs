//! Writes at scale: single user, policy and data-source edits, each timed from the request to
//! the first `GetViewDefinition` that answers by it; then a burst of new users as a stream of
//! single edits, with the decision path's latency measured while it runs.

use super::*;

use v1::policy_admin_client::PolicyAdminClient;
use v1::policy_decision_client::PolicyDecisionClient;

/// The `q` quantile of sorted milliseconds.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub(crate) fn user_yaml(name: &str, groups: &[String]) -> String {
    serde_norway::to_string(&veil_policy::UserSpec {
        name: name.to_owned(),
        groups: groups.to_vec(),
        ..Default::default()
    })
    .expect("a user serializes")
}

/// `edits` times, the user behind `request` joins `g0` (which every domain's subscription
/// shuts out) or leaves it again, by `PutEntity` on `writer`; each edit is timed until
/// `GetViewDefinition` on `reader` (the same server, or another replica) answers by it.
pub(crate) async fn single_edits(
    writer: &Channel,
    reader: &Channel,
    request: &Bytes,
    edits: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut admin = PolicyAdminClient::new(writer.clone());
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
    // An earlier edit may have left the user in g0.
    spec.groups.retain(|group| group != "g0");
    let mut joined = spec.groups.clone();
    joined.push("g0".into());
    let mut times = Vec::with_capacity(edits);
    for edit in 0..edits {
        let join = edit % 2 == 0;
        let groups = if join { &joined } else { &spec.groups };
        let started = Instant::now();
        admin
            .put_entity(v1::PutEntityRequest {
                kind: v1::EntityKind::User.into(),
                yaml: user_yaml(&user, groups),
                dry_run: false,
            })
            .await?;
        loop {
            let answer = raw::call(
                reader.clone(),
                "/veil.v1.PolicyDecision/GetViewDefinition",
                request.clone(),
            )
            .await;
            match (join, answer) {
                (true, Err(status)) if status.code() == tonic::Code::NotFound => break,
                (false, Ok(_)) => break,
                _ if started.elapsed() > Duration::from_secs(60) => {
                    anyhow::bail!("edit {edit} was not answered by within a minute")
                }
                _ => {}
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// Sends `edit` on `admin`, then asks `ask` on `reader` until `answered` says the answer (the
/// view, or `None` when refused) is by the edit; milliseconds from the edit to that answer.
async fn timed_edit(
    admin: &mut PolicyAdminClient<Channel>,
    reader: &mut PolicyDecisionClient<Channel>,
    edit: EntityEdit,
    ask: &GetViewDefinitionRequest,
    answered: impl Fn(Option<&v1::GetViewDefinitionResponse>) -> bool,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    match edit {
        EntityEdit::Put(kind, yaml) => {
            admin
                .put_entity(v1::PutEntityRequest {
                    kind: kind.into(),
                    yaml,
                    dry_run: false,
                })
                .await?;
        }
        EntityEdit::Delete(kind, name) => {
            admin
                .delete_entity(v1::DeleteEntityRequest {
                    kind: kind.into(),
                    name,
                    dry_run: false,
                })
                .await?;
        }
    }
    loop {
        let answer = reader.get_view_definition(ask.clone()).await;
        if answered(answer.as_ref().ok().map(|answer| answer.get_ref())) {
            return Ok(started.elapsed().as_secs_f64() * 1e3);
        }
        if started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("an edit was not answered by within a minute: {answer:?}");
        }
    }
}

pub(crate) enum EntityEdit {
    Put(v1::EntityKind, String),
    Delete(v1::EntityKind, String),
}

/// `edits` single policy edits by `PutEntity`/`DeleteEntity` on `writer`, in turn adding a row
/// filter on the data source `request` asks about, changing it in place, and removing it; then
/// `edits` single data-source edits, in turn tagging a column of that data source (and marking
/// its description) or untagging it, and adding a data source beside it or removing it again.
/// Each is timed until `GetViewDefinition` on `reader` answers by it. Milliseconds, sorted:
/// (policies, data sources).
pub(crate) async fn entity_edits(
    writer: &Channel,
    reader: &Channel,
    request: &Bytes,
    edits: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut admin = PolicyAdminClient::new(writer.clone());
    let mut decisions = PolicyDecisionClient::new(reader.clone());
    let ask = <GetViewDefinitionRequest as prost::Message>::decode(request.clone())?;
    let name = format!("{}.{}", ask.schema, ask.table);
    let mut policies = Vec::with_capacity(edits);
    for edit in 0..edits {
        // A number only the edit's SQL holds.
        let marker = format!("{}", 987_650_000 + edit);
        let filter = |marker: &str| {
            format!(
                "{{name: bench-filter, kind: row_filter, on: {{data_sources: [{name}]}}, where: \"id <> {marker}\"}}"
            )
        };
        let (edit, present) = match edit % 3 {
            0 | 1 => (
                EntityEdit::Put(v1::EntityKind::Policy, filter(&marker)),
                true,
            ),
            _ => (
                EntityEdit::Delete(v1::EntityKind::Policy, "bench-filter".into()),
                false,
            ),
        };
        let time = timed_edit(&mut admin, &mut decisions, edit, &ask, |view| {
            view.is_some_and(|view| {
                if present {
                    view.sql.contains(&marker)
                } else {
                    !view.sql.contains("98765")
                }
            })
        })
        .await?;
        policies.push(time);
    }
    if !edits.is_multiple_of(3) {
        admin
            .delete_entity(v1::DeleteEntityRequest {
                kind: v1::EntityKind::Policy.into(),
                name: "bench-filter".into(),
                dry_run: false,
            })
            .await?;
    }
    let yaml = admin
        .get_entity(v1::GetEntityRequest {
            kind: v1::EntityKind::DataSource.into(),
            name: name.clone(),
        })
        .await?
        .into_inner()
        .yaml;
    let original: veil_policy::DataSourceSpec = serde_norway::from_str(&yaml)?;
    // A new data source beside it, over a table of its own, with its tags (so the domain's
    // subscription admits the same users).
    let mut beside = original.clone();
    beside.name = format!("{}.bench_beside", ask.schema);
    beside.table = format!("{}_bench_beside", original.table);
    let ask_beside = GetViewDefinitionRequest {
        table: "bench_beside".into(),
        ..ask.clone()
    };
    let mut data_sources = Vec::with_capacity(edits);
    for edit in 0..edits {
        let time = match edit % 4 {
            0 | 1 => {
                let mut spec = original.clone();
                let marker = format!("bench {edit}");
                if edit % 4 == 0 {
                    let last = spec.columns.len() - 1;
                    spec.columns[last].tags.push("PII".into());
                }
                spec.description = Some(marker.clone());
                let yaml = serde_norway::to_string(&spec)?;
                timed_edit(
                    &mut admin,
                    &mut decisions,
                    EntityEdit::Put(v1::EntityKind::DataSource, yaml),
                    &ask,
                    |view| view.is_some_and(|view| view.comment == marker),
                )
                .await?
            }
            2 => {
                let yaml = serde_norway::to_string(&beside)?;
                timed_edit(
                    &mut admin,
                    &mut decisions,
                    EntityEdit::Put(v1::EntityKind::DataSource, yaml),
                    &ask_beside,
                    |view| view.is_some(),
                )
                .await?
            }
            _ => {
                timed_edit(
                    &mut admin,
                    &mut decisions,
                    EntityEdit::Delete(v1::EntityKind::DataSource, beside.name.clone()),
                    &ask_beside,
                    |view| view.is_none(),
                )
                .await?
            }
        };
        data_sources.push(time);
    }
    // Leave the estate as it was (the beside data source removed by the last full cycle).
    admin
        .put_entity(v1::PutEntityRequest {
            kind: v1::EntityKind::DataSource.into(),
            yaml: serde_norway::to_string(&original)?,
            dry_run: false,
        })
        .await?;
    policies.sort_by(f64::total_cmp);
    data_sources.sort_by(f64::total_cmp);
    Ok((policies, data_sources))
}

/// What a burst of `users` new users, sent as single `PutEntity` calls over every channel,
/// cost, and the decision path's latencies meanwhile (milliseconds, sorted).
pub(crate) struct Burst {
    pub(crate) seconds: f64,
    pub(crate) decisions: Vec<f64>,
}

pub(crate) async fn burst(
    channels: &[Channel],
    requests: Arc<Vec<Bytes>>,
    users: usize,
) -> anyhow::Result<Burst> {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (channel, done) = (channels[0].clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut index = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let _ = raw::call(
                    channel.clone(),
                    "/veil.v1.PolicyDecision/GetViewDefinition",
                    requests[index % requests.len()].clone(),
                )
                .await;
                latencies.push(started.elapsed().as_secs_f64() * 1e3);
                index += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies
        })
    };
    let started = Instant::now();
    let mut writers = Vec::new();
    for (writer, channel) in channels.iter().enumerate() {
        let mut admin = PolicyAdminClient::new(channel.clone());
        let (first, step) = (writer, channels.len());
        writers.push(tokio::spawn(async move {
            let groups = vec!["g1".to_owned()];
            for index in (first..users).step_by(step) {
                admin
                    .put_entity(v1::PutEntityRequest {
                        kind: v1::EntityKind::User.into(),
                        yaml: user_yaml(&format!("burst{index}"), &groups),
                        dry_run: false,
                    })
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut decisions = watcher.await?;
    decisions.sort_by(f64::total_cmp);
    Ok(Burst { seconds, decisions })
}

/// What the targets are checked against: p99 of single edits of each kind (ms), and the
/// burst's seconds.
pub(crate) struct Writes {
    pub(crate) p99: [(&'static str, f64); 3],
    pub(crate) burst_seconds: f64,
}

/// All of them, printed.
pub(crate) async fn writes_at_scale(
    channels: &[Channel],
    requests: Arc<Vec<Bytes>>,
    pid: u32,
) -> anyhow::Result<Writes> {
    let edits = single_edits(&channels[0], &channels[0], &requests[0], 200).await?;
    println!(
        "single user edits (PutEntity, then GetViewDefinition until it answers by it), {} edits: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        edits.len(),
        quantile(&edits, 0.5),
        quantile(&edits, 0.99),
        edits[edits.len() - 1]
    );
    let memory = |after: &str| {
        println!(
            "  server RSS after {after}: {} (peak {})",
            resident_memory(pid),
            peak_memory(pid)
        )
    };
    memory("the single user edits");
    let (policies, data_sources) =
        entity_edits(&channels[0], &channels[0], &requests[0], 120).await?;
    for (what, times) in [("policy", &policies), ("data source", &data_sources)] {
        println!(
            "single {what} edits (PutEntity/DeleteEntity, then GetViewDefinition until it answers \
             by it), {} edits: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            times.len(),
            quantile(times, 0.5),
            quantile(times, 0.99),
            times[times.len() - 1]
        );
    }
    memory("the policy and data-source edits");
    let burst = burst(channels, requests, 10_000).await?;
    println!(
        "burst: 10,000 new users as single PutEntity calls over {} connections in {:.1} s \
         ({:.0}/s); GetViewDefinition meanwhile, {} calls: p50 {:.2} ms, p99 {:.2} ms",
        channels.len(),
        burst.seconds,
        10_000.0 / burst.seconds,
        burst.decisions.len(),
        quantile(&burst.decisions, 0.5),
        quantile(&burst.decisions, 0.99)
    );
    println!("server peak RSS after the writes: {}", peak_memory(pid));
    Ok(Writes {
        p99: [
            ("user", quantile(&edits, 0.99)),
            ("policy", quantile(&policies, 0.99)),
            ("data source", quantile(&data_sources, 0.99)),
        ],
        burst_seconds: burst.seconds,
    })
}
