//! The decision audit: every `GetViewDefinition` answer is queued without waiting, and a
//! background task writes them to the store in batches. A full queue drops records and counts
//! them; the count is logged and returned by `ListDecisions`, never silently lost. When the
//! server stops, [`Audit::finish`] writes what is still queued.
//!
//! The same writer thread applies the retention (`--audit-retention`): between batches it
//! deletes audit rows older than the retention, a few thousand at a time, so that the store's
//! write lock is never held long and answers (which never wait for the store) are untouched.
//! Every record written also goes to the audit log (`--audit-log`) when there is one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use veil_store::{DecisionRecord, PolicyNames, QueryRecord, RevealEvent, Store};

use crate::audit_log::AuditLog;
use crate::metrics::AuditCounters;

/// How long audit rows are kept, and where else records are written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// `None`: kept forever.
    pub retention: Option<Duration>,
    /// `-` for standard output, else a file appended to.
    pub log: Option<String>,
}

/// Thirty days: the default of `--audit-retention`.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions {
            retention: Some(DEFAULT_RETENTION),
            log: None,
        }
    }
}

/// `--audit-retention`: a duration such as `30d`, `12h` or `90days`, or `forever`.
pub fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "forever" {
        return Ok(None);
    }
    match humantime::parse_duration(text.trim()) {
        Ok(duration) if duration >= Duration::from_secs(60) => Ok(Some(duration)),
        Ok(_) => Err(format!(
            "`{text}` is shorter than a minute; say `forever` to keep audit records"
        )),
        Err(error) => Err(format!(
            "`{text}` is not a duration (`30d`, `12h`) or `forever`: {error}"
        )),
    }
}

/// A decision record as it is queued, as cheap as it can be: the strings are the request's
/// own, the policy names are shared with the cached view.
pub struct PendingDecisionRecord {
    pub at_millis: i64,
    pub user: String,
    pub project: String,
    pub query_id: String,
    pub schema: String,
    pub table: String,
    pub version: u64,
    /// `None`: refused.
    pub policies: Option<PolicyNames>,
    pub latency_micros: u64,
}

pub struct Audit {
    queue: Option<mpsc::Sender<PendingDecisionRecord>>,
    /// Records written and dropped, shared with the writer.
    counters: AuditCounters,
    /// Tells the writer to write what is queued and stop.
    stop: Arc<Notify>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    log: Option<Arc<AuditLog>>,
}

const QUEUE: usize = 65_536;
const BATCH: usize = 5_000;

impl Audit {
    pub fn disabled() -> Audit {
        Audit {
            queue: None,
            counters: AuditCounters::new(),
            stop: Arc::new(Notify::new()),
            writer: Mutex::new(None),
            log: None,
        }
    }

