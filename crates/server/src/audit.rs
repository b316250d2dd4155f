//! The decision audit: every `GetViewDefinition` answer is queued without waiting, and a
//! background task writes them to the store in batches. A full queue drops records and counts
//! them; the count is logged and returned by `ListDecisions`, never silently lost. When the
//! server stops, [`Audit::finish`] writes what is still queued.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use veil_store::{DecisionRecord, PolicyNames, Store};

use crate::metrics::AuditCounters;

/// A decision record as it is queued, as cheap as it can be: the strings are the request's
/// own, the policy names are shared with the cached view.
pub struct PendingDecisionRecord {
    pub at_millis: i64,
    pub user: String,
    pub project: String,
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
        }
    }

    /// Starts the writer: its own thread, below the answering threads' priority, with its own
    /// connection to the store at `store_url`.
    pub fn start(store_url: &str) -> std::io::Result<Audit> {
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
                runtime.block_on(write(store_url, entries, reported, stopped));
            })?;
        Ok(Audit {
            queue: Some(queue),
            counters,
            stop,
            writer: Mutex::new(Some(writer)),
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

    pub(crate) fn counters(&self) -> &AuditCounters {
        &self.counters
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
    loop {
        if !stopping {
            tokio::select! {
                received = entries.recv_many(&mut batch, BATCH) => if received == 0 { break },
                () = stop.notified() => stopping = true,
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
    }
}
