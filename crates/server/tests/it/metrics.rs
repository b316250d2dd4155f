//! `GET /metrics` on its own listener: the counters move with the calls made, the gauges read
//! the state, and Prometheus's own `promtool check metrics` accepts the exposition.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_proto::v1::{
    BackingTable, EntityKind, GetTableAccessRequest, GetViewDefinitionRequest, ListSchemasRequest,
    WatchChangesRequest,
};
use veil_server::{Settings, State};

use crate::harness::{Server, example_bundle, identity, put, sqlite_url, view_request};

/// Serves `state`'s metrics on a loopback port; the address to scrape.
async fn serve_metrics(state: &Arc<State>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(veil_server::serve_metrics(
        listener,
        Arc::clone(state),
        std::future::pending(),
    ));
    address
}

/// The exposition, fetched over HTTP as Prometheus fetches it.
async fn scrape(address: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        let response = ureq::get(&format!("http://{address}/metrics"))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.content_type().starts_with("text/plain"),
            "{}",
            response.content_type()
        );
        response.into_string().unwrap()
    })
    .await
    .unwrap()
}

/// The value of the sample `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(label, wanted)| {
                    series_labels
                        .split(',')
                        .any(|pair| pair == format!("{label}=\"{wanted}\""))
                });
            matches.then(|| value.parse().unwrap())
        })
        .collect();
    assert_eq!(found.len(), 1, "one sample {name} {labels:?} in:\n{text}");
    found[0]
}

fn decisions(text: &str, method: &str, outcome: &str) -> f64 {
    sample(
        text,
        "veil_decision_duration_seconds_count",
        &[("method", method), ("outcome", outcome)],
    )
}

/// Where promtool is: `VEIL_PROMTOOL` (as `cargo xtask test` sets it), else where it installs it.
fn promtool() -> PathBuf {
    let path = match std::env::var_os("VEIL_PROMTOOL") {
        Some(path) => PathBuf::from(path),
        None => {
            let cache = std::env::var_os("VEIL_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/veil"))
                })
                .expect("VEIL_PROMTOOL, VEIL_CACHE_DIR or HOME is set");
            cache.join("go-bin/promtool")
        }
    };
    assert!(
        path.is_file(),
        "promtool is not at {} (`cargo xtask test` installs it; or set VEIL_PROMTOOL)",
        path.display()
    );
    path
}

