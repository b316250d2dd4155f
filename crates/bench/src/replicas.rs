//! Two replicas on one real PostgreSQL at the bench's scale: how long a single user edit on one
//! takes to be answered by on the other, and the same for each edit of a 1,000-edit burst.

use super::*;

use crate::edits::{quantile, user_yaml};

use v1::policy_admin_client::PolicyAdminClient;
use v1::policy_decision_client::PolicyDecisionClient;

/// A fresh database on the PostgreSQL server at `url`; its URL.
async fn database(url: &str) -> anyhow::Result<String> {
    let name = format!("veil_bench_{}", std::process::id());
    let admin = veil_store::Store::open(url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(admin.pool())
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .execute(admin.pool())
        .await?;
    let (server, _) = url
        .rsplit_once('/')
        .context("a PostgreSQL URL with a database")?;
    Ok(format!("{server}/{name}"))
}

pub(crate) async fn replicas(
    arguments: &Arguments,
    postgres: &str,
    estate: &std::path::Path,
    request: &Bytes,
) -> anyhow::Result<()> {
    let store = database(postgres).await?;
    let log_path = arguments.out.join("replicas.log");
    let (first, first_port, loaded) =
        start_server(arguments, &store, Some(estate), &log_path, &[]).await?;
    let (second, second_port, started) =
        start_server(arguments, &store, None, &log_path, &[]).await?;
    println!(
        "\nreplicas on PostgreSQL: the first loads the policy file into the store in {loaded:.1} s, \
         the second starts from it in {started:.1} s"
    );
    let writer = connect(first_port, 1).await?.remove(0);
    let reader = connect(second_port, 1).await?.remove(0);
    let mut admin = PolicyAdminClient::new(writer.clone());

    // Single edits on the first, answered by on the second.
    let singles = edits::single_edits(&writer, &reader, request, 100).await?;
    println!(
        "single user edits on one replica, answered by on the other (GetViewDefinition), {} edits: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        singles.len(),
        quantile(&singles, 0.5),
        quantile(&singles, 0.99),
        singles[singles.len() - 1]
    );

    // A burst: 1,000 new users as fast as one client sends them; each edit is timed from its
    // request to the other replica's change event naming the user (sent when the replica
    // publishes the version that answers by it).
    let since_version = PolicyAdminClient::new(reader.clone())
        .get_status(v1::GetStatusRequest {})
        .await?
        .into_inner()
        .policy_version;
    let mut events = PolicyDecisionClient::new(reader.clone())
        .watch_changes(v1::WatchChangesRequest { since_version })
        .await?
        .into_inner();
    let heard = tokio::spawn(async move {
        let mut heard: std::collections::HashMap<String, Instant> = Default::default();
        while heard.len() < 1_000 {
            match tokio::time::timeout(Duration::from_secs(60), events.message()).await {
                Ok(Ok(Some(event))) => {
                    let now = Instant::now();
                    for user in event.users {
                        heard.entry(user).or_insert(now);
                    }
                }
                _ => break,
            }
        }
        heard
    });
    let groups = vec!["g1".to_owned()];
    let mut sent = Vec::with_capacity(1_000);
    let burst_started = Instant::now();
    for index in 0..1_000 {
        let name = format!("replica-burst{index}");
        sent.push((name.clone(), Instant::now()));
        admin
            .put_entity(v1::PutEntityRequest {
                kind: v1::EntityKind::User.into(),
                yaml: user_yaml(&name, &groups),
                dry_run: false,
            })
            .await?;
    }
    let sending = burst_started.elapsed().as_secs_f64();
    let heard = heard.await?;
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(name, at)| {
            heard
                .get(name)
                .map(|then| (*then - *at).as_secs_f64() * 1e3)
        })
        .collect();
    anyhow::ensure!(
        latencies.len() == sent.len(),
        "the other replica announced {} of the burst's {} users",
        latencies.len(),
        sent.len()
    );
    latencies.sort_by(f64::total_cmp);
    println!(
        "burst of 1,000 single user edits on one replica ({sending:.1} s to send): each announced \
         by the other p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    println!(
        "peak RSS: writing replica {}, following replica {}",
        peak_memory(first.0.id()),
        peak_memory(second.0.id())
    );
    println!(
        "  {:<52} {:<26} {}",
        "replica follows a single edit, p99 < 1 s",
        format!("{:.1} ms", quantile(&singles, 0.99)),
        if quantile(&singles, 0.99) < 1_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    drop((first, second));
    Ok(())
}
