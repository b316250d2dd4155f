//! A policy snapshot: one policy version, immutable once published, with the compiled views
//! and answers cached inside it. The decision path reads it without locks.

use dashmap::DashMap;
use veil_compiler::{Compiler, Fact};
use veil_policy::Decision;
use veil_proto::EncodedView;
use veil_proto::v1::{GetTableAccessResponse, GetViewDefinitionRequest};
use veil_store::PolicyNames;

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
    /// Native enforcement's answers, compiled from the same decisions as `views`.
    pub accesses: DashMap<ViewKey, (GetTableAccessResponse, PolicyNames), ahash::RandomState>,
}

impl Snapshot {
    pub(crate) fn new(version: u64, compiler: Compiler) -> Snapshot {
        Snapshot {
            version,
            compiler,
            views: DashMap::default(),
            answers: DashMap::default(),
            accesses: DashMap::default(),
        }
    }

    /// The hash `answers` is keyed by: the question, not the query id.
    pub fn request_hash(&self, request: &GetViewDefinitionRequest) -> u64 {
        let identity = request.identity.as_ref();
        self.answers.hasher().hash_one((
            identity.map(|identity| (&identity.user, &identity.groups, &identity.project)),
            &request.schema,
            &request.table,
        ))
    }
}

/// Whether two requests ask the same question: all but the query id, which only the audit reads
/// (every Trino query has its own).
pub fn same_question(asked: &GetViewDefinitionRequest, request: &GetViewDefinitionRequest) -> bool {
    fn identity(request: &GetViewDefinitionRequest) -> Option<(&String, &Vec<String>, &String)> {
        request
            .identity
            .as_ref()
            .map(|identity| (&identity.user, &identity.groups, &identity.project))
    }
    asked.schema == request.schema
        && asked.table == request.table
        && identity(asked) == identity(request)
}