/// Prometheus's own linter accepts `text`: it parses, and every name, type and help is right.
fn promtool_accepts(text: &str) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn decisions_and_caches_are_counted() {
    let server = Server::in_memory(Settings::default()).await;
    let address = serve_metrics(&server.state).await;
    let before = scrape(address).await;
    assert_eq!(decisions(&before, "GetViewDefinition", "ok"), 0.0);
    assert_eq!(
        sample(
            &before,
            "veil_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(sample(&before, "veil_change_stream_subscribers", &[]), 0.0);

    let mut client = server.anonymous_decisions().await;
    // Twice the same question, from two queries: compiled once, then answered from the answers
    // cache (the query id is for the audit, not part of the question).
    for query_id in ["q-1", "q-2"] {
        let mut request = view_request("alice", "", "sales", "customers");
        request.identity.as_mut().unwrap().query_id = query_id.into();
        client.get_view_definition(request).await.unwrap();
    }
    client
        .get_view_definition(view_request("alice", "", "sales", "no_such_table"))
        .await
        .unwrap_err();
    client
        .get_view_definition(GetViewDefinitionRequest {
            identity: None,
            schema: "sales".into(),
            table: "customers".into(),
        })
        .await
        .unwrap_err();
    client
        .list_schemas(ListSchemasRequest {
            identity: identity("alice", &[], ""),
        })
        .await
        .unwrap();
    // Native enforcement twice: compiled once, then from the accesses cache.
    for _ in 0..2 {
        client
            .get_table_access(GetTableAccessRequest {
                identity: identity("alice", &[], ""),
                table: Some(BackingTable {
                    catalog: "tpch".into(),
                    schema: "tiny".into(),
                    table: "customer".into(),
                }),
            })
            .await
            .unwrap();
    }
    let watch = client
        .watch_changes(WatchChangesRequest { since_version: 1 })
        .await
        .unwrap()
        .into_inner();

    let text = scrape(address).await;
    assert_eq!(decisions(&text, "GetViewDefinition", "ok"), 2.0);
    assert_eq!(decisions(&text, "GetViewDefinition", "not_found"), 1.0);
    assert_eq!(
        decisions(&text, "GetViewDefinition", "invalid_argument"),
        1.0
    );
    assert_eq!(
        decisions(&text, "GetViewDefinition", "permission_denied"),
        0.0
    );
    assert_eq!(decisions(&text, "ListSchemas", "ok"), 1.0);
    assert_eq!(decisions(&text, "GetTableAccess", "ok"), 2.0);
    assert_eq!(decisions(&text, "FilterTables", "ok"), 0.0);
    // A stream, not a decision.
    assert!(!text.contains("method=\"WatchChanges\""));
    // Every answer took some time: the sum moved.
    assert!(
        sample(
            &text,
            "veil_decision_duration_seconds_sum",
            &[("method", "GetViewDefinition"), ("outcome", "ok")]
        ) > 0.0
    );
    let hits = |cache| sample(&text, "veil_cache_hits_total", &[("cache", cache)]);
    let misses = |cache| sample(&text, "veil_cache_misses_total", &[("cache", cache)]);
    let entries = |cache| sample(&text, "veil_cache_entries", &[("cache", cache)]);
    // Answers: looked up by every call (the malformed one too); the repeat hit.
    assert_eq!((hits("answers"), misses("answers")), (1.0, 3.0));
    // Views: compiled once; the repeat never got that far, the others were refused before.
    assert_eq!((hits("views"), misses("views")), (0.0, 1.0));
    assert_eq!((hits("accesses"), misses("accesses")), (1.0, 1.0));
    assert_eq!(
        (entries("answers"), entries("views"), entries("accesses")),
        (1.0, 1.0, 1.0)
    );
    assert_eq!(sample(&text, "veil_change_stream_subscribers", &[]), 1.0);
    assert_eq!(sample(&text, "veil_policy_version", &[]), 1.0);
    // No store: no commits, no audit.
    assert_eq!(
        sample(&text, "veil_store_commit_duration_seconds_count", &[]),
        0.0
    );
    assert_eq!(sample(&text, "veil_audit_queue_records", &[]), 0.0);
    promtool_accepts(&text);

    // A closed stream is no longer counted (the server notices once the client is gone).
    drop(watch);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.state.subscribers() != 0 {
        assert!(Instant::now() < deadline, "the stream stays open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = scrape(address).await;
    assert_eq!(sample(&after, "veil_change_stream_subscribers", &[]), 0.0);
    server.stop().await;
}

#[tokio::test]
async fn commits_audit_and_policy_version_are_reported() {
    let server = Server::on_store(&sqlite_url("metrics")).await;
    let address = serve_metrics(&server.state).await;
    let mut admin = server.admin("admin-token-0000000").await;
    admin.apply_bundle(example_bundle(false)).await.unwrap();
    admin
        .put_entity(put(EntityKind::User, "{name: eve, groups: [analysts]}"))
        .await
        .unwrap();
    let mut decisions_client = server.decisions("plugin-token-000000").await;
    for _ in 0..3 {
        decisions_client
            .get_view_definition(view_request("alice", "", "sales", "customers"))
            .await
            .unwrap();
    }
    // Written in the background: wait for the writer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(address).await;
        if sample(&text, "veil_audit_records_written_total", &[]) == 3.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the audit is not written:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sample(&text, "veil_audit_records_dropped_total", &[]), 0.0);
    assert_eq!(sample(&text, "veil_audit_queue_records", &[]), 0.0);
    assert_eq!(
        sample(&text, "veil_store_commit_duration_seconds_count", &[]),
        2.0
    );
    assert!(sample(&text, "veil_store_commit_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        sample(&text, "veil_policy_version", &[]),
        server.state.current().version as f64
    );
    assert_eq!(decisions(&text, "GetViewDefinition", "ok"), 3.0);
    promtool_accepts(&text);
    server.stop().await;
}
