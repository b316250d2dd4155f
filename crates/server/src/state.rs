//! The live state: the current [`Snapshot`] behind an `ArcSwap` (so a change never blocks a
//! reader), the server settings, the store, the audit and the change stream. Writers take turns
//! on one lock and publish whole new snapshots (see `write.rs`).

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, broadcast};
use veil_compiler::Compiler;
use veil_proto::v1::ChangeEvent;
use veil_store::Store;

use crate::audit::Audit;
use crate::audit::AuditOptions;
use crate::calls::Calls;
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::webhook::Webhooks;

/// Server settings that are not part of the policy bundle.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Merge the groups Trino sends into the user's groups.
    pub trust_trino_groups: bool,
    /// The run-as owner returned with every view (empty: the plugin's configured one).
    pub view_owner: String,
    /// Upper bound on cached compiled views, and on remembered answers, per snapshot.
    pub cache_capacity: usize,
    /// Audit retention and the audit log.
    pub audit: AuditOptions,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            trust_trino_groups: false,
            view_owner: String::new(),
            cache_capacity: 200_000,
            audit: AuditOptions::default(),
        }
    }
}

/// The live state: the current snapshot, the settings, the store and the change stream.
pub struct State {
    current: ArcSwap<Snapshot>,
    pub settings: Settings,
    changes: broadcast::Sender<ChangeEvent>,
    /// The catalog every compiler of this state names in keyed mask function calls.
    pub(crate) functions_catalog: String,
    pub(crate) store: Option<Store>,
    /// Held by whoever prepares and commits a change, so changes apply one at a time.
    pub(crate) writer: Mutex<()>,
    pub audit: Audit,
    pub(crate) webhooks: Webhooks,
    /// The query-path calls answered since the start.
    pub calls: Calls,
    /// What `GET /metrics` reports.
    pub metrics: Metrics,
}

impl State {
    /// A state without a store or audit (tests, benchmarks): starts at `version`.
    pub fn new(compiler: Compiler, settings: Settings, version: u64) -> State {
        let functions_catalog = compiler.functions_catalog().to_owned();
        State::build(
            compiler,
            settings,
            version,
            functions_catalog,
            None,
            Audit::disabled(),
            Webhooks::none(),
        )
    }

    pub(crate) fn build(
        compiler: Compiler,
        settings: Settings,
        version: u64,
        functions_catalog: String,
        store: Option<Store>,
        audit: Audit,
        webhooks: Webhooks,
    ) -> State {
        let (changes, _) = broadcast::channel(1024);
        let metrics = Metrics::new(audit.counters());
        State {
            current: ArcSwap::from_pointee(Snapshot::new(version, compiler)),
            settings,
            changes,
            functions_catalog,
            store,
            writer: Mutex::new(()),
            audit,
            webhooks,
            calls: Calls::default(),
            metrics,
        }
    }

    /// The catalog whose Veil connector provides the keyed mask functions.
    pub fn functions_catalog(&self) -> &str {
        &self.functions_catalog
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes a new policy version and tells every watcher what it may affect.
    pub fn publish(&self, compiler: Compiler, event: ChangeEvent) {
        let previous = self
            .current
            .swap(Arc::new(Snapshot::new(event.policy_version, compiler)));
        let _ = self.changes.send(event);
        // The previous snapshot's caches can hold hundreds of thousands of entries: freeing them
        // is no work for the writer, which answers the change (nor for a request that held it).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(previous))),
            Err(_) => drop(previous),
        }
    }

    /// Publishes `compiler` as the next version, affecting everything (a file reload).
    pub fn publish_all(&self, compiler: Compiler) -> u64 {
        let version = next_version(self.current.load().version);
        self.publish(compiler, crate::convert::everything_changed(version));
        version
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }

    /// How many receivers of the change stream are open: one per `WatchChanges` stream.
    pub fn subscribers(&self) -> usize {
        self.changes.receiver_count()
    }
}

/// A version above `previous`: the current time in milliseconds when the clock allows, so that
/// versions also increase across restarts.
pub fn next_version(previous: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    now.max(previous + 1)
}