    /// Starts the writer: its own thread, below the answering threads' priority, with its own
    /// connection to the store at `store_url`.
    pub fn start(store_url: &str, options: &AuditOptions) -> std::io::Result<Audit> {
        let log = match &options.log {
            Some(target) => Some(Arc::new(AuditLog::open(target)?)),
            None => None,
        };
        let writer_log = log.clone();
        let retention = options.retention;
        let (queue, entries) = mpsc::channel::<PendingDecisionRecord>(QUEUE);
        let counters = AuditCounters::new();
        let reported = counters.clone();
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        let store_url = store_url.to_owned();
        let writer = std::thread::Builder::new()
            .name("veil-audit".into())
            .spawn(move || {
                // Answers come first: this thread (and the SQLite connection thread it starts)
                // yields the cores to them whenever they have work.
                if let Err(error) = lower_priority() {
                    tracing::warn!(%error, "could not lower the audit writer's priority");
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a single-threaded runtime builds");
                runtime.block_on(write(
                    store_url, entries, reported, stopped, retention, writer_log,
                ));
            })?;
        Ok(Audit {
            queue: Some(queue),
            counters,
            stop,
            writer: Mutex::new(Some(writer)),
            log,
        })
    }

    /// Writes every queued record and stops the writer, waiting at most `patience`. Answers
    /// recorded afterwards are counted as dropped.
    pub async fn finish(&self, patience: Duration) {
        let Some(writer) = self.writer.lock().expect("not poisoned").take() else {
            return;
        };
        self.stop.notify_one();
        let joined = tokio::task::spawn_blocking(move || writer.join());
        match tokio::time::timeout(patience, joined).await {
            Ok(Ok(Ok(()))) => tracing::info!("decision audit written"),
            Ok(_) => {
                tracing::error!("the decision audit writer failed; records still queued are lost")
            }
            Err(_) => tracing::warn!(
                "the decision audit writer did not finish within {patience:?}; records still queued are lost"
            ),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues an entry without waiting; a full queue counts a drop.
    pub fn record(&self, entry: PendingDecisionRecord) {
        if let Some(queue) = &self.queue
            && queue.try_send(entry).is_err()
        {
            self.counters.dropped.inc();
        }
    }

    pub fn dropped(&self) -> u64 {
        self.counters.dropped.get()
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.queue
            .as_ref()
            .map_or(0, |queue| queue.max_capacity() - queue.capacity())
    }

    pub fn counters(&self) -> &AuditCounters {
        &self.counters
    }

    /// Stores completed queries (the plugin's event listener waits for this) and writes them
    /// to the audit log. `dropped` is what the plugin says it dropped since its last batch.
    pub async fn record_queries(
        &self,
        store: &Store,
        records: &[QueryRecord],
        dropped: u64,
    ) -> Result<(), veil_store::StoreError> {
        self.counters.queries_dropped.inc_by(dropped);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "a plugin dropped completed queries from the query audit (its queue was full)"
            );
        }
        store.record_queries(records).await?;
        self.counters.queries_recorded.inc_by(records.len() as u64);
        if let Some(log) = &self.log {
            log.queries(records);
        }
        Ok(())
    }

    /// Stores reveal events (authorizations and counts; a reveal waits for this) and writes
    /// them to the audit log.
    pub async fn record_reveals(
        &self,
        store: &Store,
        events: &[RevealEvent],
    ) -> Result<(), veil_store::StoreError> {
        store.record_reveals(events).await?;
        if let Some(log) = &self.log {
            log.reveals(events);
        }
        Ok(())
    }
}

/// The nice value of the audit writer's thread (0 is the default; higher yields more).
const NICE: i32 = 5;

fn lower_priority() -> std::io::Result<()> {
    let thread = rustix::thread::gettid();
    rustix::process::setpriority_process(Some(thread), NICE).map_err(std::io::Error::from)
}

/// Writes queued entries in batches until every sender is gone or `stop` is notified; then
/// writes what is queued and returns. Records that cannot be written are counted as dropped.
async fn write(
    store_url: String,
    mut entries: mpsc::Receiver<PendingDecisionRecord>,
    counters: AuditCounters,
    stop: Arc<Notify>,
    retention: Option<Duration>,
    log: Option<Arc<AuditLog>>,
) {
    let store = match Store::open(&store_url).await {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::error!(%error, "the audit writer cannot open the store; decision records are dropped");
            None
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_reported = 0;
    // The first drops are reported at once.
    let mut last_report = std::time::Instant::now() - Duration::from_secs(10);
    let mut stopping = false;
    // The first pruning soon after start, then once a minute, or at once again while rows
    // older than the retention remain.
    let mut next_prune = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        if !stopping {
            tokio::select! {
                received = entries.recv_many(&mut batch, BATCH) => if received == 0 { break },
                () = stop.notified() => stopping = true,
                () = tokio::time::sleep_until(next_prune), if retention.is_some() && store.is_some() => {
                    let (Some(store), Some(retention)) = (&store, retention) else { continue };
                    let more = prune(store, retention, &counters).await;
                    next_prune = tokio::time::Instant::now()
                        + if more { PRUNE_PAUSE } else { Duration::from_secs(60) };
                    continue;
                }
            }
        }
        if stopping {
            // Whatever is queued now is written; later answers find no reader and count as
            // dropped.
            entries.close();
            while let Ok(entry) = entries.try_recv() {
                batch.push(entry);
            }
        }
        let records: Vec<DecisionRecord> = batch.drain(..).map(record).collect();
        let written = match &store {
            Some(store) => write_with_retries(store, &records).await,
            None => Ok(()),
        };
        if store.is_none() || written.is_err() {
            counters.dropped.inc_by(records.len() as u64);
        } else {
            counters.written.inc_by(records.len() as u64);
        }
        if let Some(log) = &log {
            log.decisions(&records);
        }
        if let Err(error) = written {
            tracing::error!(%error, lost = records.len(), "writing decision records failed");
        }
        // At most one warning every ten seconds, however many records are dropped.
        let now = counters.dropped.get();
        if now != last_reported && last_report.elapsed() >= Duration::from_secs(10) {
            tracing::warn!(
                dropped = now,
                "decision records dropped so far (audit queue full or store failing)"
            );
            last_reported = now;
            last_report = std::time::Instant::now();
        }
        if stopping {
            break;
        }
        // Let a burst gather into the next batch instead of one write per record; a stop cuts
        // the wait short.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = stop.notified() => stopping = true,
        }
    }
}

/// Between two pruning statements while a backlog remains: time for the queue's records.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

/// Deletes one batch of audit rows older than `retention` from each audit table; whether rows
/// may remain.
async fn prune(store: &Store, retention: Duration, counters: &AuditCounters) -> bool {
    let before = veil_store::now_millis() - retention.as_millis() as i64;
    match store.prune_audit_batch(before).await {
        Ok(pruned) => {
            for (table, rows) in &pruned {
                counters.pruned.with_label_values(&[table]).inc_by(*rows);
            }
            // Anything deleted: look again soon, until a round deletes nothing.
            pruned.iter().any(|(_, rows)| *rows > 0)
        }
        Err(error) => {
            tracing::warn!(%error, "pruning the audit failed; trying again in a minute");
            false
        }
    }
}

/// A store that is busy (a large commit holds SQLite's write lock) or briefly away gets three
/// more tries, a second apart, while new entries wait in the queue.
async fn write_with_retries(
    store: &Store,
    records: &[DecisionRecord],
) -> Result<(), veil_store::StoreError> {
    let mut tries = 0;
    loop {
        match store.record_decisions(records).await {
            Ok(()) => return Ok(()),
            Err(error) if tries == 3 => return Err(error),
            Err(error) => {
                tries += 1;
                tracing::warn!(%error, tries, "writing decision records failed; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn record(entry: PendingDecisionRecord) -> DecisionRecord {
    DecisionRecord {
        at_millis: entry.at_millis,
        user: entry.user,
        project: entry.project,
        data_source: format!("{}.{}", entry.schema, entry.table),
        allowed: entry.policies.is_some(),
        policies: entry.policies.unwrap_or_else(PolicyNames::none),
        version: entry.version,
        latency_micros: entry.latency_micros,
        query_id: entry.query_id,
    }
}
