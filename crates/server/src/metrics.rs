//! Prometheus metrics, served as text on `GET /metrics` by [`serve_metrics`] (`veil serve
//! --metrics-listen`). The decision path records with atomics only: every handle it touches is
//! made once, at start, and indexed by method and outcome; what can be read off the state (cache
//! entries, queue depth, watchers, policy version) is read when scraped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;
use tonic::{Code, Status};

use crate::calls::Method;
use crate::state::State;

/// How a query-path call ended: `ok` or its gRPC status, in Prometheus's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Internal,
    /// Any other status.
    Other,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::InvalidArgument,
        Outcome::NotFound,
        Outcome::PermissionDenied,
        Outcome::Unavailable,
        Outcome::Internal,
        Outcome::Other,
    ];

    pub fn of<T>(result: &Result<T, Status>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(status) => match status.code() {
                Code::InvalidArgument => Outcome::InvalidArgument,
                Code::NotFound => Outcome::NotFound,
                Code::PermissionDenied => Outcome::PermissionDenied,
                Code::Unavailable => Outcome::Unavailable,
                Code::Internal => Outcome::Internal,
                _ => Outcome::Other,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidArgument => "invalid_argument",
            Outcome::NotFound => "not_found",
            Outcome::PermissionDenied => "permission_denied",
            Outcome::Unavailable => "unavailable",
            Outcome::Internal => "internal",
            Outcome::Other => "other",
        }
    }
}

/// The snapshot caches, as the `cache` label names them.
#[derive(Debug, Clone, Copy)]
pub enum Cache {
    Views,
    Answers,
    Accesses,
}

impl Cache {
    const ALL: [Cache; 3] = [Cache::Views, Cache::Answers, Cache::Accesses];

    fn name(self) -> &'static str {
        match self {
            Cache::Views => "views",
            Cache::Answers => "answers",
            Cache::Accesses => "accesses",
        }
    }
}

/// Decision latencies: a few microseconds when answered from a cache, up to milliseconds when
/// compiled or for a large listing.
const DECISION_BUCKETS: [f64; 13] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.1, 1.0,
];

/// Store commits: milliseconds on SQLite, more for a large bundle or a remote PostgreSQL.
const COMMIT_BUCKETS: [f64; 13] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The audit writer's counters, shared with its thread (a counter is a handle on one atomic).
#[derive(Clone)]
pub struct AuditCounters {
    pub written: IntCounter,
    pub dropped: IntCounter,
    /// Completed queries stored in the query audit.
    pub queries_recorded: IntCounter,
    /// Completed queries the plugins dropped (their queue was full), as they reported it.
    pub queries_dropped: IntCounter,
    /// Audit rows retention deleted, by table.
    pub pruned: IntCounterVec,
}

impl AuditCounters {
    pub fn new() -> AuditCounters {
        AuditCounters {
            written: IntCounter::with_opts(Opts::new(
                "veil_audit_records_written_total",
                "Decision records written to the store.",
            ))
            .expect("a valid metric"),
            dropped: IntCounter::with_opts(Opts::new(
                "veil_audit_records_dropped_total",
                "Decision records dropped: the audit queue was full or the store refused them.",
            ))
            .expect("a valid metric"),
            queries_recorded: IntCounter::with_opts(Opts::new(
                "veil_query_audit_recorded_total",
                "Completed Trino queries that read governed data, stored in the query audit.",
            ))
            .expect("a valid metric"),
            queries_dropped: IntCounter::with_opts(Opts::new(
                "veil_query_audit_dropped_total",
                "Completed queries the plugins' event listeners dropped because their queue was full.",
            ))
            .expect("a valid metric"),
            pruned: IntCounterVec::new(
                Opts::new(
                    "veil_audit_pruned_rows_total",
                    "Audit rows older than --audit-retention deleted, by table.",
                ),
                &["table"],
            )
            .expect("a valid metric"),
        }
    }
}

impl Default for AuditCounters {
    fn default() -> AuditCounters {
        AuditCounters::new()
    }
}

/// Every metric of one server, in its own registry (so that servers in one process, as in the
/// tests, do not share counts).
pub struct Metrics {
    registry: Registry,
    /// By `Method` and then `Outcome`; `None` for `WatchChanges`, a stream, not a decision.
    decisions: [Option<[Histogram; Outcome::ALL.len()]>; Method::ALL.len()],
    /// By `Cache`.
    hits: [IntCounter; Cache::ALL.len()],
    misses: [IntCounter; Cache::ALL.len()],
    entries: [IntGauge; Cache::ALL.len()],
    commits: Histogram,
    audit_queue: IntGauge,
    subscribers: IntGauge,
    policy_version: IntGauge,
}

