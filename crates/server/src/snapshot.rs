//! Policy snapshots: the decision path reads an immutable [`Snapshot`] through an `ArcSwap`, so a
//! reload never blocks a reader; compiled views are cached inside the snapshot they came from.

use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use tokio::sync::broadcast;
use veil_compiler::{Compiler, Fact};
use veil_policy::Decision;
use veil_proto::v1::{ChangeEvent, GetViewDefinitionResponse};

/// Server settings that are not part of the policy bundle.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Merge the groups Trino sends into the user's groups.
    pub trust_trino_groups: bool,
    /// The run-as owner returned with every view (empty: the plugin's configured one).
    pub view_owner: String,
    /// Upper bound on cached compiled views per snapshot.
    pub cache_capacity: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            trust_trino_groups: false,
            view_owner: String::new(),
            cache_capacity: 200_000,
        }
    }
}

/// What a compiled view is cached under: the decision and the user facts its SQL depends on.
/// The policy version is implied: each snapshot has its own cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub decision: Decision,
    pub facts: Vec<Fact>,
}

/// One policy version, immutable once published.
pub struct Snapshot {
    pub version: u64,
    pub compiler: Compiler,
    pub views: DashMap<ViewKey, Arc<GetViewDefinitionResponse>>,
}

/// The live state: the current snapshot, the settings and the change stream.
pub struct State {
    current: ArcSwap<Snapshot>,
    pub settings: Settings,
    changes: broadcast::Sender<ChangeEvent>,
}

impl State {
    /// Starts at `version`: a store's persisted version, or for a policy file the start time in
    /// milliseconds, so versions keep increasing across restarts and a plugin that reconnects
    /// with an older version always gets its catch-up event.
    pub fn new(compiler: Compiler, settings: Settings, version: u64) -> State {
        let (changes, _) = broadcast::channel(1024);
        State {
            current: ArcSwap::from_pointee(Snapshot {
                version,
                compiler,
                views: DashMap::new(),
            }),
            settings,
            changes,
        }
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes a new policy version and tells every watcher.
    pub fn publish(&self, compiler: Compiler) -> u64 {
        let version = next_version(self.current.load().version);
        self.current.store(Arc::new(Snapshot {
            version,
            compiler,
            views: DashMap::new(),
        }));
        let _ = self.changes.send(ChangeEvent {
            policy_version: version,
            data_sources: Vec::new(),
            users: Vec::new(),
            everything: true,
        });
        version
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
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
