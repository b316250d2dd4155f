//! Policy snapshots and the live state. The decision path reads an immutable [`Snapshot`]
//! through an `ArcSwap`, so a change never blocks a reader; compiled views are cached inside the
//! snapshot they came from. Writers take turns on one lock and publish whole new snapshots.

use std::sync::Arc;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use tokio::sync::{Mutex, broadcast};
use veil_compiler::{Compiler, Fact};
use veil_policy::Decision;
use veil_proto::EncodedView;
use veil_proto::v1::{ChangeEvent, GetViewDefinitionRequest};
use veil_store::{PolicyNames, Store};

use crate::audit::Audit;
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

/// A compiled view, encoded once for the wire, with the names of the policies that shaped it
/// (what the audit records of every answer it serves).
#[derive(Clone)]
pub struct CachedView {
    pub answer: EncodedView,
    pub policies: PolicyNames,
}

/// One policy version, immutable once published.
pub struct Snapshot {
    pub version: u64,
    pub compiler: Compiler,
    pub views: DashMap<ViewKey, CachedView, ahash::RandomState>,
    /// The answers given in this version, by a hash of the request that asked. A request seen
    /// before is answered without resolving the user, deciding or keying again; the entry keeps
    /// the request, and only an equal one is answered from it.
    pub answers: DashMap<u64, (GetViewDefinitionRequest, CachedView), ahash::RandomState>,
}

impl Snapshot {
    fn new(version: u64, compiler: Compiler) -> Snapshot {
        Snapshot {
            version,
            compiler,
            views: DashMap::default(),
            answers: DashMap::default(),
        }
    }

    /// The hash `answers` is keyed by.
    pub fn request_hash(&self, request: &GetViewDefinitionRequest) -> u64 {
        let identity = request.identity.as_ref();
        self.answers.hasher().hash_one((
            identity.map(|identity| (&identity.user, &identity.groups, &identity.project)),
            &request.schema,
            &request.table,
        ))
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
        State {
            current: ArcSwap::from_pointee(Snapshot::new(version, compiler)),
            settings,
            changes,
            functions_catalog,
            store,
            writer: Mutex::new(()),
            audit,
            webhooks,
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
        self.current
            .store(Arc::new(Snapshot::new(event.policy_version, compiler)));
        let _ = self.changes.send(event);
    }

    /// Publishes `compiler` as the next version, affecting everything (a file reload).
    pub fn publish_all(&self, compiler: Compiler) -> u64 {
        let version = next_version(self.current.load().version);
        self.publish(
            compiler,
            ChangeEvent {
                policy_version: version,
                data_sources: Vec::new(),
                users: Vec::new(),
                everything: true,
            },
        );
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