impl Metrics {
    pub fn new(audit: &AuditCounters) -> Metrics {
        let registry = Registry::new();
        let register = |collector: Box<dyn prometheus::core::Collector>| {
            registry.register(collector).expect("each metric once");
        };
        let decisions = HistogramVec::new(
            HistogramOpts::new(
                "veil_decision_duration_seconds",
                "Time to answer a query-path call, by method and outcome.",
            )
            .buckets(DECISION_BUCKETS.to_vec()),
            &["method", "outcome"],
        )
        .expect("a valid metric");
        register(Box::new(decisions.clone()));
        let hits = IntCounterVec::new(
            Opts::new(
                "veil_cache_hits_total",
                "Lookups answered from a snapshot cache.",
            ),
            &["cache"],
        )
        .expect("a valid metric");
        register(Box::new(hits.clone()));
        let misses = IntCounterVec::new(
            Opts::new(
                "veil_cache_misses_total",
                "Lookups a snapshot cache could not answer.",
            ),
            &["cache"],
        )
        .expect("a valid metric");
        register(Box::new(misses.clone()));
        let entries = IntGaugeVec::new(
            Opts::new(
                "veil_cache_entries",
                "Entries in the current snapshot's cache.",
            ),
            &["cache"],
        )
        .expect("a valid metric");
        register(Box::new(entries.clone()));
        let commits = Histogram::with_opts(
            HistogramOpts::new(
                "veil_store_commit_duration_seconds",
                "Time to commit a change to the store, failed commits included.",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
        )
        .expect("a valid metric");
        register(Box::new(commits.clone()));
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("a valid metric");
            register(Box::new(gauge.clone()));
            gauge
        };
        let audit_queue = gauge(
            "veil_audit_queue_records",
            "Decision records queued for the audit writer.",
        );
        let subscribers = gauge(
            "veil_change_stream_subscribers",
            "Open WatchChanges streams.",
        );
        let policy_version = gauge("veil_policy_version", "The policy version being served.");
        register(Box::new(audit.written.clone()));
        register(Box::new(audit.dropped.clone()));
        register(Box::new(audit.queries_recorded.clone()));
        register(Box::new(audit.queries_dropped.clone()));
        register(Box::new(audit.pruned.clone()));
        let build = IntGaugeVec::new(
            Opts::new("veil_build_info", "Always 1, labelled with the build."),
            &["version"],
        )
        .expect("a valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        register(Box::new(build));
        let by_cache =
            |vec: &IntCounterVec| Cache::ALL.map(|cache| vec.with_label_values(&[cache.name()]));
        Metrics {
            decisions: Method::ALL.map(|method| {
                (!matches!(method, Method::WatchChanges)).then(|| {
                    Outcome::ALL.map(|outcome| {
                        decisions.with_label_values(&[method.name(), outcome.name()])
                    })
                })
            }),
            hits: by_cache(&hits),
            misses: by_cache(&misses),
            entries: Cache::ALL.map(|cache| entries.with_label_values(&[cache.name()])),
            commits,
            audit_queue,
            subscribers,
            policy_version,
            registry,
        }
    }

    /// Records one answered call: an index into handles made at start, then atomic adds.
    pub fn decided<T>(&self, method: Method, result: &Result<T, Status>, took: Duration) {
        if let Some(by_outcome) = &self.decisions[method as usize] {
            by_outcome[Outcome::of(result) as usize].observe(took.as_secs_f64());
        }
    }

    pub fn hit(&self, cache: Cache) {
        self.hits[cache as usize].inc();
    }

    pub fn miss(&self, cache: Cache) {
        self.misses[cache as usize].inc();
    }

    pub fn committed(&self, took: Duration) {
        self.commits.observe(took.as_secs_f64());
    }
}

impl State {
    /// Every metric in Prometheus's text exposition format, the gauges read off the state now.
    pub fn metrics_text(&self) -> String {
        let metrics = &self.metrics;
        let snapshot = self.current();
        for (cache, length) in [
            (Cache::Views, snapshot.views.len()),
            (Cache::Answers, snapshot.answers.len()),
            (Cache::Accesses, snapshot.accesses.len()),
        ] {
            metrics.entries[cache as usize].set(length as i64);
        }
        metrics.policy_version.set(snapshot.version as i64);
        metrics.subscribers.set(self.subscribers() as i64);
        metrics.audit_queue.set(self.audit.queued() as i64);
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&metrics.registry.gather(), &mut text)
            .expect("the text encoder writes to memory");
        String::from_utf8(text).expect("the text exposition is UTF-8")
    }
}

/// Serves `GET /metrics` on `listener` (plain HTTP) until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::extract::State as Shared;
    use axum::http::header::CONTENT_TYPE;
    let address = listener.local_addr()?;
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|Shared(state): Shared<Arc<State>>| async move {
                (
                    [(CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                    state.metrics_text(),
                )
            }),
        )
        .with_state(state);
    tracing::info!(%address, "veil serving metrics on /metrics");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
